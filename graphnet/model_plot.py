"""``gn.utils.model_to_dot`` / ``plot_model``: Keras 3's picture of a model, written as DOT
text by graphnet itself (no pydot); PNG, SVG, PDF, ... are drawn by Graphviz's ``dot``
program when it is on PATH.

The labels are Keras's HTML tables (name and class, activation, input / output shapes,
output dtype, trainable), the graph attributes Keras's (``rankdir``, ``dpi``,
``splines``, ``concentrate``), nested models a dashed cluster with ``expand_nested``.
"""
import html
import os
import shutil
import subprocess

from .engine.input_layer import InputLayer

TEXT_FORMATS = ("dot", "gv")


class DotGraph:
    """A model's DOT graph (the part of ``pydot.Dot`` that Keras users call)."""

    def __init__(self, text):
        self.text = text

    def to_string(self):
        return self.text

    def __str__(self):
        return self.text

    def create(self, prog="dot", format="png"):
        """The graph drawn by Graphviz's ``prog`` in ``format``, as bytes."""
        if format in TEXT_FORMATS:
            return self.text.encode()
        program = shutil.which(prog)
        if program is None:
            raise ImportError(f"You must install graphviz (its `{prog}` program, see "
                              "https://graphviz.gitlab.io/download/) to draw a model as "
                              f"{format!r}; without it, write the DOT text (to_file="
                              "'model.dot') or use model_to_dot(model).to_string()")
        done = subprocess.run([program, f"-T{format}"], input=self.text.encode(),
                              capture_output=True, check=False)
        if done.returncode:
            raise RuntimeError(f"graphviz `{prog} -T{format}` failed: "
                               f"{done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def write(self, path, format="png", prog="dot"):
        drawn = self.create(prog, format)   # first: a failure leaves no empty file
        with open(path, "wb") as f:
            f.write(drawn)


def _is_graph_model(layer):
    """A Functional or Sequential model (one whose layer graph can be drawn)."""
    return hasattr(layer, "_calls_in_order") and not getattr(layer, "_is_subclassed", True)


def _is_sequential(model):
    from .engine.sequential import Sequential
    return isinstance(model, Sequential)


def _drawn_layers(model):
    """The layers drawn as nodes: Keras leaves a Sequential model's InputLayer out."""
    if _is_sequential(model):
        return [layer for layer in model._layers if not isinstance(layer, InputLayer)]
    return list(model._layers)


def _shape_text(tensors, as_list):
    shapes = [str(tuple(t.shape)) for t in tensors]
    return f"[{', '.join(shapes)}]" if as_list or len(shapes) > 1 else shapes[0]


def _activation_name(activation):
    return getattr(activation, "name", None) or getattr(activation, "__name__", None) or \
        str(activation)


def _label(layer, show_layer_names, show_layer_activations, show_dtype, show_shapes,
           show_trainable):
    """Keras's HTML-like table for one layer."""
    from .engine.serialize import _class_name
    class_name = _class_name(layer)
    cols = []
    only_call = layer._calls[0] if len(layer._calls) == 1 else None  # a shared layer: "?"
    if show_shapes:
        if class_name != "InputLayer":
            shape = _shape_text(only_call.inputs, only_call.list_input) if only_call else "?"
            cols.append(f'<td bgcolor="white"><font point-size="14">Input shape: '
                        f"<b>{shape}</b></font></td>")
        shape = _shape_text(only_call.outputs, False) if only_call else "?"
        cols.append(f'<td bgcolor="white"><font point-size="14">Output shape: '
                    f"<b>{shape}</b></font></td>")
    if show_dtype:
        dtypes = [str(t.dtype) for t in only_call.outputs] if only_call else ["?"]
        dtype = dtypes[0] if len(dtypes) == 1 else f"[{', '.join(dtypes)}]"
        cols.append(f'<td bgcolor="white"><font point-size="14">Output dtype: '
                    f"<b>{dtype}</b></font></td>")
    if show_trainable and layer.weights:
        colour, text = ("forestgreen", "Trainable") if layer.trainable else \
            ("firebrick", "Non-trainable")
        cols.append(f'<td bgcolor="{colour}"><font point-size="14" color="white">'
                    f"<b>{text}</b></font></td>")
    # Keras's span counts the columns the options ask for, not those this layer shows
    colspan = max(1, int(show_dtype) + int(show_trainable) + 2 * int(show_shapes))
    title = f"<b>{html.escape(layer.name)}</b> ({class_name})" if show_layer_names else \
        f"<b>{class_name}</b>"
    table = ['<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">',
             f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" '
             f'color="white">{title}</font></td></tr>']
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table.append(f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                     f"Activation: <b>{html.escape(_activation_name(layer.activation))}</b>"
                     "</font></td></tr>")
    if cols:
        table.append(f"<tr>{''.join(cols)}</tr>")
    return "".join(table) + "</table>>"


class _Writer:
    """Accumulates node and edge statements, naming each layer ``L0``, ``L1``, ..."""

    def __init__(self, options, expand_nested):
        self.options = options
        self.expand_nested = expand_nested
        self.ids = {}
        self.edges = []

    def node_id(self, layer):
        return self.ids.setdefault(id(layer), f"L{len(self.ids)}")

    def node_line(self, layer, indent):
        return (f"{indent}{self.node_id(layer)} [label={_label(layer, **self.options)}, "
                "fontname=Helvetica, border=0, margin=0];")

    def add_edge(self, source, destination):
        edge = (self.node_id(source), self.node_id(destination))
        if edge not in self.edges:
            self.edges.append(edge)

    def expands(self, layer):
        return self.expand_nested and _is_graph_model(layer)

    def exit_layer(self, layer, index):
        """The innermost layer producing output ``index`` of a (nested) layer."""
        while self.expands(layer):
            layer, index = layer.outputs[index].history[0].layer, layer.outputs[index].history[1]
        return layer

    def entry_layer(self, layer, index):
        """The innermost layer reading input ``index`` of a (nested) layer."""
        while self.expands(layer):
            if _is_sequential(layer):
                layer, index = _drawn_layers(layer)[0], 0
            else:
                layer = layer.inputs[index].history[0].layer
        return layer

    def model_lines(self, model, indent):
        """The statements of ``model``'s nodes (clusters for expanded nested models) and
        its edges, added to ``self.edges``."""
        lines = []
        drawn = _drawn_layers(model)
        for layer in drawn:
            if self.expands(layer):
                lines.append(f"{indent}subgraph cluster_{self.node_id(layer)} {{")
                lines.append(f"{indent}  style=dashed; label={_quote(layer.name)}; "
                             "labeljust=l;")
                lines.extend(self.model_lines(layer, indent + "  "))
                lines.append(f"{indent}}}")
            else:
                lines.append(self.node_line(layer, indent))
        kept = {id(layer) for layer in drawn}
        mine = {id(call) for call in model._calls_in_order}
        for layer in drawn:
            for call in layer._calls:
                if id(call) not in mine:
                    continue
                for position, tensor in enumerate(call.inputs):
                    source_call, index = tensor.history
                    if id(source_call.layer) in kept:
                        self.add_edge(self.exit_layer(source_call.layer, index),
                                      self.entry_layer(layer, position))
        return lines


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


RANKDIRS = ("TB", "LR", "BT", "RL")


def _check(model, rankdir, kwargs, what):
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError(f"{what}: argument `layer_range` is no longer supported (as in "
                         "Keras 3)")
    if kwargs:
        raise ValueError(f"{what}: unrecognized keyword arguments: {sorted(kwargs)}")
    if not getattr(model, "built", False):
        raise ValueError(f"{what}: model {model.name!r} has not yet been built. Build it "
                         "first by calling `build()` or by calling it on a batch of data")
    if rankdir not in RANKDIRS:
        raise ValueError(f"{what}: rankdir must be one of {RANKDIRS}, got {rankdir!r}")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, splines="ortho",
                 **kwargs):
    """The DOT graph of a model (as ``keras.utils.model_to_dot``, written without pydot).

    Args:
        model: a built graphnet model (a subclassed model is drawn as one node, its
            shapes "?" until it is called).
        show_shapes: show each layer's input and output shapes.
        show_dtype: show each layer's output dtype.
        show_layer_names: show each layer's name beside its class.
        rankdir: "TB" (top to bottom), "LR" (left to right), "BT" or "RL".
        expand_nested: draw nested Functional / Sequential models as dashed clusters of
            their layers.
        dpi: the image resolution Graphviz draws at.
        subgraph: return the graph as a cluster, for embedding in another graph.
        show_layer_activations: show the activation of layers that have one.
        show_trainable: mark layers with weights as trainable or not.
        splines: how Graphviz draws edges ("ortho", "curved", "polyline", "spline",
            "line").

    Returns:
        A ``DotGraph``: ``to_string()`` is the DOT text, ``create(format="png")`` the
        picture drawn by Graphviz.
    """
    _check(model, rankdir, kwargs, "model_to_dot")
    options = {"show_layer_names": show_layer_names,
               "show_layer_activations": show_layer_activations, "show_dtype": show_dtype,
               "show_shapes": show_shapes, "show_trainable": show_trainable}
    writer = _Writer(options, expand_nested)
    if _is_graph_model(model):
        body = writer.model_lines(model, "  ")
    else:
        body = [writer.node_line(model, "  ")]
    body += [f"  {a} -> {b} [penwidth=2];" for a, b in writer.edges]
    if subgraph:
        head = [f"subgraph {_quote('cluster_' + model.name)} {{",
                f"  style=dashed; label={_quote(model.name)}; labeljust=l;"]
    else:
        head = ["digraph G {", f"  rankdir={rankdir};", "  concentrate=true;",
                f"  dpi={dpi};", f"  splines={splines};", "  node [shape=record];"]
    return DotGraph("\n".join(head + body + ["}"]) + "\n")


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draws a model into ``to_file`` (as ``keras.utils.plot_model``): its extension
    names the format (none: PNG); ``.dot`` / ``.gv`` write the DOT text itself, any other
    format needs Graphviz's ``dot`` program (an ImportError says so when it is missing).
    The other arguments are ``model_to_dot``'s. Returns, where IPython is installed, an
    ``IPython.display.Image`` of a PNG, JPEG or GIF (``SVG`` of an SVG), else None."""
    _check(model, rankdir, dict(kwargs), "plot_model")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines, **kwargs)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension not in ("png", "jpg", "jpeg", "gif", "svg"):
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    if extension == "svg":
        return display.SVG(filename=to_file)
    return display.Image(filename=to_file, format="jpeg" if extension == "jpg" else extension)


__all__ = ["model_to_dot", "plot_model", "DotGraph"]
