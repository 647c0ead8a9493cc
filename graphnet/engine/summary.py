"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""
import textwrap

import numpy as np

from .input_layer import InputLayer


def readable_size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024


def _count(weights):
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _bytes(weights):
    return int(sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in weights))


def _shape_text(shapes):
    texts = ["(" + ", ".join(str(d) for d in s) + ")" for s in shapes]  # Keras's: "(None)"
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _rows(model, connected):
    """(name (type), output shape, params, connected-to) for each layer call in the model."""
    rows = []
    position = {id(layer): i for i, layer in enumerate(model._layers)}  # Keras's operations
    for call in sorted(model._calls_in_order, key=lambda c: position[id(c.layer)]):
        layer = call.layer
        if isinstance(layer, InputLayer) and not connected:
            continue
        sources = []
        for t in call.inputs:
            src_call, index = t.history
            node_index = src_call.layer._calls.index(src_call)
            sources.append(f"{src_call.layer.name}[{node_index}][{index}]")
        params = layer.count_params() if layer.built else 0
        kind = getattr(layer, "summary_class_name", type(layer).__name__)  # op layers: Keras's
        rows.append((f"{layer.name} ({kind})", _shape_text([t.shape for t in call.outputs]),
                     f"{params:,}", ", ".join(sources) or "-"))
    return rows


def _tracked_rows(model):
    """(name (type), output shape, params) for each layer a subclassed model tracks: the
    shapes of its latest call (``?`` when never called), as Keras 3 lists them."""
    rows = []
    for layer in model.layers:
        shape = _shape_text([t.shape for t in layer._calls[-1].outputs]) if layer._calls \
            else "?"
        params = layer.count_params() if layer.built else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, f"{params:,}"))
    return rows


def _box(widths, left, mid, right, fill):
    return left + mid.join(fill * w for w in widths) + right


def print_summary(model, line_length=None, positions=None, print_fn=None, show_trainable=False):
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not yet been built. Build the model first "
                         "by calling `build()` or by calling the model on a batch of data.")
    print_fn = print_fn or print
    from .sequential import Sequential
    subclassed = getattr(model, "_is_subclassed", False)
    connected = not isinstance(model, Sequential) and not subclassed
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    line_length = line_length or (98 if connected else 79)
    positions = positions or ([0.3, 0.6, 0.73, 1.0] if connected else [0.42, 0.78, 1.0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    widths = [positions[0] - 3] + [positions[i] - positions[i - 1] - 3
                                   for i in range(1, len(positions))]
    rows = _tracked_rows(model) if subclassed else _rows(model, connected)

    def line(cells, bar="│", align_right=(2,)):
        wrapped = [textwrap.wrap(c, w, break_on_hyphens=False) or [""]
                   for c, w in zip(cells, widths)]
        out = []
        for k in range(max(len(w) for w in wrapped)):
            parts = []
            for i, (w, text) in enumerate(zip(widths, wrapped)):
                piece = text[k] if k < len(text) else ""
                parts.append(piece.rjust(w) if i in align_right else piece.ljust(w))
            out.append(bar + " " + f" {bar} ".join(parts) + " " + bar)
        return out

    out = [f'Model: "{model.name}"', _box([w + 2 for w in widths], "┏", "┳", "┓", "━")]
    out += line(headers, bar="┃")
    out.append(_box([w + 2 for w in widths], "┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        out += line(row)
        if i < len(rows) - 1:
            out.append(_box([w + 2 for w in widths], "├", "┼", "┤", "─"))
    out.append(_box([w + 2 for w in widths], "└", "┴", "┘", "─"))
    trainable, non_trainable = model.trainable_weights, model.non_trainable_weights
    total = trainable + non_trainable
    out.append(f" Total params: {_count(total):,} ({readable_size(_bytes(total))})")
    out.append(f" Trainable params: {_count(trainable):,} ({readable_size(_bytes(trainable))})")
    out.append(f" Non-trainable params: {_count(non_trainable):,} "
               f"({readable_size(_bytes(non_trainable))})")
    for text in out:
        print_fn(text)
