"""The optimizers' update programs, compiled ahead of time (csrc/compiled_programs.h).

FUSED_MULTI_ELTWISE runs any elementwise program, instruction by instruction over tiles
of 256 values held in L1 (csrc/multi_eltwise.c). An optimizer's update is about ten
instructions, so each value goes through the cache some twenty times, and the divider's
sqrt and divide run apart from the loads instead of under them. The update programs of
the optimizers in their usual settings are therefore written out here as C loops, one
per program, that keep every value in registers; the kernel runs a tensor through the
loop when its program and its pattern of tile / one-value inputs match an entry, and
interprets it otherwise. Each loop computes every value with the elementwise ops' own
definitions (csrc/eltwise_value.h), in the program's order, so the results are the same
bits (tests/test_compiled_programs.py checks that, and that this file's output is what
is checked in). mnist_mlp's RMSprop update inside the training step: 300 -> 200 us.

Regenerate after changing an optimizer's formulas, from the repository root:

    python -m tools.compiled_programs

A build-time generator, so it lives outside the graphnet package: it builds models and
training steps with the whole library, which no runtime module may import.
"""
import os

import numpy as np

import graphnet as gn
from graphnet import optimizers as o
from graphnet.ops.elementwise import BINARY, UNARY
from graphnet.runtime.abi import VALUES

HEADER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc",
                      "compiled_programs.h")


def optimizer_settings():
    """(label, optimizer factory) for every setting whose update program is compiled."""
    return [
        ("SGD()", lambda: o.SGD()),
        ("SGD(momentum=0.9)", lambda: o.SGD(momentum=0.9)),
        ("SGD(momentum=0.9, nesterov=True)", lambda: o.SGD(momentum=0.9, nesterov=True)),
        ("RMSprop()", lambda: o.RMSprop()),
        ("RMSprop(momentum=0.9)", lambda: o.RMSprop(momentum=0.9)),
        ("RMSprop(centered=True)", lambda: o.RMSprop(centered=True)),
        ("Adagrad()", lambda: o.Adagrad()),
        ("Adadelta()", lambda: o.Adadelta()),
        ("Adam()", lambda: o.Adam()),
        ("Adam(amsgrad=True)", lambda: o.Adam(amsgrad=True)),
        ("AdamW()", lambda: o.AdamW()),
        ("Adamax()", lambda: o.Adamax()),
        ("Nadam()", lambda: o.Nadam()),
    ]


def train_step_plan(optimizer, batch=4):
    """The compiled training step of a one-layer model (4 -> 3) under ``optimizer``."""
    model = gn.Sequential([gn.Input((4,)), gn.layers.Dense(3)])
    model.compile(loss="mse", optimizer=optimizer)
    x, y = np.zeros((batch, 4), np.float32), np.zeros((batch, 3), np.float32)
    fn, arrays = model._train_step_for(x, y)
    return fn.executable([a.shape for a in arrays]).plan


def multi_programs(plan):
    """Each MULTI_ELTWISE step of ``plan`` as (ninputs, instructions, results, vec): the
    instructions as (kind, C op code, a, b) and vec as bits (input j is a tile), from
    the first tensor's inputs, as the plan encodes them (ops/multi_eltwise.py)."""
    out = []
    for kernel, step in zip(plan.kernels, plan.steps):
        if kernel != "GN_K_MULTI_ELTWISE":
            continue
        ints = [int(v) for v in plan.iargs[step[1]:step[1] + step[3]]]
        _, k, ninstr, nres = ints[:4]
        prog = [tuple(ints[4 + 4 * s:8 + 4 * s]) for s in range(ninstr)]
        results = tuple(ints[4 + 4 * ninstr:4 + 4 * ninstr + nres])
        first = 4 + 4 * ninstr + nres + 1  # tensor 0: size, then (slot, tile?) per input
        vec = sum(ints[first + 2 * j + 1] << j for j in range(k))
        out.append((k, tuple(prog), results, vec))
    return out


def _c_names():
    """C op code -> enum name, for unary (kind 1) and binary (kind 2) instructions."""
    names = {}
    for kind, table in ((1, UNARY), (2, BINARY)):
        for entry in table.values():
            names[(kind, VALUES[entry[0]])] = entry[0]
    return names


def program_c(index, label, program):
    """The C loop of one program (see the module docstring)."""
    k, prog, results, vec = program
    names = _c_names()
    lines = [f"/* {label} */",
             f"GN_INLINE void program_{index}_body(const float *const *in, float *const *out,",
             " " * len(f"GN_INLINE void program_{index}_body(") + "int64_t n, const float *f) {"]
    for j in range(k):
        lines.append(f"    const float *x{j} = in[{j}];" if vec >> j & 1 else
                     f"    const float s{j} = in[{j}][0];")
    for o in range(len(results)):
        lines.append(f"    float *o{o} = out[{o}];")
    lines.append("    (void)f;")
    lines.append('    _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) {')

    def reg(r):
        if r >= k:
            return f"r{r}"
        return f"x{r}[i]" if vec >> r & 1 else f"s{r}"
    for s, (kind, code, a, b) in enumerate(prog):
        name = names[(kind, code)]
        if kind == 1:
            expr = f"gn_unary_value({name}, {reg(a)}, f[{2 * s}], f[{2 * s + 1}])"
        else:
            expr = f"gn_binary_value({name}, {reg(a)}, {reg(b)})"
        lines.append(f"        const float r{k + s} = {expr};")
    for o, r in enumerate(results):
        lines.append(f"        o{o}[i] = r{r};")
    lines += ["    }", "}",
              f"GN_MULTI(program_{index}, (const float *const *in, float *const *out, "
              f"int64_t n, const float *f),",
              f"         program_{index}_body(in, out, n, f))",
              f"static gn_program_fn pick_program_{index}(void) "
              f"{{ return GN_PICK(program_{index}); }}"]
    codes = [f"{kind}, {names[(kind, code)]}, {a}, {b}," for kind, code, a, b in prog]
    lines.append(f"static const int64_t program_{index}_code[] = {{")
    lines += _wrapped(codes)
    lines.append("};")
    lines.append(f"static const int64_t program_{index}_results[] = "
                 f"{{{', '.join(map(str, results))}}};")
    return "\n".join(lines)


def _wrapped(items, width=92):
    """Items joined by spaces into indented lines of at most ``width`` characters."""
    lines, line = [], "   "
    for item in items:
        if len(line) + 1 + len(item) > width:
            lines.append(line)
            line = "   "
        line += " " + item
    return lines + [line]


def header_text():
    """csrc/compiled_programs.h as the optimizers' programs make it today."""
    programs, labels = [], []
    for label, make in optimizer_settings():
        for program in multi_programs(train_step_plan(make())):
            if program in programs:
                labels[programs.index(program)] += ", " + label
            else:
                programs.append(program)
                labels.append(label)
    parts = ["/* Generated by `python -m tools.compiled_programs` "
             "(tools/compiled_programs.py):\n * the optimizers' update programs as "
             "C loops, for csrc/multi_eltwise.c. Do not edit. */",
             "#ifndef GRAPHNET_COMPILED_PROGRAMS_H", "#define GRAPHNET_COMPILED_PROGRAMS_H",
             '#include "eltwise_value.h"', "",
             "typedef void (*gn_program_fn)(const float *const *in, float *const *out, "
             "int64_t n, const float *f);", "",
             "/* A program: inputs, instructions and results as the plan encodes them; vec "
             "bit j set when\n * input j is a tile (else one value); pick: its loop for "
             "the current ISA. */",
             "typedef struct {", "    int ninputs, ninstr, noutputs;", "    unsigned vec;",
             "    const int64_t *code, *results;", "    gn_program_fn (*pick)(void);",
             "} gn_compiled_program;", ""]
    for i, (label, program) in enumerate(zip(labels, programs)):
        parts += [program_c(i, label, program), ""]
    rows = [f"    {{{k}, {len(prog)}, {len(results)}, {vec:#x}u, program_{i}_code, "
            f"program_{i}_results, pick_program_{i}}},"
            for i, (k, prog, results, vec) in enumerate(programs)]
    parts += ["static const gn_compiled_program compiled_programs[] = {", *rows, "};", "",
              "#endif", ""]
    return "\n".join(parts)


def main():
    with open(HEADER, "w") as f:
        f.write(header_text())
    print(f"wrote {HEADER}")


if __name__ == "__main__":
    main()
