"""Compiled-model files (``.gnx``): an optimized plan with its weights, runnable
without the model-building code.

``write_compiled`` stores a ``Plan`` (see graphnet/export/FORMAT.md);
``load_compiled`` reads one back into a ``CompiledModel`` that runs on
``graphnet.runtime.Executable`` alone. This module imports only NumPy, the runtime,
the safe archive reader and the plan verifier: never graphnet.engine, graphnet.layers
or the compiler. A loaded plan is verified (every memory access in bounds) before
it can run, so a hand-edited file is refused, not executed.

A file exported for any batch size holds a batch-generic plan (``batch_plan.py``): the
plan for batch N is instantiated and verified on first use and kept in a bounded cache
(least recently used); batch 1 has a plan of its own.
"""
import datetime
from dataclasses import dataclass, field

import numpy as np

from ..runtime.cext import lib
from ..runtime.executor import Executable
from ..runtime.plan_cache import CachesPlans, PlanCache
from ..saving.archive import ARRAY_DTYPES, ArchiveReader, ArchiveWriter
from .batch_plan import BatchCoefficients, batch_shape, instantiate
from .verify import PlanError, verify_plan

FORMAT = "graphnet.compiled"
#: the slot kinds a plan from a file may write (not its inputs, weights or constants)
LOADED_WRITABLE = ("arena", "output")
FORMAT_VERSION = 2
#: plans for distinct batch sizes a CompiledModel keeps (least recently used go first)
DEFAULT_CACHED_PLANS = 8
#: CompiledModel.predict's default batch size for a batch-generic file (Keras's)
DEFAULT_PREDICT_BATCH = 32
EXTENSION = ".gnx"
PLAN_ARRAYS = {"steps": ("int64", 2), "iargs": ("int64", 1), "fargs": ("float32", 1),
               "slots": ("int64", 2)}
PER_BATCH_ARRAYS = {"iargs": "iargs_per_batch", "slots": "slot_offsets_per_batch"}


def _plan_entries(folder):
    return {key: f"{folder}/{key}.npy" for key in PLAN_ARRAYS}


def abi():
    """The C API's enum values (kernel ids and op codes) a plan's integers refer to."""
    return {name: int(getattr(lib, name)) for name in sorted(dir(lib))
            if name.startswith("GN_") and isinstance(getattr(lib, name), int)}


@dataclass
class LoadedPlan:
    """The fields of ``graphnet.compiler.Plan`` that the runtime needs, read from a file."""
    steps: np.ndarray
    iargs: np.ndarray
    fargs: np.ndarray
    slots: np.ndarray
    consts: list
    arena_bytes: int
    unplanned_bytes: int
    input_specs: list
    output_specs: list
    weight_specs: list
    kernels: list = field(default_factory=list)
    origins: list = field(default_factory=list)   # a file keeps no layer names

    @property
    def kernel_count(self):
        return len(self.steps)


class _Weight:
    """The light holder Executable binds a weight through (it reads ``.value`` and
    ``.version``): read-only, so version 0 for life."""
    __slots__ = ("name", "value", "version", "__weakref__")

    def __init__(self, name, value):
        value.flags.writeable = False
        self.name, self.value, self.version = name, value, 0


# -- writing ----------------------------------------------------------------------------
def _shape_json(shape):
    return [None if d is None else int(d) for d in shape]


def _const_entries(consts, folder):
    return [({"shape": list(np.shape(c)), "dtype": str(np.asarray(c).dtype),
              "entry": f"{folder}/{i:05d}.npy"}, np.asarray(c, order="C"))
            for i, c in enumerate(consts)]


def _plan_manifest(plan, folder):
    """The manifest fields of one plan stored under ``folder``."""
    return {"arena_bytes": int(plan.arena_bytes), "unplanned_bytes": int(plan.unplanned_bytes),
            "kernels": list(plan.kernels), "plan": _plan_entries(folder)}


def _batch_fields(coefficients, specialized, arrays):
    """The manifest's "batch" object of a batch-generic plan and the constants of its
    plans of their own; adds their arrays (by entry name) to ``arrays``."""
    fields = {"min_batch": int(coefficients.min_batch),
              "arena_bytes_per_batch": int(coefficients.arena_bytes),
              "unplanned_bytes_per_batch": int(coefficients.unplanned_bytes),
              "per_batch": {key: f"plan/{stem}.npy" for key, stem in PER_BATCH_ARRAYS.items()},
              "plans": []}
    for key, entry in fields["per_batch"].items():
        arrays[entry] = np.asarray(getattr(coefficients, key), dtype=np.int64)
    consts = []
    for n, (own, indices) in sorted(specialized.items()):
        folder = f"batch_{n}"
        own_consts = _const_entries(own.consts, f"{folder}/consts")
        fields["plans"].append(dict(_plan_manifest(own, f"{folder}/plan"), batch_size=int(n),
                                    weights=[int(i) for i in indices],
                                    consts=[c for c, _ in own_consts]))
        arrays.update({entry: getattr(own, key)
                       for key, entry in _plan_entries(f"{folder}/plan").items()})
        consts += own_consts
    return fields, consts


def write_compiled(path, plan, weight_values, output_names=None, name="model",
                   overwrite=True, batch=None):
    """Write ``plan`` and its weights (arrays in ``plan.weight_specs`` order) to ``path``.

    ``batch``: None for a plan of fixed shapes, or ``(coefficients, specialized)`` for the
    batch-generic ``plan`` at N = 0 (``batch_fit.fit_batch_plan``): its
    ``BatchCoefficients`` and ``{batch size: (plan, indices of its weights)}``."""
    # refuse to write what the loader would refuse
    if batch is None:
        verify_plan(plan, plan.kernels, LOADED_WRITABLE)
    else:
        coefficients, specialized = batch
        verify_plan(instantiate(plan, coefficients, coefficients.min_batch), plan.kernels,
                    LOADED_WRITABLE)
        for own, _ in specialized.values():
            verify_plan(own, own.kernels, LOADED_WRITABLE)
    output_names = list(output_names or [f"output_{i}" for i in range(len(plan.output_specs))])
    weights = []
    for i, ((wname, shape, dtype), value) in enumerate(zip(plan.weight_specs, weight_values)):
        value = np.asarray(value, order="C")
        if value.shape != tuple(shape) or str(value.dtype) != dtype:
            raise ValueError(f"weight {wname}: value is {value.shape} {value.dtype}, the plan "
                             f"was compiled for {tuple(shape)} {dtype}")
        weights.append(({"name": wname, "shape": list(shape), "dtype": dtype,
                         "entry": f"weights/{i:05d}.npy"}, value))
    consts = _const_entries(plan.consts, "consts")
    arrays = {entry: getattr(plan, key) for key, entry in _plan_entries("plan").items()}
    from .. import __version__
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "graphnet_version": __version__,
        "date_saved": datetime.datetime.now().isoformat(timespec="seconds"),
        "name": name, "abi": abi(), **_plan_manifest(plan, "plan"),
        "inputs": [{"name": n, "shape": _shape_json(s), "dtype": d}
                   for n, s, d in plan.input_specs],
        "outputs": [{"name": n, "shape": _shape_json(s), "dtype": d}
                    for n, (s, d) in zip(output_names, plan.output_specs)],
        "weights": [w for w, _ in weights], "consts": [c for c, _ in consts], "batch": None}
    if batch is not None:
        manifest["batch"], own_consts = _batch_fields(*batch, arrays)
        consts += own_consts
    with ArchiveWriter(path, overwrite=overwrite) as zf:
        zf.json("manifest.json", manifest)
        for entry, value in arrays.items():
            zf.array(entry, value)
        for meta, value in weights + consts:
            zf.array(meta["entry"], value)


# -- reading ------------------------------------------------------------------------------
def _shape(reader, value, what, generic=False):
    """A shape from the manifest; in a batch-generic file a dimension may be null: the
    batch size."""
    def dim_ok(d):
        if d is None:
            return generic
        return isinstance(d, int) and not isinstance(d, bool) and d >= 0
    if not isinstance(value, list) or not all(map(dim_ok, value)):
        raise reader.error(f"{what} has a malformed shape {value!r}", "manifest.json")
    return tuple(value)


def _dtype(reader, value, what):
    if value not in ARRAY_DTYPES:
        raise reader.error(f"{what} has unsupported dtype {value!r}", "manifest.json")
    return value


def _specs(reader, obj, key, entry=False, generic=False):
    items = obj.get(key)
    if not isinstance(items, list):
        raise reader.error(f"'{key}' must be a list", "manifest.json")
    out = []
    for i, item in enumerate(items):
        what = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise reader.error(f"{what} must be an object", "manifest.json")
        spec = {"shape": _shape(reader, item.get("shape"), what, generic),
                "dtype": _dtype(reader, item.get("dtype"), what),
                "name": str(item.get("name", f"{key}_{i}"))}
        if entry:
            if not isinstance(item.get("entry"), str):
                raise reader.error(f"{what} has no entry name", "manifest.json")
            spec["entry"] = item["entry"]
        out.append(spec)
    return out


def _count(reader, obj, key, what="", least=0):
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise reader.error(f"{what}'{key}' must be an integer >= {least}, got {value!r}",
                           "manifest.json")
    return value


def _remap_kernels(reader, steps, kernels, file_abi, entry):
    """Kernel ids by name in this build; other enum values must not have changed."""
    mine = abi()
    changed = sorted(k for k, v in file_abi.items() if k in mine and mine[k] != v
                     and not k.startswith("GN_K_"))
    if changed:
        raise reader.error(f"was exported by a graphnet whose C API numbers differ from this "
                           f"one's ({', '.join(changed[:5])}); export it again")
    if len(kernels) != len(steps):
        raise reader.error(f"lists {len(kernels)} kernels for {len(steps)} steps",
                           "manifest.json")
    steps = steps.copy()
    for i, name in enumerate(kernels):
        if not isinstance(name, str) or name not in mine:
            raise reader.error(f"step {i} uses kernel {name!r}, which this graphnet does not "
                               "have; upgrade graphnet", "manifest.json")
        if file_abi.get(name) != int(steps[i, 0]):
            raise reader.error(f"step {i}: kernel id {int(steps[i, 0])} does not match its "
                               f"name {name!r}", entry)
        steps[i, 0] = mine[name]
    return steps


def _read_plan(reader, fields, file_abi, specs, what=""):
    """One plan (unverified) from its manifest ``fields`` (arena_bytes, unplanned_bytes,
    kernels, plan entries) and ``specs``: (inputs, outputs, weights, const values)."""
    for key in ("arena_bytes", "unplanned_bytes"):
        _count(reader, fields, key, what)
    entries = fields.get("plan")
    if not isinstance(fields.get("kernels"), list) or not isinstance(entries, dict) or \
            any(not isinstance(entries.get(k), str) for k in PLAN_ARRAYS):
        raise reader.error(f"{what}'kernels' or the 'plan' entries are missing",
                           "manifest.json")
    arrays = {}
    for key, (dtype, ndim) in PLAN_ARRAYS.items():
        arrays[key] = reader.array(entries[key], dtype=dtype)
        if arrays[key].ndim != ndim:
            raise reader.error(f"must be {ndim}-D, got shape {arrays[key].shape}", entries[key])
    for key, columns in (("steps", 4), ("slots", 3)):
        if arrays[key].shape[1] != columns:
            raise reader.error(f"must have shape (n, {columns}), got {arrays[key].shape}",
                               entries[key])
    steps = _remap_kernels(reader, arrays["steps"], fields["kernels"], file_abi,
                           entries["steps"])
    inputs, outputs, weights, consts = specs
    return LoadedPlan(
        steps=steps, iargs=arrays["iargs"], fargs=arrays["fargs"], slots=arrays["slots"],
        consts=consts, arena_bytes=fields["arena_bytes"],
        unplanned_bytes=fields["unplanned_bytes"],
        input_specs=[(s["name"], s["shape"], s["dtype"]) for s in inputs],
        output_specs=[(s["shape"], s["dtype"]) for s in outputs],
        weight_specs=[(s["name"], s["shape"], s["dtype"]) for s in weights],
        kernels=list(fields["kernels"]))


def verified(plan, max_buffer_bytes, what="the plan"):
    """``plan`` after ``verify_plan`` (writing only ``LOADED_WRITABLE``) and with its arena
    and every input and output within ``max_buffer_bytes``; a ``PlanError`` names ``what``
    was refused."""
    try:
        _check_buffer_limits(plan, max_buffer_bytes)
        verify_plan(plan, plan.kernels, LOADED_WRITABLE)
    except PlanError as exc:
        raise PlanError(f"{what} is invalid and was not run: {exc}") from None
    return plan


def _check_buffer_limits(plan, limit):
    """The buffers a plan runs with that its file does not hold, each at most ``limit``."""
    buffers = [("the arena ('arena_bytes')", int(plan.arena_bytes))]
    buffers += [(f"input {name!r}", _nbytes(shape, dtype))
                for name, shape, dtype in plan.input_specs]
    buffers += [(f"output {i}", _nbytes(shape, dtype))
                for i, (shape, dtype) in enumerate(plan.output_specs)]
    for what, nbytes in buffers:
        if nbytes > limit:
            raise PlanError(f"{what} needs {nbytes} bytes, more than the limit {limit} "
                            "(pass limits=Limits(max_buffer_bytes=...) to allow it)")


def _nbytes(shape, dtype):
    return int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize


@dataclass
class BatchPlans:
    """What a batch-generic file holds besides its generic plan (at N = 0)."""
    coefficients: BatchCoefficients
    plans: dict          # batch size -> (LoadedPlan, indices of its weights), verified
    max_buffer_bytes: int  # the loader's limit, for the plans instantiated per batch size


def _batch_at(specs, n):
    return [dict(s, shape=batch_shape(s["shape"], n)) for s in specs]


def _read_batch(reader, manifest, plan, file_abi, inputs, outputs, weights):
    """The per-batch coefficients and the plans of their own of a batch-generic file."""
    batch, limit = manifest["batch"], reader.limits.max_buffer_bytes
    if not isinstance(batch, dict) or not isinstance(batch.get("per_batch"), dict) or \
            not isinstance(batch.get("plans"), list):
        raise reader.error("'batch' must be null or an object with 'per_batch' and 'plans'",
                           "manifest.json")
    per_batch = {}
    for key, size in (("iargs", len(plan.iargs)), ("slots", len(plan.slots))):
        entry = batch["per_batch"].get(key)
        if not isinstance(entry, str):
            raise reader.error(f"'batch' names no per-batch '{key}' entry", "manifest.json")
        per_batch[key] = reader.array(entry, (size,), "int64")
    coefficients = BatchCoefficients(
        iargs=per_batch["iargs"], slots=per_batch["slots"],
        arena_bytes=_count(reader, batch, "arena_bytes_per_batch", "batch "),
        unplanned_bytes=_count(reader, batch, "unplanned_bytes_per_batch", "batch "),
        min_batch=_count(reader, batch, "min_batch", "batch ", least=1))
    own = {}
    for i, item in enumerate(batch["plans"]):
        what = f"batch plans[{i}] "
        if not isinstance(item, dict):
            raise reader.error(f"{what}must be an object", "manifest.json")
        n = _count(reader, item, "batch_size", what, least=1)
        indices = item.get("weights")
        if n >= coefficients.min_batch or n in own or not isinstance(indices, list) or any(
                isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < len(weights)
                for j in indices):
            raise reader.error(f"{what}must have a new batch size below {coefficients.min_batch}"
                               f" and indices of the file's weights", "manifest.json")
        consts = [reader.array(c["entry"], c["shape"], c["dtype"])
                  for c in _specs(reader, item, "consts", entry=True)]
        specs = (_batch_at(inputs, n), _batch_at(outputs, n), [weights[j] for j in indices],
                 consts)
        own[n] = (verified(_read_plan(reader, item, file_abi, specs, what), limit,
                           f"the plan for batch {n}"), indices)
    missing = sorted(set(range(1, coefficients.min_batch)) - set(own))
    if missing:
        raise reader.error(f"has no plan for batch size(s) {missing}", "manifest.json")
    verified(instantiate(plan, coefficients, coefficients.min_batch), limit,
             f"the plan for batch {coefficients.min_batch}")
    return BatchPlans(coefficients, own, limit)


def read_compiled(path, limits=None):
    """(LoadedPlan, weight arrays, manifest) from a ``.gnx`` file, verified. For a
    batch-generic file the plan is the generic one at N = 0 and ``manifest["batch"]`` a
    ``BatchPlans``; otherwise ``manifest["batch"]`` is None."""
    with ArchiveReader(path, "graphnet compiled model", limits) as reader:
        manifest = reader.json("manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            got = manifest.get("format") if isinstance(manifest, dict) else None
            raise reader.error(f"manifest.json says format {got!r}, expected {FORMAT!r} "
                               "(a model saved with model.save loads with "
                               "gn.models.load_model)", "manifest.json")
        version = manifest.get("format_version")
        if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise reader.error(f"format version {version!r} is not supported (this graphnet "
                               f"reads 1 to {FORMAT_VERSION})", "manifest.json")
        if not isinstance(manifest.get("abi"), dict):
            raise reader.error("'abi' is missing", "manifest.json")
        generic = version >= 2 and manifest.get("batch") is not None
        inputs = _specs(reader, manifest, "inputs", generic=generic)
        outputs = _specs(reader, manifest, "outputs", generic=generic)
        weights = _specs(reader, manifest, "weights", entry=True)
        consts = _specs(reader, manifest, "consts", entry=True)
        weight_values = [reader.array(w["entry"], w["shape"], w["dtype"]) for w in weights]
        const_values = [reader.array(c["entry"], c["shape"], c["dtype"]) for c in consts]
        plan = _read_plan(reader, manifest, manifest["abi"],
                          (inputs, outputs, weights, const_values))
        try:
            if generic:
                batch = _read_batch(reader, manifest, plan, manifest["abi"], inputs, outputs,
                                    weights)
            else:
                batch = None
                verified(plan, reader.limits.max_buffer_bytes)
        except PlanError as exc:
            raise reader.error(str(exc)) from None
        manifest = dict(manifest, inputs=inputs, outputs=outputs, batch=batch)
    return plan, weight_values, manifest


def _convertible(src, dst):
    if src.kind not in "biuf" or dst.kind not in "biuf":
        return False
    return not (src.kind == "f" and dst.kind in "biu")


class CompiledModel(CachesPlans):
    """A compiled model loaded from a ``.gnx`` file: ``model(x)`` or ``model.predict(x)``.

    Runs on the C kernels through one ``gn_plan_run`` call per batch; several threads
    may call it at once. A file exported for any batch size (``batch_size`` None) runs
    any number of samples: the plan for each batch size is made from the file's generic
    plan and verified on first use, and the ``max_cached_plans`` most recently used are
    kept (``clear_cache()`` drops them). A file exported with a fixed batch size takes
    inputs of exactly its ``input_specs`` shapes.
    """

    def __init__(self, plan, weight_values, manifest, max_cached_plans=DEFAULT_CACHED_PLANS):
        self.plan = plan
        self.name = manifest.get("name", "model")
        self.input_specs = [dict(s) for s in manifest["inputs"]]
        self.output_specs = [dict(s) for s in manifest["outputs"]]
        self.input_names = [s["name"] for s in self.input_specs]
        self.output_names = [s["name"] for s in self.output_specs]
        self.metadata = {k: manifest.get(k) for k in ("graphnet_version", "date_saved",
                                                      "format_version")}
        self._weights = [_Weight(n, v) for (n, _, _), v in zip(plan.weight_specs,
                                                                 weight_values)]
        self._batch = manifest.get("batch")
        self._cache = PlanCache(max_cached_plans)     # batch size -> Executable
        if self._batch is None:
            self._exe = Executable(plan, self._weights)
        else:
            self._own = {n: Executable(own, [self._weights[i] for i in indices])
                         for n, (own, indices) in self._batch.plans.items()}

    @property
    def weights(self):
        return [w.value for w in self._weights]

    @property
    def batch_size(self):
        """The batch size fixed at export, or None when the file takes any batch size."""
        if self._batch is not None:
            return None
        sizes = {s["shape"][0] if s["shape"] else None for s in self.input_specs}
        return sizes.pop() if len(sizes) == 1 else None

    def cached_batch_sizes(self):
        """The batch sizes whose plans are cached, least recently used first."""
        return self._cache.keys()

    def executable(self, n):
        """The verified ``Executable`` for batch size ``n``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{self.name}: batch size must be an integer >= 1, got {n!r}")
        if self._batch is None:
            if n != self.batch_size:
                raise ValueError(f"{self.name}: the batch size is fixed at {self.batch_size} "
                                 f"(export with batch_size=None for any), got {n}")
            return self._exe
        if n in self._own:
            return self._own[n]
        exe = self._cache.get(n)
        if exe is None:
            plan = instantiate(self.plan, self._batch.coefficients, n)
            exe = self._cache.put(n, Executable(
                verified(plan, self._batch.max_buffer_bytes, f"the plan for batch {n}"),
                self._weights))
        return exe

    def _check(self, arrays):
        if len(arrays) == 1 and isinstance(arrays[0], dict):
            missing = [n for n in self.input_names if n not in arrays[0]]
            if missing:
                raise ValueError(f"{self.name}: missing input(s) {missing}")
            arrays = [arrays[0][n] for n in self.input_names]
        if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)) and \
                len(self.input_specs) != 1:
            arrays = list(arrays[0])
        if len(arrays) != len(self.input_specs):
            raise ValueError(f"{self.name} expects {len(self.input_specs)} input(s) "
                             f"({', '.join(self.input_names)}), got {len(arrays)}")
        return [np.asarray(a) for a in arrays]

    def _samples(self, arrays):
        """The batch size of ``arrays``: the leading dimension of the batched inputs."""
        sizes = {}
        for a, spec in zip(arrays, self.input_specs):
            batched = spec["shape"] and (spec["shape"][0] is None or self._batch is None)
            if batched and a.ndim:
                sizes[spec["name"]] = a.shape[0]
        if len(set(sizes.values())) > 1:
            raise ValueError(f"{self.name}: inputs have different numbers of samples: "
                             f"{sizes}")
        n = next(iter(sizes.values()), None)
        if n is None:
            raise ValueError(f"{self.name}: no input has a batch dimension")
        return n

    def _coerce(self, array, spec, n):
        want = np.dtype(spec["dtype"])
        if not _convertible(array.dtype, want):
            raise TypeError(f"{self.name}: input {spec['name']!r} expects dtype {want}, got "
                            f"{array.dtype}")
        shape = batch_shape(spec["shape"], n)
        if tuple(array.shape) != shape:
            hint = (" (fixed at export; export with batch_size=None for any batch size)"
                    if self._batch is None else "")
            raise ValueError(f"{self.name}: input {spec['name']!r} expects shape "
                             f"{_shape_text(spec['shape'])}{hint}, got {tuple(array.shape)}")
        return np.asarray(array, dtype=want, order="C")

    def _run(self, arrays, n):
        if n < 1:
            raise ValueError(f"{self.name}: batch size must be >= 1, got {n} samples")
        inputs = [self._coerce(a, s, n) for a, s in zip(arrays, self.input_specs)]
        return self.executable(n).run(inputs)

    def run(self, *arrays):
        """Outputs (a list) for one batch: inputs of the exported shapes (any batch size
        unless it was fixed at export)."""
        arrays = self._check(arrays)
        return self._run(arrays, self._samples(arrays))

    def __call__(self, *arrays):
        outs = self.run(*arrays)
        return outs[0] if len(outs) == 1 else outs

    def predict(self, x, batch_size=None):
        """Outputs for any number of samples, run ``batch_size`` at a time (default 32, as
        Keras) and the rest as one smaller batch. A file with a fixed batch size runs
        batches of that size only (``batch_size`` None or that size), the last one
        zero-padded."""
        arrays = self._check([x])
        n = self._samples(arrays)
        fixed = self.batch_size
        if self._batch is None:
            if batch_size not in (None, fixed):
                raise ValueError(f"{self.name}: predict runs batches of the exported size "
                                 f"{fixed}, got batch_size={batch_size}; export with "
                                 f"batch_size=None for any batch size")
            batch = fixed
        else:
            batch = DEFAULT_PREDICT_BATCH if batch_size is None else batch_size
            if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or \
                    batch < 1:
                raise ValueError(f"{self.name}: batch_size must be an integer >= 1, got "
                                 f"{batch_size!r}")
        if n < 1:
            raise ValueError(f"{self.name}: predict needs at least 1 sample, got {n}")
        pieces = []
        for start in range(0, n, batch):
            chunk = [self._part(a, s, start, batch) for a, s in zip(arrays, self.input_specs)]
            outs = self._run(chunk, self._samples(chunk))
            pieces.append([o[:min(batch, n - start)] for o in outs])
        merged = [np.concatenate([p[i] for p in pieces]) for i in range(len(self.output_specs))]
        return merged[0] if len(merged) == 1 else merged

    def _part(self, array, spec, start, batch):
        """Samples [start, start + batch) of a batched input (a fixed-batch file's last
        part zero-padded to its size); an input without a batch dimension whole."""
        if not spec["shape"] or (self._batch is not None and spec["shape"][0] is not None):
            return array
        part = array[start:start + batch]
        if self._batch is None and part.shape[0] < batch:
            pad = np.zeros((batch - part.shape[0],) + part.shape[1:], part.dtype)
            part = np.concatenate([part, pad])
        return part

    def summary(self):
        if self._batch is None:
            arena = f"arena {self.plan.arena_bytes} bytes"
        else:
            arena = (f"arena {self.plan.arena_bytes} + {self._batch.coefficients.arena_bytes}"
                     f"*N bytes at batch size N")
        lines = [f"CompiledModel '{self.name}': {self.plan.kernel_count} kernel steps, "
                 f"{arena}, {len(self._weights)} weights"]
        lines += [f"  input  {s['name']}: {_shape_text(s['shape'])} {s['dtype']}"
                  for s in self.input_specs]
        lines += [f"  output {s['name']}: {_shape_text(s['shape'])} {s['dtype']}"
                  for s in self.output_specs]
        return "\n".join(lines)

    def __repr__(self):
        shapes = ", ".join(_shape_text(s["shape"]) for s in self.input_specs)
        return f"<CompiledModel {self.name} inputs=[{shapes}]>"


def _shape_text(shape):
    """(None, 12) shows as (N, 12): N is the batch size."""
    dims = ["N" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def load_compiled(path, limits=None, max_cached_plans=DEFAULT_CACHED_PLANS):
    """Load a ``.gnx`` file written by ``model.export`` / ``gn.export.export_compiled``.

    Returns a ``CompiledModel``. Only graphnet.runtime is used: the model-building code
    is never imported. The file is checked (sizes, entries, every plan access in bounds)
    before anything runs; a bad file raises ``FileFormatError`` (a ``ValueError``). The
    plan for each further batch size of a batch-generic file is verified before its
    first run (``PlanError``, a ``ValueError``, when it is refused);
    ``max_cached_plans`` of them are kept.
    """
    plan, weights, manifest = read_compiled(path, limits)
    return CompiledModel(plan, weights, manifest, max_cached_plans)
