"""The Optimizer base: Keras 3's optimizer contract, as update ops.

An optimizer does not run anything itself: ``build_updates(variables, gradients)``
returns ``[(Variable, new_value_tensor), ...]`` (the variables, their slots and the
optimizer's own state), which the training step compiles into the same plan as the
forward and backward passes (``gn.function(..., updates=...)``); the runtime writes
the new values into the variables after each run.

State lives in Variables: ``iterations`` (int64), ``learning_rate`` (float32, unless a
schedule is given: then the rate is computed from ``iterations`` inside the step) and
the per-weight slots, so callbacks change the learning rate without recompiling.
Per step, as Keras does: gradients are clipped (``clipnorm`` / ``global_clipnorm`` /
``clipvalue``), weight decay shrinks the variable (``v -= v * weight_decay * lr``),
``update_step`` applies the rule, then the variable's ``constraint`` projects the
result and ``iterations`` is incremented.

Keras 3's optional extras, all inside the same compiled step (the "every N steps"
conditions are 0/1 masks of the iteration counter applied with ``where``, never Python
branches at run time):

- ``loss_scale_factor``: the training step differentiates ``scale_loss(loss)`` (the
  loss times the factor) and the gradients are divided by the factor before anything
  else.
- ``gradient_accumulation_steps=N``: the gradients are summed into per-weight
  accumulators; every N-th step (``(iterations + 1) % N == 0``) the update runs on
  ``(accumulated + g) / N`` (then clipped) and the accumulators are reset; on the other
  steps the weights and slots keep their values. ``iterations`` counts every step (it
  is Keras's ``_iterations``); the update rules see ``iterations // N`` as their step
  (Keras's ``optimizer.iterations``) while learning-rate schedules see every step.
- ``use_ema``: after the update, each weight's moving average becomes
  ``m * average + (1 - m) * weight`` (``m = ema_momentum``, 0 on the first step); with
  ``ema_overwrite_frequency=F`` the weights take their averages whenever
  ``(step + 1) % F == 0``; ``finalize_variable_values`` (called by ``fit`` at the end)
  copies the averages into the weights.

The C kernels do arithmetic in float32, so the step count is computed as float32
inside the step: exact up to 2**24 (16.7 million) iterations.
"""
import math
import numbers
import re

import numpy as np

from .. import backend, ops
from ..graph.tensor import SymbolicTensor, placeholder
from ..graph.trace import current_trace
from ..graph.variable import Variable
from . import schedules


def state_variable(value, name, dtype):
    """A non-trainable Variable holding ``value`` with its exact shape (scalars stay 0-d)."""
    return Variable(value, name=name, dtype=dtype, trainable=False)


def read(var):
    """The tensor reading ``var`` in place."""
    return ops.convert_to_tensor(var)


def fit_shape(var, tensor):
    """``tensor`` reshaped to ``var``'s shape when only size-1 axes differ (scalar
    constants may carry a (1,) shape into otherwise scalar arithmetic)."""
    tensor = ops.convert_to_tensor(tensor)
    if tuple(tensor.shape) != tuple(var.shape) and \
            [d for d in tensor.shape if d != 1] == [d for d in var.shape if d != 1]:
        return ops.reshape(tensor, var.shape)
    return tensor


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _every(step, n):
    """Bool scalar: whether ``step`` (0-based, float) ends a period of ``n`` steps."""
    return ops.equal(ops.mod(step + 1.0, float(n)), 0.0)


def _check_int_at_least(name, value, least):
    """``value`` as an int when it is an integer >= ``least`` (or None), else ValueError."""
    if value is None:
        return None
    if not _is_real(value) or not math.isfinite(value) or value != int(value) or \
            int(value) < least:
        raise ValueError(f"`{name}` must be an integer >= {least} or None. Received: "
                         f"{name}={value!r}")
    return int(value)


class Optimizer:
    """Base class of graphnet's optimizers (Keras 3's arguments).

    Args:
        learning_rate: a float, or a ``LearningRateSchedule`` of the iteration count.
        weight_decay: if set, each step first does ``v -= v * weight_decay * lr``.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient elementwise to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global L2 norm.
        name: the optimizer's name (prefix of its slot variables).
        use_ema: keep an exponential moving average of the weights (False).
        ema_momentum: the average's momentum, in [0, 1] (0.99).
        ema_overwrite_frequency: overwrite the weights with their averages every this
            many steps (an integer >= 1), or None: only ``finalize_variable_values``.
        loss_scale_factor: multiply the loss by this before differentiating and divide
            the gradients by it (a positive float), or None.
        gradient_accumulation_steps: update every this many steps (an integer >= 2) with
            the mean of the gradients since the last update, or None.
        lr: Keras 2 name of ``learning_rate``.
        decay: Keras 2's time decay, ``lr / (1 + decay * iterations)``.
    """

    _SLOTS = ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, lr=None, decay=0.0, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        if lr is not None:
            learning_rate = lr
        gradient_accumulation_steps = _check_int_at_least(
            "gradient_accumulation_steps", gradient_accumulation_steps, 2)
        ema_overwrite_frequency = _check_int_at_least(
            "ema_overwrite_frequency", ema_overwrite_frequency, 1)
        if not _is_real(ema_momentum) or not 0 <= ema_momentum <= 1:
            raise ValueError("`ema_momentum` must be in the range [0, 1]. Received: "
                             f"ema_momentum={ema_momentum!r}")
        if loss_scale_factor is not None and (
                not _is_real(loss_scale_factor) or not math.isfinite(loss_scale_factor)
                or loss_scale_factor <= 0):
            raise ValueError("`loss_scale_factor` must be a positive finite float or None. "
                             f"Received: loss_scale_factor={loss_scale_factor!r}")
        if not isinstance(use_ema, (bool, np.bool_)) and use_ema not in (0, 1):
            raise ValueError(f"`use_ema` must be a boolean. Received: use_ema={use_ema!r}")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = None if loss_scale_factor is None else \
            float(loss_scale_factor)
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._averages = []
        self._accumulators = []
        if decay is None or float(decay) < 0:
            raise ValueError(f"decay must be >= 0, got {decay}")
        self.decay = float(decay)
        self.built = False
        self._variables = []
        self._index = {}
        self._trainable_variables = []
        self._exclude_ids = set()
        self._exclude_pattern = None
        self.iterations = state_variable(0, "iteration", "int64")
        self._track(self.iterations)
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._schedule = learning_rate
            self._lr_var = None
        elif callable(learning_rate):
            raise TypeError(f"{type(self).__name__}: learning_rate must be a float or a "
                            "LearningRateSchedule (a plain callable cannot run inside the "
                            "compiled step)")
        else:
            try:
                value = float(learning_rate)
            except (TypeError, ValueError):
                raise ValueError(f"Argument `learning_rate` should be float, or an instance "
                                 f"of LearningRateSchedule. Received: "
                                 f"learning_rate={learning_rate!r}") from None
            self._schedule = None
            self._lr_var = state_variable(value, "learning_rate", "float32")
            self._track(self._lr_var)

    # -- state ---------------------------------------------------------------------
    def _track(self, var):
        self._variables.append(var)
        return var

    @property
    def variables(self):
        """All state, in Keras's order: iterations, learning_rate (unless a schedule), the
        weights' moving averages (``use_ema``), the gradient accumulators
        (``gradient_accumulation_steps``), then the slots."""
        return list(self._variables)

    def add_variable(self, shape, initializer=0.0, dtype="float32", name=None):
        """A new state variable filled with ``initializer`` (a number)."""
        return self._track(state_variable(np.full(tuple(shape), initializer, dtype=dtype),
                                          name or "variable", dtype))

    def add_variable_from_reference(self, reference, name, initializer=0.0):
        base = str(reference.name).replace("/", "_").replace(":", "_")
        return self.add_variable(reference.shape, initializer, reference.dtype,
                                 f"{base}_{name}")

    def add_optimizer_variables(self, variables, names, initializer=0.0):
        """Slots for each variable, interleaved per variable as Keras orders them.
        ``names`` is a string (returns one list) or a list of strings (a tuple of lists)."""
        single = isinstance(names, str)
        names = [names] if single else list(names)
        out = tuple([] for _ in names)
        for var in variables:
            for i, name in enumerate(names):
                out[i].append(self.add_variable_from_reference(var, name, initializer))
        return out[0] if single else out

    def build(self, variables):
        """Create the slots for ``variables`` (the model's trainable weights)."""
        if self.built:
            return
        variables = list(variables)
        for i, var in enumerate(variables):
            if not isinstance(var, Variable):
                raise TypeError(f"{self.name}: can only optimize Variables, got "
                                f"{type(var).__name__}")
            self._index[id(var)] = i
        self._trainable_variables = variables
        if self.use_ema:
            self._averages = self.add_optimizer_variables(variables, "average")
        if self.gradient_accumulation_steps:
            self._accumulators = self.add_optimizer_variables(variables,
                                                              "gradient_accumulator")
        self.build_slots(variables)
        self.built = True

    def build_slots(self, variables):
        """Subclasses create their slot variables here."""

    def _slot(self, slots, variable):
        return slots[self._index[id(variable)]]

    # -- learning rate ------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The current learning rate as a float (a schedule is evaluated at the current
        iteration). Assigning a number changes the learning-rate variable in place."""
        if self._schedule is not None:
            return float(self._schedule(int(self.iterations.value)))
        value = float(self._lr_var.value)
        if self.decay:
            value /= 1.0 + self.decay * float(self.iterations.value)
        return value

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable. If you need the learning rate to be "
                            "settable, you should instantiate the optimizer with a float "
                            "`learning_rate` argument.")
        self._lr_var.assign(np.float32(value))

    lr = learning_rate

    @property
    def learning_rate_variable(self):
        """The float32 Variable holding the learning rate (None with a schedule)."""
        return self._lr_var

    def learning_rate_tensor(self, step):
        """The learning rate as ops of ``step`` (float32 iterations before this update)."""
        if self._schedule is not None:
            lr = self._schedule(step)
        else:
            lr = read(self._lr_var)
        if self.decay:
            lr = lr / (step * self.decay + 1.0)
        return lr

    # -- weight decay --------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempt variables (or variables whose name contains one of ``var_names``)."""
        self._exclude_ids |= {id(v) for v in var_list or []}
        if var_names:
            self._exclude_pattern = re.compile("|".join(map(re.escape, var_names)))

    def _use_weight_decay(self, variable):
        if self.weight_decay is None or id(variable) in self._exclude_ids:
            return False
        if self._exclude_pattern is not None and self._exclude_pattern.search(variable.name):
            return False
        return True

    # -- clipping ----------------------------------------------------------------------
    def clip_gradients(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            c = float(self.clipnorm)
            return [g * c / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), c) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0 and grads:
            c = float(self.global_clipnorm)
            total = ops.sum(ops.square(grads[0]))
            for g in grads[1:]:
                total = total + ops.sum(ops.square(g))
            norm = ops.sqrt(total)
            # NaN or inf norms propagate (norm - norm) instead of being clipped away
            scale = ops.minimum(ops.reciprocal(norm), 1.0 / c) * c + (norm - norm)
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            v = float(self.clipvalue)
            return [ops.clip(g, -v, v) for g in grads]
        return grads

    # -- the update ----------------------------------------------------------------------
    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (the loss the training step differentiates), or
        ``loss`` unchanged without a factor."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def build_updates(self, variables, gradients):
        """``[(Variable, new value tensor), ...]`` for one optimizer step.

        ``gradients[i]`` is the gradient tensor of ``variables[i]`` (None: not updated).
        Includes the slots' and the optimizer's own state updates (``iterations``, the
        gradient accumulators, the moving averages)."""
        variables, gradients = list(variables), list(gradients)
        if len(variables) != len(gradients):
            raise ValueError(f"{self.name}: got {len(gradients)} gradients for "
                             f"{len(variables)} variables")
        if not self.built:
            self.build(variables)
        pairs = []
        for var, grad in zip(variables, gradients):
            if grad is None:
                continue
            if id(var) not in self._index:
                raise ValueError(f"Unknown variable: {var}. This optimizer can only be called "
                                 "for the variables it was originally built with. When "
                                 "working with a new set of variables, you should recreate a "
                                 "new optimizer instance.")
            grad = ops.cast(ops.convert_to_tensor(grad), var.dtype)
            if len(grad.shape) != len(var.shape) or any(
                    g is not None and g != v for g, v in zip(grad.shape, var.shape)):
                raise ValueError(f"{self.name}: the gradient of {var.name} has shape "
                                 f"{grad.shape}, the variable {var.shape}")
            pairs.append((var, grad))
        grads = [g for _, g in pairs]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        real_step = ops.cast(read(self.iterations), "float32")  # counts every step
        lr = self.learning_rate_tensor(real_step)
        updates = []
        is_update_step = None  # gradient accumulation: a bool scalar of this step
        step = real_step
        if self.gradient_accumulation_steps:
            n = float(self.gradient_accumulation_steps)
            step = ops.floor_divide(real_step, n)  # the update rules' step count
            is_update_step = _every(real_step, n)
            summed = []
            for (var, _), grad in zip(pairs, grads):
                accumulator = self._slot(self._accumulators, var)
                total = grad + read(accumulator)
                summed.append(total)
                updates.append((accumulator, ops.where(is_update_step,
                                                       ops.zeros_like(total), total)))
            grads = [total / n for total in summed]
        grads = self.clip_gradients(grads)
        context, rule_updates = self.prepare_step(step, lr)
        new_values = {}
        for (var, _), grad in zip(pairs, grads):
            value = read(var)
            if self._use_weight_decay(var):
                value = value - value * (lr * float(self.weight_decay))
            new_values[id(var)], slot_updates = self.update_step(grad, var, value, lr,
                                                                 context)
            rule_updates.extend(slot_updates)
        if is_update_step is not None:
            # between updates the weights, slots and rule state keep their values
            rule_updates = [(v, ops.where(is_update_step, value, read(v)))
                            for v, value in rule_updates]
            new_values = {id(var): ops.where(is_update_step, new_values[id(var)], read(var))
                          for var, _ in pairs}
        updates.extend(rule_updates)
        if self.use_ema:
            new_values = self._moving_average_updates(step, new_values, updates)
        by_id = {id(var): var for var in self._trainable_variables}
        with_gradients = {id(var) for var, _ in pairs}
        for key, new_value in new_values.items():
            var = by_id[key]
            if key in with_gradients and getattr(var, "constraint", None) is not None:
                new_value = ops.convert_to_tensor(var.constraint(new_value))
            updates.append((var, new_value))
        updates.append((self.iterations, ops.cast(real_step + 1.0, "int64")))
        return [(var, fit_shape(var, value)) for var, value in updates]

    def _moving_average_updates(self, step, new_values, updates):
        """Keras's EMA of every weight the optimizer was built with, from the weights'
        values after this step's update: appends the averages' updates to ``updates``
        and returns ``new_values`` with the overwrite (every ``ema_overwrite_frequency``
        steps) folded in. ``step`` is the update rules' step count before this update."""
        momentum = ops.cast(ops.not_equal(step, 0.0), "float32") * self.ema_momentum
        overwrite = None
        if self.ema_overwrite_frequency:
            overwrite = _every(step, self.ema_overwrite_frequency)
        out = dict(new_values)
        for var, average in zip(self._trainable_variables, self._averages):
            value = new_values.get(id(var))
            if value is None:
                value = read(var)
            new_average = momentum * read(average) + (1.0 - momentum) * value
            updates.append((average, new_average))
            if overwrite is not None:
                out[id(var)] = ops.where(overwrite, new_average, value)
        return out

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, copy the moving averages into ``var_list`` (the weights the
        optimizer was built with, in order); ``fit`` calls this after its last epoch."""
        if not self.use_ema or not self.built:
            return
        var_list = list(var_list)
        if len(var_list) != len(self._averages):
            raise ValueError(f"The length of model variables ({len(var_list)}) to override "
                             "does not match the length of model variables stored in the "
                             f"optimizer ({len(self._averages)}). Please check if the "
                             "optimizer was called on your model.")
        for var, average in zip(var_list, self._averages):
            var.assign(average.numpy())

    def prepare_step(self, step, lr):
        """``(context, state_updates)`` shared by every variable's update (Nadam's
        running product); ``context`` always has ``step`` (float32, before increment)."""
        return {"step": step}, []

    def update_step(self, gradient, variable, value, learning_rate, context):
        """``(new value, [(slot, new slot value), ...])`` for one variable."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step")

    # -- eager use ----------------------------------------------------------------------
    def apply(self, grads, variables=None, backend="c"):
        """Apply array gradients now (compiled once per set of variables; ``backend``
        "reference" runs the NumPy oracle instead of the C kernels)."""
        from ..runtime.function import function
        if any(isinstance(g, SymbolicTensor) for g in grads):
            return self._apply_traced(grads, variables)
        if variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer "
                                 "must already be built on a list of variables. Call "
                                 "`optimizer.build(trainable_variables)` first.")
            variables = self._trainable_variables
        variables = list(variables)
        grads = [None if g is None else np.asarray(g, dtype=v.dtype)
                 for g, v in zip(grads, variables)]
        if not self.built:
            self.build(variables)
        key = (backend,) + tuple((id(v), g is None) for v, g in zip(variables, grads))
        cache = self.__dict__.setdefault("_apply_cache", {})
        fn = cache.get(key)
        if fn is None:
            holders = [None if g is None else placeholder(v.shape, v.dtype, name=f"grad_{i}")
                       for i, (v, g) in enumerate(zip(variables, grads))]
            updates = self.build_updates(variables, holders)
            fn = function([h for h in holders if h is not None], [], updates=updates,
                          name=f"{self.name}_apply", backend=backend)
            cache[key] = fn
        fn(*[g for g in grads if g is not None])

    def _apply_traced(self, grads, variables):
        """Symbolic gradients inside a traced step: the updates are assigned in the trace
        (graph/trace.py), so later reads in the step see the new values."""
        if current_trace() is None:
            raise TypeError(f"{self.name}.apply: symbolic gradients can only be applied "
                            "inside a traced step (a train_step run by fit / "
                            "train_on_batch); apply arrays instead")
        if variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer "
                                 "must already be built on a list of variables.")
            variables = self._trainable_variables
        for var, value in self.build_updates(list(variables), list(grads)):
            var.assign(value)

    def apply_gradients(self, grads_and_vars):
        grads, variables = zip(*list(grads_and_vars))
        self.apply(list(grads), list(variables))
        return self.iterations

    # -- saving --------------------------------------------------------------------------
    def get_weights(self):
        """Copies of the state arrays, in ``variables`` order."""
        return [v.numpy() for v in self._variables]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self._variables):
            raise ValueError(f"Optimizer '{self.name}' has {len(self._variables)} state "
                             f"variables (build it on the model's weights first), got "
                             f"{len(weights)} arrays")
        for var, value in zip(self._variables, weights):
            if np.shape(value) != var.shape:
                raise ValueError(f"Optimizer '{self.name}': state {var.name} has shape "
                                 f"{var.shape}, got an array of shape {np.shape(value)}")
        for var, value in zip(self._variables, weights):
            var.assign(value)

    def save_own_variables(self, store):
        """Keras 3's saving hook: ``store["0"], store["1"], ...`` = the state arrays."""
        for i, var in enumerate(self._variables):
            store[str(i)] = var.numpy()

    def load_own_variables(self, store):
        self.set_weights([store[str(i)] for i in range(len(store))])

    # -- config --------------------------------------------------------------------------
    def get_config(self):
        if self._schedule is not None:
            learning_rate = schedules.serialize(self._schedule)
        else:
            learning_rate = float(self._lr_var.value)
        config = {"name": self.name, "learning_rate": learning_rate,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                  "ema_overwrite_frequency": self.ema_overwrite_frequency,
                  "loss_scale_factor": self.loss_scale_factor,
                  "gradient_accumulation_steps": self.gradient_accumulation_steps}
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
