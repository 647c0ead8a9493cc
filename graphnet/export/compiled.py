"""Compiled-model files (``.gnx``): an optimized plan with its weights, runnable
without the model-building code.

``write_compiled`` stores a ``Plan`` (see graphnet/export/FORMAT.md);
``load_compiled`` reads one back into a ``CompiledModel`` that runs on
``graphnet.runtime.Executable`` alone. This module imports only NumPy, the runtime,
the safe archive reader and the plan verifier: never graphnet.engine, graphnet.layers
or the compiler. A loaded plan is verified (every memory access in bounds) before
it can run, so a hand-edited file is refused, not executed.
"""
import datetime
from dataclasses import dataclass, field

import numpy as np

from ..runtime.cext import lib
from ..runtime.executor import Executable
from ..saving.archive import ARRAY_DTYPES, ArchiveReader, ArchiveWriter
from .verify import PlanError, verify_plan

FORMAT = "graphnet.compiled"
FORMAT_VERSION = 1
EXTENSION = ".gnx"
PLAN_ENTRIES = {"steps": ("plan/steps.npy", "int64", 2), "iargs": ("plan/iargs.npy", "int64", 1),
                "fargs": ("plan/fargs.npy", "float32", 1),
                "slots": ("plan/slots.npy", "int64", 2)}


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

    @property
    def kernel_count(self):
        return len(self.steps)

    def describe(self):
        return "\n".join(f"{i:4d} {k}" for i, k in enumerate(self.kernels))


class _Weight:
    """The light holder Executable binds a weight through (it reads ``.value`` and
    ``.version``): read-only, so version 0 for life."""
    __slots__ = ("name", "value", "version", "__weakref__")

    def __init__(self, name, value):
        value.flags.writeable = False
        self.name, self.value, self.version = name, value, 0


# -- writing ----------------------------------------------------------------------------
def write_compiled(path, plan, weight_values, output_names=None, name="model",
                   overwrite=True):
    """Write ``plan`` and its weights (arrays in ``plan.weight_specs`` order) to ``path``."""
    verify_plan(plan, plan.kernels)  # refuse to write what the loader would refuse
    output_names = list(output_names or [f"output_{i}" for i in range(len(plan.output_specs))])
    weights = []
    for i, ((wname, shape, dtype), value) in enumerate(zip(plan.weight_specs, weight_values)):
        value = np.asarray(value, order="C")
        if value.shape != tuple(shape) or str(value.dtype) != dtype:
            raise ValueError(f"weight {wname}: value is {value.shape} {value.dtype}, the plan "
                             f"was compiled for {tuple(shape)} {dtype}")
        weights.append(({"name": wname, "shape": list(shape), "dtype": dtype,
                         "entry": f"weights/{i:05d}.npy"}, value))
    consts = [({"shape": list(np.shape(c)), "dtype": str(np.asarray(c).dtype),
                "entry": f"consts/{i:05d}.npy"}, np.asarray(c, order="C"))
              for i, c in enumerate(plan.consts)]
    from .. import __version__
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "graphnet_version": __version__,
        "date_saved": datetime.datetime.now().isoformat(timespec="seconds"),
        "name": name, "abi": abi(),
        "arena_bytes": int(plan.arena_bytes), "unplanned_bytes": int(plan.unplanned_bytes),
        "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in plan.input_specs],
        "outputs": [{"name": n, "shape": list(s), "dtype": d}
                    for n, (s, d) in zip(output_names, plan.output_specs)],
        "weights": [w for w, _ in weights], "consts": [c for c, _ in consts],
        "kernels": list(plan.kernels),
        "plan": {key: entry for key, (entry, _, _) in PLAN_ENTRIES.items()},
    }
    with ArchiveWriter(path, overwrite=overwrite) as zf:
        zf.json("manifest.json", manifest)
        for key, (entry, _, _) in PLAN_ENTRIES.items():
            zf.array(entry, getattr(plan, key))
        for meta, value in weights + consts:
            zf.array(meta["entry"], value)


# -- reading ------------------------------------------------------------------------------
def _shape(reader, value, what):
    if not isinstance(value, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise reader.error(f"{what} has a malformed shape {value!r}", "manifest.json")
    return tuple(value)


def _dtype(reader, value, what):
    if value not in ARRAY_DTYPES:
        raise reader.error(f"{what} has unsupported dtype {value!r}", "manifest.json")
    return value


def _specs(reader, manifest, key, entry=False):
    items = manifest.get(key)
    if not isinstance(items, list):
        raise reader.error(f"'{key}' must be a list", "manifest.json")
    out = []
    for i, item in enumerate(items):
        what = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise reader.error(f"{what} must be an object", "manifest.json")
        spec = {"shape": _shape(reader, item.get("shape"), what),
                "dtype": _dtype(reader, item.get("dtype"), what),
                "name": str(item.get("name", f"{key}_{i}"))}
        if entry:
            if not isinstance(item.get("entry"), str):
                raise reader.error(f"{what} has no entry name", "manifest.json")
            spec["entry"] = item["entry"]
        out.append(spec)
    return out


def _remap_kernels(reader, steps, kernels, file_abi):
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
                               f"name {name!r}", "plan/steps.npy")
        steps[i, 0] = mine[name]
    return steps


def read_compiled(path, limits=None):
    """(LoadedPlan, weight arrays, manifest) from a ``.gnx`` file, verified."""
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
        for key in ("arena_bytes", "unplanned_bytes"):
            if not isinstance(manifest.get(key), int) or manifest[key] < 0:
                raise reader.error(f"'{key}' must be a non-negative integer", "manifest.json")
        if not isinstance(manifest.get("abi"), dict) or not isinstance(
                manifest.get("kernels"), list):
            raise reader.error("'abi' and 'kernels' are missing", "manifest.json")
        inputs = _specs(reader, manifest, "inputs")
        outputs = _specs(reader, manifest, "outputs")
        weights = _specs(reader, manifest, "weights", entry=True)
        consts = _specs(reader, manifest, "consts", entry=True)
        arrays = {}
        for key, (entry, dtype, ndim) in PLAN_ENTRIES.items():
            arrays[key] = reader.array(entry, dtype=dtype)
            if arrays[key].ndim != ndim:
                raise reader.error(f"must be {ndim}-D, got shape {arrays[key].shape}", entry)
        steps = arrays["steps"]
        if steps.ndim != 2 or steps.shape[1] != 4:
            raise reader.error(f"must have shape (n, 4), got {steps.shape}", "plan/steps.npy")
        steps = _remap_kernels(reader, steps, manifest["kernels"], manifest["abi"])
        weight_values = [reader.array(w["entry"], w["shape"], w["dtype"]) for w in weights]
        const_values = [reader.array(c["entry"], c["shape"], c["dtype"]) for c in consts]
        plan = LoadedPlan(
            steps=steps, iargs=arrays["iargs"], fargs=arrays["fargs"], slots=arrays["slots"],
            consts=const_values, arena_bytes=manifest["arena_bytes"],
            unplanned_bytes=manifest["unplanned_bytes"],
            input_specs=[(s["name"], s["shape"], s["dtype"]) for s in inputs],
            output_specs=[(s["shape"], s["dtype"]) for s in outputs],
            weight_specs=[(s["name"], s["shape"], s["dtype"]) for s in weights],
            kernels=list(manifest["kernels"]))
        try:
            verify_plan(plan, plan.kernels)
        except PlanError as exc:
            raise reader.error(f"the plan is invalid and was not run: {exc}") from None
        manifest = dict(manifest, inputs=inputs, outputs=outputs)
    return plan, weight_values, manifest


def _convertible(src, dst):
    if src.kind not in "biuf" or dst.kind not in "biuf":
        return False
    return not (src.kind == "f" and dst.kind in "biu")


class CompiledModel:
    """A compiled model loaded from a ``.gnx`` file: ``model(x)`` or ``model.predict(x)``.

    Runs on the C kernels through one ``gn_plan_run`` call per batch; several threads
    may call it at once. Its input shapes are fixed at export (``input_specs``);
    ``predict`` accepts any number of samples and runs them in batches of that size.
    """

    def __init__(self, plan, weight_values, manifest):
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
        self._exe = Executable(plan, self._weights)

    @property
    def weights(self):
        return [w.value for w in self._weights]

    @property
    def batch_size(self):
        """The leading dimension every input was compiled for (None if they differ)."""
        sizes = {s["shape"][0] if s["shape"] else None for s in self.input_specs}
        return sizes.pop() if len(sizes) == 1 else None

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

    def _coerce(self, array, spec):
        want = np.dtype(spec["dtype"])
        if not _convertible(array.dtype, want):
            raise TypeError(f"{self.name}: input {spec['name']!r} expects dtype {want}, got "
                            f"{array.dtype}")
        if tuple(array.shape) != tuple(spec["shape"]):
            raise ValueError(f"{self.name}: input {spec['name']!r} expects shape "
                             f"{tuple(spec['shape'])} (fixed at export), got "
                             f"{tuple(array.shape)}")
        return np.asarray(array, dtype=want, order="C")

    def run(self, *arrays):
        """Outputs (a list) for inputs of exactly the exported shapes."""
        arrays = self._check(arrays)
        return self._exe.run([self._coerce(a, s) for a, s in zip(arrays, self.input_specs)])

    def __call__(self, *arrays):
        outs = self.run(*arrays)
        return outs[0] if len(outs) == 1 else outs

    def predict(self, x, batch_size=None):
        """Outputs for any number of samples, run in batches of the exported batch size
        (the last batch is zero-padded). ``batch_size`` must be None or that size."""
        arrays = self._check([x])
        batch = self.batch_size
        if batch is None or batch_size not in (None, batch):
            raise ValueError(f"{self.name}: predict runs batches of the exported size "
                             f"{batch}; export again with batch_size={batch_size}")
        n = {a.shape[0] if a.ndim else None for a in arrays}
        if len(n) != 1 or None in n:
            raise ValueError(f"{self.name}: inputs have different numbers of samples: "
                             f"{[a.shape for a in arrays]}")
        n = n.pop()
        pieces = []
        for start in range(0, max(n, 1), batch):
            chunk = []
            for a, spec in zip(arrays, self.input_specs):
                part = a[start:start + batch]
                if part.shape[0] < batch:
                    pad = np.zeros((batch - part.shape[0],) + part.shape[1:], part.dtype)
                    part = np.concatenate([part, pad])
                chunk.append(self._coerce(part, spec))
            outs = self._exe.run(chunk)
            pieces.append([o[:min(batch, n - start)] for o in outs])
        merged = [np.concatenate([p[i] for p in pieces]) for i in range(len(self.output_specs))]
        return merged[0] if len(merged) == 1 else merged

    def summary(self):
        lines = [f"CompiledModel '{self.name}': {self.plan.kernel_count} kernel steps, "
                 f"arena {self.plan.arena_bytes} bytes, {len(self._weights)} weights"]
        lines += [f"  input  {s['name']}: {tuple(s['shape'])} {s['dtype']}"
                  for s in self.input_specs]
        lines += [f"  output {s['name']}: {tuple(s['shape'])} {s['dtype']}"
                  for s in self.output_specs]
        return "\n".join(lines)

    def __repr__(self):
        return f"<CompiledModel {self.name} inputs={[tuple(s['shape']) for s in self.input_specs]}>"


def load_compiled(path, limits=None):
    """Load a ``.gnx`` file written by ``model.export`` / ``gn.export.export_compiled``.

    Returns a ``CompiledModel``. Only graphnet.runtime is used: the model-building code
    is never imported. The file is checked (sizes, entries, every plan access in bounds)
    before anything runs; a bad file raises ``FileFormatError`` (a ``ValueError``).
    """
    plan, weights, manifest = read_compiled(path, limits)
    return CompiledModel(plan, weights, manifest)
