"""Standalone C export: a compiled plan as C source that builds with plain ``cc``.

``to_c(model, directory)`` writes (see graphnet/export/C_API.md):

    <name>.h / <name>.c   the API (<name>_run) and the plan, weights and constants as
                          static arrays; by default the batch size is an argument n (a
                          batch-generic plan: its int arguments, slot offsets and arena
                          size are base + n * per-batch coefficient, see batch_fit.py)
    <name>_test.c         a self-test: inputs and the outputs graphnet computed at export,
                          at several batch sizes
    graphnet/             the kernel sources (a copy of csrc/)
    Makefile              lib<name>.a, lib<name>.so, <name>_test; `make test` runs it

Like keras2c, the export records test inputs and expected outputs so the built
library checks itself. No Python is needed to build or run the result.
"""
import glob
import os
import re
import shutil

import numpy as np

from .source import concrete_shapes, graph_of, sample_inputs
from .verify import verify_plan

C_TYPES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
           "uint8": "uint8_t", "bool": "uint8_t", "int8": "int8_t"}
CSRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "csrc")
ATOL = RTOL = 1e-5
PER_LINE = 8


def _c_identifier(name):
    ident = re.sub(r"\W", "_", str(name)).strip("_") or "model"
    return ident if not ident[0].isdigit() else "m_" + ident


def _float_literal(x, suffix):
    x = float(x)
    if np.isnan(x):
        return "NAN"
    if np.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    text = x.hex()                       # exact: '0x1.8000000000000p+1'
    mantissa, exponent = text.split("p")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exponent}{suffix}"


def _int_literal(v):
    v = int(v)
    return "(-INT64_MAX - 1)" if v == -(1 << 63) else str(v)


def c_values(array):
    """C initializer text for an array (exact float literals)."""
    flat = np.asarray(array).reshape(-1)
    if flat.size == 0:
        return "0"
    if flat.dtype == np.float32:
        items = [_float_literal(v, "f") for v in flat.tolist()]
    elif flat.dtype == np.float64:
        items = [_float_literal(v, "") for v in flat.tolist()]
    else:
        items = [_int_literal(v) for v in flat.astype(np.int64).tolist()]
    lines = [", ".join(items[i:i + PER_LINE]) for i in range(0, len(items), PER_LINE)]
    return "\n    " + ",\n    ".join(lines) + "\n"


def _array(decl, array):
    """``decl[n] = {...};`` (C has no empty arrays: an empty one gets one zero)."""
    n = max(int(np.asarray(array).size), 1)
    return f"{decl}[{n}] GN_ALIGNED = {{{c_values(array)}}};"


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _size_text(shape, batched):
    """C expression of the element count of ``shape`` (its None is the batch n)."""
    per = int(np.prod([d for d in shape if d is not None], dtype=np.int64))
    return f"((int64_t)(n) * {per})" if batched and None in shape else str(per)


def _plan_arrays(prefix, plan):
    """The static arrays of one plan's steps, int and float arguments and slots."""
    rows = [f"    {k}, {ioff}, {foff}, {nargs},"
            for k, (_, ioff, foff, nargs) in zip(plan.kernels, plan.steps.tolist())]
    return ([f"static const int64_t {prefix}steps[{max(len(rows), 1) * 4}] = {{"] +
            (rows or ["    0, 0, 0, 0"]) + ["};",
            _array(f"static const int64_t {prefix}iargs", plan.iargs),
            _array(f"static const float {prefix}fargs", plan.fargs),
            _array(f"static const int64_t {prefix}slots", plan.slots)])


def _pointer_table(decl, names):
    return f"static void *const {decl}[] = {{{', '.join(names) or '0'}}};"


class _Source:
    """The generated sources of one export. ``batch`` is None for a plan of fixed shapes,
    else ``(coefficients, specialized, max_batch)`` of a batch-generic ``plan``."""

    def __init__(self, name, plan, weight_values, in_names, out_names, batch=None):
        self.name, self.plan, self.weights = name, plan, weight_values
        self.in_names, self.out_names = in_names, out_names
        self.NAME = name.upper()
        self.batch = batch

    def _size_macros(self):
        p, N, generic = self.plan, self.NAME, self.batch is not None
        arg = "(n)" if generic else ""
        lines = []
        for kind, specs, names in (("INPUT", [(s, d) for _, s, d in p.input_specs],
                                    self.in_names),
                                   ("OUTPUT", p.output_specs, self.out_names)):
            for i, ((shape, dtype), nm) in enumerate(zip(specs, names)):
                shown = tuple("n" if d is None else d for d in shape)
                lines.append(f"#define {N}_{kind}{i}_SIZE{arg} {_size_text(shape, generic)}"
                             f"  /* {nm}: {_shape_text(shown)} {dtype} */")
        return lines

    def header(self):
        p, N, n = self.plan, self.NAME, self.name
        pad = " " * (len(n) + 20)
        if self.batch is None:
            doc = [f" * {n}_run(inputs, outputs): inputs[i] and outputs[i] point to contiguous",
                   " * row-major arrays of the shapes below (pass other dtypes by casting the",
                   " * pointer). Returns 0 on success. It uses a static work arena, so it is not",
                   f" * reentrant; {n}_run_with_arena is, given {n}_arena_bytes() of memory per",
                   " * concurrent call. Threads: GRAPHNET_NUM_THREADS or gn_set_num_threads()."]
            consts = [f"#define {N}_ARENA_BYTES {max(p.arena_bytes, 64)}"]
            api = [f"int {n}_run(const float *const *inputs, float *const *outputs);",
                   f"int {n}_run_with_arena(const float *const *inputs, float *const *outputs,",
                   f"{pad}void *arena);",
                   f"size_t {n}_arena_bytes(void);"]
        else:
            doc = [f" * {n}_run(n, inputs, outputs): n samples, 1 <= n <= {N}_MAX_BATCH;",
                   " * inputs[i] and outputs[i] point to contiguous row-major arrays of the",
                   " * shapes below (pass other dtypes by casting the pointer). Returns 0 on",
                   f" * success, {N}_BAD_BATCH for n out of range, {N}_NO_MEMORY when its",
                   f" * arena cannot be allocated. {n}_run allocates a work arena per call;",
                   f" * {n}_run_with_arena takes one of {n}_arena_bytes(n) bytes (reentrant).",
                   " * Threads: GRAPHNET_NUM_THREADS or gn_set_num_threads()."]
            consts = [f"#define {N}_MAX_BATCH {int(self.batch[2])}",
                      f"#define {N}_BAD_BATCH 1", f"#define {N}_NO_MEMORY 2"]
            api = [f"int {n}_run(int64_t n, const float *const *inputs, float *const *outputs);",
                   f"int {n}_run_with_arena(int64_t n, const float *const *inputs,",
                   f"{pad}float *const *outputs, void *arena);",
                   f"size_t {n}_arena_bytes(int64_t n);  /* 0 when n is out of range */"]
        lines = ([f"/* {n}: a graphnet model exported as C (generated by graphnet.export.to_c).",
                  " *"] + doc + [" */", f"#ifndef {N}_H", f"#define {N}_H",
                                 "#include <stddef.h>", "#include <stdint.h>",
                                 "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
                                 f"#define {N}_NUM_INPUTS {len(p.input_specs)}",
                                 f"#define {N}_NUM_OUTPUTS {len(p.output_specs)}"] +
                 consts + self._size_macros() + [""] + api +
                 [f"const char *{n}_input_name(int i);", f"const char *{n}_output_name(int i);",
                  "", "#ifdef __cplusplus", "}", "#endif", f"#endif /* {N}_H */", ""])
        return "\n".join(lines)

    def _data(self, written):
        """Weights (const unless a plan writes them) and the constants of ``plan``."""
        p, out = self.plan, []
        for i, ((wname, shape, dtype), value) in enumerate(zip(p.weight_specs, self.weights)):
            const = "" if i in written else "const "
            out.append(f"/* weight {i}: {wname} {_shape_text(shape)} {dtype} */")
            out.append(_array(f"static {const}{C_TYPES[dtype]} w{i}", value))
        out += self._consts("c", "consts", p.consts)
        out.append(_pointer_table("weights", [f"(void *)w{i}"
                                              for i in range(len(p.weight_specs))]))
        return out

    @staticmethod
    def _consts(prefix, table, consts):
        out = []
        for i, value in enumerate(consts):
            value = np.asarray(value)
            out.append(f"/* constant {i}: {_shape_text(value.shape)} {value.dtype} */")
            out.append(_array(f"static const {C_TYPES[str(value.dtype)]} {prefix}{i}", value))
        out.append(_pointer_table(table, [f"(void *){prefix}{i}" for i in range(len(consts))]))
        return out

    def _names(self):
        n, N = self.name, self.NAME
        names_in = ", ".join(f'"{s}"' for s in self.in_names) or '""'
        names_out = ", ".join(f'"{s}"' for s in self.out_names) or '""'
        return [f"static const char *const input_names[] = {{{names_in}}};",
                f"static const char *const output_names[] = {{{names_out}}};", "",
                f"const char *{n}_input_name(int i) {{",
                f"    return i >= 0 && i < {N}_NUM_INPUTS ? input_names[i] : 0;", "}",
                "", f"const char *{n}_output_name(int i) {{",
                f"    return i >= 0 && i < {N}_NUM_OUTPUTS ? output_names[i] : 0;",
                "}", ""]

    def source(self, written):
        p, n = self.plan, self.name
        out = [f"/* {n}: the compiled plan, weights and constants (generated by graphnet). */",
               "#include <math.h>", "#include <stdint.h>", "#include <stdlib.h>",
               '#include "graphnet.h"', f'#include "{n}.h"', "",
               "#if defined(__GNUC__)", "#define GN_ALIGNED __attribute__((aligned(64)))",
               "#else", "#define GN_ALIGNED", "#endif", ""]
        out += _plan_arrays("", p) + self._data(written)
        out += self._fixed_run() if self.batch is None else self._generic_run()
        return "\n".join(out + [""] + self._names())

    def _fixed_run(self):
        p, n, N = self.plan, self.name, self.NAME
        pad = " " * (len(n) + 20)
        return [f"static const gn_plan plan = {{{len(p.steps)}, steps, iargs, fargs, "
                f"{len(p.slots)}, slots, consts, 0}};",
                f"static unsigned char arena[{N}_ARENA_BYTES] GN_ALIGNED;", "",
                f"size_t {n}_arena_bytes(void) {{ return {N}_ARENA_BYTES; }}", "",
                f"int {n}_run_with_arena(const float *const *inputs, float *const *outputs,",
                f"{pad}void *work) {{",
                "    return gn_plan_run(&plan, (void *const *)inputs, (void *const *)outputs,",
                "                       weights, work);", "}", "",
                f"int {n}_run(const float *const *inputs, float *const *outputs) {{",
                f"    return {n}_run_with_arena(inputs, outputs, arena);", "}"]

    def _generic_run(self):
        """The generic plan's per-batch coefficients, the plans of their own (batch 1) and
        the run functions: the int arguments and slots for n are computed into the head of
        the arena."""
        p, n, N = self.plan, self.name, self.NAME
        coefficients, specialized, _ = self.batch
        pad = " " * (len(n) + 20)
        ni, ns = len(p.iargs), len(p.slots)
        out = [_array("static const int64_t iargs_per_batch", coefficients.iargs),
               _array("static const int64_t slot_offsets_per_batch", coefficients.slots),
               f"#define HEADER_BYTES (({ni} + 3 * {ns}) * 8 / 64 * 64 + 64)",
               f"#define ARENA_BASE {int(p.arena_bytes)}",
               f"#define ARENA_PER_BATCH {int(coefficients.arena_bytes)}", ""]
        own_cases, own_sizes = [], []
        for b, (own, indices) in sorted(specialized.items()):
            prefix = f"b{b}_"
            out += _plan_arrays(prefix, own) + self._consts(f"{prefix}c", f"{prefix}consts",
                                                            own.consts)
            out += [_pointer_table(f"{prefix}weights", [f"(void *)w{i}" for i in indices]),
                    f"static const gn_plan {prefix}plan = {{{len(own.steps)}, {prefix}steps, "
                    f"{prefix}iargs, {prefix}fargs, {len(own.slots)}, {prefix}slots, "
                    f"{prefix}consts, 0}};", ""]
            own_sizes.append(f"    if (n == {b}) return {max(int(own.arena_bytes), 64)};")
            own_cases += [f"    if (n == {b})",
                          f"        return gn_plan_run(&{prefix}plan, ins, outs, "
                          f"{prefix}weights, work);"]
        out += [f"size_t {n}_arena_bytes(int64_t n) {{",
                f"    if (n < 1 || n > {N}_MAX_BATCH) return 0;"] + own_sizes + [
                "    return HEADER_BYTES + ARENA_BASE + ARENA_PER_BATCH * (size_t)n;", "}", "",
                f"int {n}_run_with_arena(int64_t n, const float *const *inputs,",
                f"{pad}float *const *outputs, void *work) {{",
                "    void *const *ins = (void *const *)inputs, *const *outs = "
                "(void *const *)outputs;",
                f"    if (n < 1 || n > {N}_MAX_BATCH) return {N}_BAD_BATCH;"] + own_cases + [
                f"    int64_t *ia = (int64_t *)work, *sl = ia + {ni};",
                f"    for (int64_t i = 0; i < {ni}; i++)",
                "        ia[i] = iargs[i] + n * iargs_per_batch[i];",
                f"    for (int64_t s = 0; s < {ns}; s++) {{",
                "        sl[3 * s] = slots[3 * s];",
                "        sl[3 * s + 1] = slots[3 * s + 1];",
                "        sl[3 * s + 2] = slots[3 * s + 2] + n * slot_offsets_per_batch[s];",
                "    }",
                f"    const gn_plan plan = {{{len(p.steps)}, steps, ia, fargs, {ns}, sl, consts, "
                "0};",
                "    return gn_plan_run(&plan, ins, outs, weights, (unsigned char *)work + "
                "HEADER_BYTES);", "}", "",
                f"int {n}_run(int64_t n, const float *const *inputs, float *const *outputs) {{",
                f"    const size_t bytes = {n}_arena_bytes(n);",
                f"    if (bytes == 0) return {N}_BAD_BATCH;",
                "    unsigned char *block = malloc(bytes + 64);",
                f"    if (!block) return {N}_NO_MEMORY;",
                "    void *arena = block + (64 - (uintptr_t)block % 64);  /* 64-byte aligned */",
                f"    const int status = {n}_run_with_arena(n, inputs, outputs, arena);",
                "    free(block);", "    return status;", "}"]
        return out

    def test(self, cases):
        """The self-test program: ``cases`` are (n, inputs, expected outputs); n is None
        for a plan of fixed shapes."""
        n = self.name
        out = [f"/* Self-test of {n}: runs the inputs recorded at export and compares with the",
               f" * outputs graphnet computed then (|got - want| <= {ATOL:g} + {RTOL:g} |want|),",
               " * on every thread count from GRAPHNET_NUM_THREADS (default: all) and one. */",
               "#include <math.h>", "#include <stdint.h>", "#include <stdio.h>",
               "#include <stdlib.h>", '#include "graphnet.h"', f'#include "{n}.h"', "",
               "#if defined(__GNUC__)", "#define GN_ALIGNED __attribute__((aligned(64)))",
               "#else", "#define GN_ALIGNED", "#endif", ""]
        calls = []
        for c, (batch, inputs, expected) in enumerate(cases):
            out += self._case(c, batch, inputs, expected)
            calls.append(f"    failed |= check_{c}();")
        out += ["int main(void) {", "    int failed = 0;"] + calls + [
                "    gn_set_num_threads(1);"] + calls + [
                f'    printf(failed ? "{n}: FAIL\\n" : "{n}: PASS\\n");',
                "    return failed;", "}", ""]
        return "\n".join(out)

    def _case(self, c, batch, inputs, expected):
        """``check_<c>()``: run one recorded case and compare."""
        n = self.name
        out = []
        for i, a in enumerate(inputs):
            out.append(_array(f"static const {C_TYPES[str(a.dtype)]} in{c}_{i}", a))
        for i, a in enumerate(expected):
            out.append(_array(f"static const {C_TYPES[str(a.dtype)]} want{c}_{i}", a))
            out.append(f"static {C_TYPES[str(a.dtype)]} got{c}_{i}[{max(a.size, 1)}] "
                       "GN_ALIGNED;")
        ins = ", ".join(f"(const float *)in{c}_{i}" for i in range(len(inputs))) or "0"
        outs = ", ".join(f"(float *)got{c}_{i}" for i in range(len(expected))) or "0"
        run = f"{n}_run(inputs, outputs)" if batch is None else f"{n}_run({batch}, inputs, outputs)"
        label = "" if batch is None else f"batch {batch}: "
        out += ["", f"static int check_{c}(void) {{",
                f"    const float *inputs[] = {{{ins}}};",
                f"    float *outputs[] = {{{outs}}};",
                "    int bad = 0;",
                "    double worst = 0.0;",
                f"    int rc = {run};",
                "    if (rc != 0) {",
                f'        printf("{label}{n}_run failed with status %d\\n", rc);',
                "        return 1;", "    }"]
        for i, a in enumerate(expected):
            got, want = f"got{c}_{i}", f"want{c}_{i}"
            if a.dtype.kind == "f":
                out += [f"    for (long j = 0; j < {a.size}L; j++) {{",
                        f"        double g = {got}[j], w = {want}[j], d = fabs(g - w);",
                        "        if (isnan(g) && isnan(w)) continue;",
                        "        if (d > worst || d != d) worst = d;",
                        f"        if (!(d <= {ATOL!r} + {RTOL!r} * fabs(w))) {{",
                        f'            if (bad < 5) printf("{label}output {i}[%ld]: got %.9g, '
                        f'want %.9g\\n", j, g, w);',
                        "            bad++;", "        }", "    }"]
            else:
                out += [f"    for (long j = 0; j < {a.size}L; j++)",
                        f"        if ({got}[j] != {want}[j]) {{",
                        f'            if (bad < 5) printf("{label}output {i}[%ld]: got %lld, '
                        f'want %lld\\n", j, (long long){got}[j], (long long){want}[j]);',
                        "            bad++;", "        }"]
        out += [f'    printf("{n}: {label}%d thread(s): max abs error %.3g, %d mismatch(es)\\n",',
                "           gn_get_num_threads(), worst, bad);",
                "    return bad != 0;", "}", ""]
        return out

    def makefile(self, kernel_files):
        n = self.name
        objs = " \\\n\t".join(f[:-2] + ".o" for f in kernel_files)
        return f"""# Build the exported model {n} with any C99 compiler (generated by graphnet).
#   make           lib{n}.a, lib{n}.so and the self-test {n}_test
#   make test      build and run the self-test
CC ?= cc
AR ?= ar
CFLAGS ?= -O3
GN_CFLAGS = $(CFLAGS) -std=c99 -fPIC -fno-math-errno -Wall -Wno-unused-function \\
	-Wno-unknown-pragmas -pthread -Igraphnet -I.
LDLIBS = -pthread -lm

KERNEL_OBJS = {objs}
OBJS = {n}.o $(KERNEL_OBJS)

all: lib{n}.a lib{n}.so {n}_test

lib{n}.a: $(OBJS)
\t$(AR) rcs $@ $(OBJS)

lib{n}.so: $(OBJS)
\t$(CC) -shared -o $@ $(OBJS) $(LDLIBS)

{n}_test: {n}_test.o lib{n}.a
\t$(CC) -o $@ {n}_test.o lib{n}.a $(LDLIBS)

.c.o:
\t$(CC) $(GN_CFLAGS) -c $< -o $@

$(OBJS) {n}_test.o: {n}.h graphnet/graphnet.h

test: {n}_test
\t./{n}_test

clean:
\trm -f $(OBJS) {n}_test.o lib{n}.a lib{n}.so {n}_test

.PHONY: all test clean
"""


def _copy_kernels(directory):
    """Copy csrc/ (headers and C files) into directory/graphnet; returns the C files."""
    dst = os.path.join(directory, "graphnet")
    files = []
    for path in sorted(glob.glob(os.path.join(CSRC, "**", "*.[ch]"), recursive=True)):
        rel = os.path.relpath(path, CSRC)
        target = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        if rel.endswith(".c"):
            files.append(os.path.join("graphnet", rel).replace(os.sep, "/"))
    if not files:
        raise FileNotFoundError(f"to_c: no kernel sources found in {CSRC} (the C export "
                                "needs graphnet's source tree)")
    return files


#: batch sizes the self-test of a batch-generic export runs
TEST_BATCHES = (1, 2, 3, 8)
#: the largest batch size a batch-generic export takes, unless ``max_batch_size`` says
DEFAULT_MAX_BATCH = 1024


def _generic(in_nodes, out_nodes, max_batch_size):
    """(generic plan, weights, batch, written weights) with every batch size from 1 to
    ``max_batch_size`` verified: the C code runs the plans without a verifier."""
    from .batch_fit import MIN_BATCH, fit_batch_plan
    from .batch_plan import instantiate, max_batch
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or \
            max_batch_size < 1:
        raise ValueError(f"to_c: max_batch_size must be an integer >= 1, got "
                         f"{max_batch_size!r}")
    plan, coefficients, weights, specialized = fit_batch_plan(in_nodes, out_nodes)
    if max_batch_size > max_batch(plan, coefficients):
        raise ValueError(f"to_c: max_batch_size {max_batch_size} is larger than the plan "
                         f"allows ({max_batch(plan, coefficients)})")
    written = set()
    for own, indices in specialized.values():
        written |= {indices[int(own.slots[s][1])] for s in verify_plan(own, own.kernels)
                    if own.slots[s][0] == 3}
    for b in range(MIN_BATCH, max_batch_size + 1):
        at = instantiate(plan, coefficients, b)
        written |= {int(at.slots[s][1]) for s in verify_plan(at, at.kernels)
                    if at.slots[s][0] == 3}
    return plan, weights, (coefficients, specialized, max_batch_size), written


def _cases(plan, weights, batch, test_inputs, in_nodes):
    """The self-test's (batch size, inputs, outputs graphnet computes for them): the batch
    sizes of TEST_BATCHES of a batch-generic ``plan`` (the first samples of the test
    inputs), or the one batch (None) of a plan of fixed shapes."""
    from ..runtime.executor import Executable
    from .batch_plan import batch_shape, instantiate
    runs = [(None, plan, weights)]
    if batch is not None:
        coefficients, specialized, top = batch
        runs = []
        for b in sorted({min(b, top) for b in TEST_BATCHES}):
            if b in specialized:
                own, indices = specialized[b]
                runs.append((b, own, [weights[i] for i in indices]))
            else:
                runs.append((b, instantiate(plan, coefficients, b), weights))
    if test_inputs is None:
        test_inputs = sample_inputs(in_nodes, [batch_shape(s, runs[-1][0])
                                               for _, s, _ in plan.input_specs])
    test_inputs = [np.asarray(a, dtype=d, order="C") for a, (_, _, d) in
                   zip(test_inputs, plan.input_specs)]
    cases = []
    for b, at, own in runs:
        inputs = []
        for a, (nm, shape, _), (_, generic, _) in zip(test_inputs, at.input_specs,
                                                      plan.input_specs):
            part = a[:b] if tuple(generic[:1]) == (None,) else a
            if part.shape != tuple(shape):
                raise ValueError(f"to_c: test input {nm!r} has shape {a.shape}, the model is "
                                 f"compiled for {_shape_text(generic)} (batch {b})")
            inputs.append(np.ascontiguousarray(part))
        cases.append((b, inputs, Executable(at, own).run(inputs)))
    return cases


def to_c(model, directory, batch_size=None, name=None, test_inputs=None, shapes=None,
         max_batch_size=None):
    """Export ``model`` (a Model, a ``gn.function`` or ``(inputs, outputs)``) as standalone
    C source in ``directory``: for any batch size from 1 to ``max_batch_size`` (the run
    functions take it as ``n``), or compiled for a fixed ``batch_size`` (or ``shapes``).

    Args:
        name: C identifier prefix of the API (default: the model's name).
        test_inputs: arrays for the generated self-test (default: seeded random normals);
            with a batch-generic export, of at least 8 samples (the self-test runs the
            first 1, 2, 3 and 8).
        max_batch_size: the largest batch size of a batch-generic export (default 1024);
            every batch size up to it is verified at export (about half a millisecond per
            size for a small model).
    Returns the path of the generated ``<name>.c``.
    """
    from ..compiler import compile_plan
    if isinstance(model, tuple) and len(model) == 2:
        in_nodes, out_nodes, in_names, out_names, default = graph_of(*model)
    else:
        in_nodes, out_nodes, in_names, out_names, default = graph_of(model)
    name = _c_identifier(name or default)
    if batch_size is None and shapes is None:
        plan, weights, batch, written = _generic(
            in_nodes, out_nodes, DEFAULT_MAX_BATCH if max_batch_size is None else max_batch_size)
    elif max_batch_size is not None:
        raise ValueError(f"to_c: max_batch_size={max_batch_size} is for an export of any "
                         "batch size; this one is fixed by batch_size or shapes")
    else:
        shapes = concrete_shapes(in_nodes, batch_size or 1, shapes)
        plan, weights, _ = compile_plan(in_nodes, out_nodes, shapes)
        written = {int(plan.slots[s][1]) for s in verify_plan(plan, plan.kernels)
                   if plan.slots[s][0] == 3}
        batch = None
    cases = _cases(plan, weights, batch, test_inputs, in_nodes)
    os.makedirs(directory, exist_ok=True)
    src = _Source(name, plan, [np.asarray(w.value, order="C") for w in weights], in_names,
                  out_names, batch)
    kernel_files = _copy_kernels(directory)
    outputs = {f"{name}.h": src.header(), f"{name}.c": src.source(written),
               f"{name}_test.c": src.test(cases), "Makefile": src.makefile(kernel_files)}
    for fname, text in outputs.items():
        with open(os.path.join(directory, fname), "w") as f:
            f.write(text)
    return os.path.join(directory, f"{name}.c")
