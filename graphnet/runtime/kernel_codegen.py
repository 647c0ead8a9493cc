"""Write what the kernel table (graphnet/runtime/kernels.py) and the enums
(graphnet/runtime/abi.py) determine elsewhere:

* csrc/plan_kernels.h: the ``case`` of each kernel in ``gn_plan_run``'s switch, each a
  direct call over the step's raw ints (``a``), floats (``f``) and slot pointers (``ptr``)
  at the offsets the table gives (checked in, so the standalone C export ships it);
* the enum bodies of csrc/graphnet.h (gn_kernel from the table, the others from abi.py);
* the kernel-argument section of graphnet/export/FORMAT.md.

tests/test_kernel_table.py checks all three are current. Regenerate after changing a table:

    python -m graphnet.runtime.kernel_codegen
"""
import os
import re

from .abi import DTYPES, ENUMS
from .kernels import KERNEL_LIST

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAN_KERNELS_H = os.path.join(ROOT, "csrc", "plan_kernels.h")
GRAPHNET_H = os.path.join(ROOT, "csrc", "graphnet.h")
FORMAT_MD = os.path.join(ROOT, "graphnet", "export", "FORMAT.md")
FORMAT_BEGIN = ("<!-- kernel table: generated from graphnet/runtime/kernels.py by "
                "python -m graphnet.runtime.kernel_codegen -->")
FORMAT_END = "<!-- end of the generated kernel table -->"
_IDENT = re.compile(r"[A-Za-z_]\w*")
_C_LENGTH = re.compile(r"[\w\s+*()-]*")


def _substitute(text, names):
    """``text`` with each identifier in ``names`` replaced by its C expression."""
    return _IDENT.sub(lambda m: names.get(m.group(0), m.group(0)), text)


def _offset(const, terms):
    parts = ([str(const)] if const or not terms else []) + terms
    return " + ".join(parts)


def _c_values(kernel):
    """Each argument's C expression inside gn_plan_run."""
    names, raw = {}, {}
    for run, base in ((kernel.int_args, "a"), (kernel.float_args, "f")):
        const, terms = 0, []
        for index, arg in enumerate(run):
            at = _offset(const, terms)
            if arg.is_array:
                names[arg.name] = base if at == "0" else f"({base} + {at})"
                length = arg.length.text
                if not _C_LENGTH.fullmatch(length):
                    raise ValueError(f"{kernel.name}: length {length!r} of {arg.name} is not "
                                     "plain arithmetic")
                length = _substitute(length, raw)
                if length.isdigit():
                    const += int(length)
                else:
                    terms.append(f"({length})" if re.search(r"[+-]", length) else length)
                continue
            value = f"{base}[{at}]"
            raw[arg.name] = value
            tail = kernel.short_form is not None and base == "a" and index >= kernel.short_form
            if tail and index == kernel.short_form:   # the short form's int count
                short_ints = at
            present = f"st[3] > {short_ints}" if tail else None
            if arg.kind == "slot":
                absent = ([f"st[3] <= {short_ints}"] if tail else []) + \
                    ([f"{value} < 0"] if arg.optional else [])
                expr = f"ptr[{value}]"
                if absent:
                    expr = f"({' || '.join(absent)} ? NULL : {expr})"
            elif arg.kind in ("enum", "dtype") or (arg.kind == "count" and arg.hi is not None):
                expr = f"(int){value}"
            else:
                expr = value
            if present and arg.kind != "slot":
                expr = f"({present} ? {expr} : 0)"
            names[arg.name] = expr
            const += 1
    return names


def _wrap(head, args, indent, tail, width=100):
    """``head(arg, arg, ...)tail`` broken after commas to fit ``width`` columns."""
    lines, line = [], " " * indent + head + "("
    cont = " " * (indent + len(head) + 1)
    for j, arg in enumerate(args):
        piece = arg + (", " if j < len(args) - 1 else ")" + tail)
        if len(line) + len(piece.rstrip()) > width and line.strip():
            lines.append(line.rstrip())
            line = cont
        line += piece
    lines.append(line)
    return lines


def _split_call(call):
    """(function, [arguments]) of a call expression, split at its top-level commas."""
    head, body = call[:call.index("(")], call[call.index("(") + 1:call.rindex(")")]
    args, depth, cur = [], 0, ""
    for ch in body:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return head, args + [cur.strip()]


def plan_kernels_text():
    """csrc/plan_kernels.h."""
    out = ["/* The kernels of gn_plan_run's switch (csrc/plan.c includes this file inside it).",
           " * Generated from graphnet/runtime/kernels.py by",
           " * `python -m graphnet.runtime.kernel_codegen`: do not edit.",
           " * a: the step's int args, f: its float args, ptr: slot pointers, st: the step. */"]
    for kernel in KERNEL_LIST:
        names = _c_values(kernel)
        ints = " ".join(a.name for a in kernel.int_args)
        floats = " ".join(a.name for a in kernel.float_args)
        comment = f"case {kernel.name}: /* {ints}{' | ' + floats if floats else ''} */"
        if len(comment) > 100:
            cut = comment.rindex(" ", 0, 100)
            comment = comment[:cut] + "\n" + " " * (len(kernel.name) + 9) + comment[cut + 1:]
        out.append(comment)
        head, args = _split_call(kernel.call)
        args = [_substitute(arg, names) for arg in args]
        if kernel.reports:  # the kernel returns an enum gn_status
            out += _wrap(f"err = {head}", args, 4, ";")
        else:
            out += _wrap(head, args, 4, ";")
        out.append("    break;")
    return "\n".join(out) + "\n"


def _enum_body(items, indent=4, width=92):
    """An enum's members (``NAME = value``; strings are comments) wrapped at ``width``."""
    lines, line = [], ""
    entries = [(item, None) if isinstance(item, str) else (None, item) for item in items]
    last = max(j for j, (comment, _) in enumerate(entries) if comment is None)
    for j, (comment, member) in enumerate(entries):
        if comment is not None:
            if line:
                lines.append(line.rstrip())
                line = ""
            lines.append(" " * indent + f"/* {comment} */")
            continue
        piece = f"{member[0]} = {member[1]}" + (", " if j < last else "")
        if line and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line = (line or " " * indent) + piece
    lines.append(line.rstrip())
    return "\n".join(lines)


def header_text(current):
    """csrc/graphnet.h (``current``) with every enum body generated."""
    enums = dict(ENUMS)
    enums["gn_kernel"] = [(k.name, k.id) for k in sorted(KERNEL_LIST, key=lambda k: k.id)]
    for name, items in enums.items():
        pattern = re.compile(r"enum %s \{.*?\};" % name, re.S)
        if len(pattern.findall(current)) != 1:
            raise ValueError(f"csrc/graphnet.h must declare enum {name} once")
        current = pattern.sub(lambda _: f"enum {name} {{\n{_enum_body(items)}\n}};", current)
    return current


def format_section():
    """FORMAT.md's generated kernel section (between its markers)."""
    out = [FORMAT_BEGIN, "",
           "Dtype codes (`enum gn_dtype`): " + ", ".join(
               f"`{name}` {code}" for name, (code, _, _, _) in DTYPES.items()) + ".", "",
           "Each kernel's int arguments in order (slots are slot numbers; an array's length "
           "is an expression of the arguments before it), its float arguments, and the "
           "extents it reads and writes in each slot (elements x bytes). A step must have "
           "exactly this many arguments.", ""]
    for k in sorted(KERNEL_LIST, key=lambda k: k.id):
        out.append(f"**`{k.name}`** = {k.id} ({k.source})" + (f": {k.doc}" if k.doc else ""))
        out.append("")
        out.append("* ints: " + ", ".join(a.describe() for a in k.int_args))
        if k.short_form is not None:
            out[-1] += f"; or only the first {k.short_form}"
        if k.float_args:
            out.append("* floats: " + ", ".join(a.describe() for a in k.float_args))
        for what, extents in (("reads", k.reads), ("writes", k.writes)):
            if extents:
                out.append(f"* {what}: " + "; ".join(e.describe() for e in extents))
        if k.extents is not None:
            out.append("* also: " + " ".join(k.extents.__doc__.split()))
        for expr, _ in k.checks:
            out.append(f"* requires: `{expr.text}`")
        out.append("")
    out.append(FORMAT_END)
    return "\n".join(out)


def format_text(current):
    """FORMAT.md (``current``) with its kernel section generated."""
    begin, end = current.find(FORMAT_BEGIN), current.find(FORMAT_END)
    if begin < 0 or end < begin:
        raise ValueError("graphnet/export/FORMAT.md lacks the kernel table's markers")
    return current[:begin] + format_section() + current[end + len(FORMAT_END):]


def generated_files():
    """{path: text it should hold}."""
    with open(GRAPHNET_H) as f:
        header = f.read()
    with open(FORMAT_MD) as f:
        fmt = f.read()
    return {PLAN_KERNELS_H: plan_kernels_text(), GRAPHNET_H: header_text(header),
            FORMAT_MD: format_text(fmt)}


def main():
    for path, text in generated_files().items():
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
