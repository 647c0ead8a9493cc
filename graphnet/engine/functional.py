"""Functional: a model as a graph of layer calls from ``gn.Input`` tensors to outputs.

Its computation is the op graph the layers emitted; the layer calls (found by
walking ``history`` back from the outputs) give its layers, summary and config.
Calling it on new tensors clones the op graph onto them (weights shared).
"""
from ..graph.graph import topological_order
from ..graph.tensor import SymbolicTensor
from ..graph.trace import current_trace
from ..ops.phase import resolve_phase
from .added_losses import graph_losses
from .base_layer import Layer
from .input_layer import InputLayer
from .op_layer import is_op_layer
from .layer_call import flatten, pack_like
from .masking import call_parents, rebuild_with_masks, replay_with_masks


class Functional(Layer):
    """A network of layers: ``Functional(inputs, outputs)``."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._init_graph(inputs, outputs)

    # -- construction --------------------------------------------------------
    def _init_graph(self, inputs, outputs):
        self._input_structure = inputs
        self._output_structure = outputs
        self.inputs = [_check_tensor(t, "input", self.name) for t in flatten(inputs)]
        self.outputs = [_check_tensor(t, "output", self.name) for t in flatten(outputs)]
        for t in self.inputs:
            layer = t.history[0].layer if t.history else None
            if not isinstance(layer, InputLayer):
                raise ValueError(f"Model '{self.name}': inputs must be tensors made by "
                                 f"gn.Input(), got one made by "
                                 f"{layer.name if layer else 'no layer'}: {t}")
        if len({id(t.node) for t in self.inputs}) != len(self.inputs):
            raise ValueError(f"Model '{self.name}': the same input is given more than once")
        self._calls_in_order = self._walk()
        self._layers = self._keras_layer_order()
        self.built = True

    def _walk(self):
        """Layer calls from the inputs to the outputs, each after the calls feeding it."""
        input_nodes = {id(t.node) for t in self.inputs}
        order, seen, reached = [], set(), set()

        def visit(tensor, consumer):
            if tensor.history is None:
                raise ValueError(
                    f"Model '{self.name}': tensor {tensor} (input of layer "
                    f"'{consumer}') was not produced by a layer or by a gn.ops call on "
                    "the model's tensors (a constant, an op on a gn.Variable outside any "
                    "layer, or a tensor traced elsewhere): compute it in a layer's call "
                    "(weights belong to layers) or from the model's inputs.")
            call = tensor.history[0]
            if id(call) in seen:
                return
            if isinstance(call.layer, InputLayer):
                if id(tensor.node) not in input_nodes:
                    raise ValueError(
                        f"Model '{self.name}': graph disconnected: cannot obtain a value for "
                        f"input '{call.layer.name}' {tensor.shape} needed by layer "
                        f"'{consumer}'. Pass it among the model's inputs.")
                reached.add(id(tensor.node))
            for parent in call_parents(call):
                visit(parent, call.layer.name)
            seen.add(id(call))
            order.append(call)

        for t in self.outputs:
            visit(t, "the model outputs")
        unused = [t.node.attrs["name"] for t in self.inputs if id(t.node) not in reached]
        if unused:
            raise ValueError(f"Model '{self.name}': input(s) {', '.join(map(repr, unused))} "
                             "are not connected to the outputs: the outputs do not depend on "
                             "them")
        return order

    def _keras_layer_order(self):
        """Layers as Keras orders them (and so weights): by decreasing depth from the
        outputs, ties in the order a depth-first walk from the outputs first meets them."""
        first_seen, post, visited = {}, [], set()
        input_nodes = {id(t.node) for t in self.inputs}

        def visit(tensor):
            call = tensor.history[0]
            if id(call) in visited:
                return
            first_seen.setdefault(id(call.layer), len(first_seen))
            if not (id(tensor.node) in input_nodes and not call.inputs):
                for parent in call_parents(call):
                    visit(parent)
            visited.add(id(call))
            post.append(call)

        for t in self.outputs:
            visit(t)
        call_depth, layer_depth, layers = {}, {}, {}
        for call in reversed(post):
            depth = max(call_depth.setdefault(id(call), 0), layer_depth.get(id(call.layer), 0))
            layer_depth[id(call.layer)] = call_depth[id(call)] = depth
            layers[id(call.layer)] = call.layer
            for parent in call_parents(call):
                pc = parent.history[0]
                call_depth[id(pc)] = max(depth + 1, call_depth.get(id(pc), 0))
        return sorted(layers.values(),
                      key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))

    # -- structure -------------------------------------------------------------
    @property
    def layers(self):
        """Its layers; op layers (gn.ops calls between layers) left out, as Keras 3 lists
        only Layers, not Operations."""
        return [layer for layer in self._layers if not is_op_layer(layer)]

    def _tracked_layers(self):
        return [layer for layer in self._layers if layer is not self]

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or ``self.layers[index]`` (Keras 3: a Sequential's
        layers leave out its InputLayer, so index 0 is its first real layer)."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError(f"Model '{self.name}': get_layer takes a layer name or a layer "
                             f"index, one of the two; got name={name!r}, index={index!r}")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Model '{self.name}' has {len(layers)} layers, asked for "
                                 f"index {index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in layers]}.")

    @property
    def state_updates(self):
        """The ``(Variable, SymbolicTensor)`` state updates its layers recorded
        (``Layer.add_state_update``), searched recursively, that are computed from this
        model's inputs alone: calls on other graphs (an earlier Sequential rebuild, a call
        outside the model) are left out, and when a variable is updated by several calls
        the last one wins. The training step applies them."""
        return state_updates_within(self, self.inputs, training=True)

    @property
    def inference_state_updates(self):
        """The ``state_updates`` the inference and evaluation steps apply too, those not
        recorded as training only (a stateful RNN's final states)."""
        return state_updates_within(self, self.inputs, training=False)

    def _own_losses(self):
        return graph_losses(self)

    @property
    def input_names(self):
        return [t.node.attrs["name"] for t in self.inputs]

    @property
    def output_names(self):
        return [t.history[0].layer.name for t in self.outputs]

    @property
    def input(self):
        return self._input_structure

    @property
    def output(self):
        return self._output_structure

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # -- calling on new tensors ---------------------------------------------------
    def call(self, inputs, training=None, mask=None):
        """Clone this model's op graph onto ``inputs`` (weights are shared); when an input
        carries a mask (``mask``, one per input), run its layer calls again on them so
        the masks reach its layers (Keras 3)."""
        flat = flatten(inputs)
        if len(flat) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input(s), got "
                             f"{len(flat)}")
        for mine, given in zip(self.inputs, flat):
            if len(mine.shape) != len(given.shape) or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(mine.shape, given.shape)):
                raise ValueError(f"Model '{self.name}': input '{mine.node.attrs['name']}' "
                                 f"expects shape {mine.shape}, got {given.shape}")
        masks = [None] * len(flat) if mask is None else flatten(mask)
        if any(m is not None for m in masks) or current_trace() is not None or \
                self.state_updates:
            # a traced step runs the layer calls again: their add_loss terms and state
            # updates are then those of this call (engine/added_losses.py); so does a
            # model with state updates (moving statistics, a stateful RNN's states), so
            # the model it is called in finds them computed from its own inputs
            return pack_like(self._output_structure,
                             replay_with_masks(self, flat, masks, training))
        replace = {id(m.node): g.node for m, g in zip(self.inputs, flat)}

        def rule(node, new_inputs):
            if id(node) in replace:
                return replace[id(node)]
            if training is None:
                return node.with_inputs(new_inputs)
            return resolve_phase(node, new_inputs, training)

        return pack_like(self._output_structure, rebuild_with_masks(self.outputs, rule))

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def build(self, input_shape):
        self.built = True

    # -- config -------------------------------------------------------------------
    def get_config(self):
        from .serialize import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .serialize import functional_from_config
        return functional_from_config(cls, config, custom_objects)


def state_updates_within(layer, inputs, training):
    """The state updates ``layer`` and the layers it tracks recorded that are computed
    from the tensors ``inputs`` alone (the last one per variable), those recorded as
    training only too when ``training``."""
    input_uids = {t.node.attrs["uid"] for t in inputs}
    found, seen = {}, set()
    for sub in _layers_within(layer):
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        for var, tensor, training_only in sub._state_updates:
            if training_only and not training:
                continue
            sources = [n for n in topological_order([tensor.node]) if n.op.name == "INPUT"]
            if all(n.attrs["uid"] in input_uids for n in sources):
                found.pop(id(var), None)
                found[id(var)] = (var, tensor)
    return list(found.values())


def _layers_within(layer):
    """``layer`` and the layers it tracks, recursively, depth first."""
    out = [layer]
    for sub in layer._tracked_layers():
        out += _layers_within(sub)
    return out


def _check_tensor(t, what, name):
    if not isinstance(t, SymbolicTensor):
        raise TypeError(f"Model '{name}': every {what} must be a symbolic tensor (from "
                        f"gn.Input or a layer), got {type(t).__name__}")
    return t
