"""How a plan kernel's argument layout is declared (the table is graphnet/runtime/kernels.py).

A plan step is a kernel id, a run of int64 arguments and a run of float arguments
(csrc/graphnet.h, ``gn_plan``). Each ``Kernel`` of the table names its arguments in order with
their kinds, the C call ``gn_plan_run`` makes with them, and the buffers the call reads
and writes with their extents. From this one table:

* lowering emits steps by name (``Lowering.emit("GN_K_GEMM", ta=0, ...)``): a missing,
  extra or wrongly sized argument is an error at compile time (``Kernel.encode``);
* ``python -m graphnet.runtime.kernel_codegen`` writes csrc/plan_kernels.h, the switch
  cases of ``gn_plan_run`` (so the indices C reads are the table's), gn_kernel's enum
  in csrc/graphnet.h and FORMAT.md's kernel section; tests/test_kernel_table.py checks
  all three are current;
* the export verifier (graphnet/export/verify.py) decodes each step with
  ``Kernel.decode`` and proves each extent below lies inside its buffer.

Sizes, element sizes and extents are Python expressions over the argument names, the enum
values of graphnet/runtime/abi.py and the helpers in ``HELPERS``; an array's length uses
only + - * so the same text is its C offset. Pure Python: importable without the built
extension.
"""
import math

from .abi import DTYPE_SIZE, VALUES, enum_values

MAX_NDIM = 32    # kernels keep per-dimension arrays on the stack
# Strides, dilations and pads no buffer bounds: the kernels' index arithmetic (output
# position * stride - pad + tap * dilation) must stay far from int64 overflow.
MAX_GEOM_STEP = 1 << 24
# Scratch a kernel allocates itself when the step's work buffer is short (the fused
# convolution + pooling's one unpooled image): more is refused rather than attempted.
MAX_SCRATCH_BYTES = 1 << 31


class KernelArgError(ValueError):
    """A step's arguments do not match its kernel's layout."""



def _geom_parts(g):
    return g[0], g[1:4], g[4], g[5:8], g[8], g[9:12], g[21]


def conv_x(g):
    """Elements of a convolution's input x: N * D * H * W * C."""
    n, ins, c, _, _, _, _ = _geom_parts(g)
    return n * math.prod(ins) * c


def conv_w(g):
    """Elements of its weights: KD * KH * KW * (C / groups) * O."""
    _, _, c, _, o, k, groups = _geom_parts(g)
    return math.prod(k) * (c // groups) * o


def conv_y(g):
    """Elements of its output y: N * OD * OH * OW * O."""
    n, _, _, outs, o, _, _ = _geom_parts(g)
    return n * math.prod(outs) * o


def pooled(g, window):
    """Elements of a fused convolution's max-pooled output: each output size divided by the
    window, rounded down."""
    n, _, _, outs, o, _, _ = _geom_parts(g)
    return n * math.prod(s // w for s, w in zip(outs, window)) * o


#: the functions extents may call
HELPERS = {"prod": math.prod, "dtype_size": DTYPE_SIZE.__getitem__, "conv_x": conv_x,
           "conv_w": conv_w, "conv_y": conv_y, "pooled": pooled}
#: the limits checks may name, besides the enum values
LIMITS = {"MAX_SCRATCH_BYTES": MAX_SCRATCH_BYTES}
_NAMESPACE = {"__builtins__": {}, **HELPERS, **VALUES, **LIMITS}


class Expr:
    """A Python expression of a kernel's argument names, compiled once."""
    __slots__ = ("text", "code")

    def __init__(self, text):
        self.text = str(text)
        self.code = compile(self.text, f"<kernel table: {self.text}>", "eval")

    def __call__(self, values):
        return eval(self.code, _NAMESPACE, values)  # the table's own text, never a file's


# -- argument kinds ---------------------------------------------------------------------------
class Arg:
    """One argument: a scalar (kind int, count, enum, dtype, slot, float) or an array of
    ``length`` ints or floats (kind ints, floats)."""

    def __init__(self, name, kind, doc, length=None, lo=None, hi=None, values=None,
                 optional=False, check=None, c_enum=None):
        self.name, self.kind, self.doc, self.c_enum = name, kind, doc, c_enum
        self.length = None if length is None else Expr(length)
        self.lo, self.hi, self.values, self.optional, self.check = lo, hi, values, optional, check

    @property
    def is_float(self):
        return self.kind in ("float", "floats")

    @property
    def is_array(self):
        return self.length is not None

    def validate(self, value, nslots, fail):
        """Raise through ``fail`` unless ``value`` is one this argument may take."""
        if self.kind == "count":
            if value < self.lo or (self.hi is not None and value > self.hi):
                bound = (f"outside the limits [{self.lo}, {self.hi}]" if self.hi is not None
                         else "negative" if self.lo == 0 else f"below {self.lo}")
                fail(f"{self.name} is {value}, {bound}")
        elif self.kind in ("enum", "dtype") and value not in self.values:
            known = f" (expected one of {sorted(self.values)})" if len(self.values) <= 8 else ""
            fail(f"{self.name}: unknown {self.doc} {value}{known}")
        elif self.kind == "slot" and not (0 <= value < nslots or
                                          (self.optional and value == -1)):
            fail(f"{self.name} names slot {value}, the plan has {nslots} slots"
                 + (" (-1: none)" if self.optional else ""))
        elif self.kind == "ints" and self.check is not None:
            self.check(self.name, value, fail)

    def describe(self):
        """The argument as FORMAT.md lists it."""
        if self.is_array:
            return f"`{self.name}[{self.length.text}]`" + (f" ({self.doc})" if self.doc else "")
        if self.kind == "count":
            bound = ("0 or 1" if (self.lo, self.hi) == (0, 1) else
                     f"{self.lo}..{self.hi}" if self.hi is not None else f">= {self.lo}")
            return f"`{self.name}` ({bound})"
        if self.kind == "slot":
            return f"`{self.name}` (slot" + (" or -1)" if self.optional else ")")
        if self.kind in ("enum", "dtype"):
            known = f": one of {', '.join(map(str, sorted(self.values)))}" \
                if len(self.values) <= 8 else ""
            where = f", enum {self.c_enum}" if self.c_enum else ""
            return f"`{self.name}` ({self.doc}{where}{known})"
        return f"`{self.name}`" + ("" if self.kind in ("int", "float") else f" ({self.doc})")


def integer(name, doc="an integer"):
    return Arg(name, "int", doc)


def count(name, lo=0, hi=None, doc="a size"):
    return Arg(name, "count", doc, lo=lo, hi=hi)


def flag(name):
    return Arg(name, "count", "0 or 1", lo=0, hi=1)


def ndim(name="ndim"):
    return Arg(name, "count", "the number of dimensions", lo=0, hi=MAX_NDIM)


def enum(name, c_enum, what):
    """A value of enum ``c_enum`` (its ``_COUNT`` excluded), described as ``what``."""
    values = {v for k, v in enum_values(c_enum).items() if not k.endswith("_COUNT")}
    return Arg(name, "enum", f"{what}", values=frozenset(values), c_enum=c_enum)


def dtype(name):
    return Arg(name, "dtype", "dtype code", values=frozenset(DTYPE_SIZE), c_enum="gn_dtype")


def slot(name, optional=False):
    return Arg(name, "slot", "a slot", optional=optional)


def _nonneg_dims(name, values, fail):
    if any(v < 0 for v in values):
        fail(f"negative dimension in {name} {values}")


def _windows(name, values, fail):
    if min(values, default=1) < 1:
        fail(f"{name} {values} must be >= 1")


def _geometry(name, g, fail):
    """The kernels test every tap against the input bounds, so any pads are safe."""
    n, ins, ch, outs, o, k, groups = _geom_parts(g)
    if n < 0:
        fail(f"{name}: batch is negative ({n})")
    if min(list(ins) + list(outs) + list(k) + list(g[12:18]) + [ch, o, groups]) < 1:
        fail(f"{name} {g}: sizes, strides, dilations and groups must be >= 1")
    if ch % groups or o % groups:
        fail(f"{name}: groups {groups} must divide the channels {ch} and {o}")
    if max(list(g[12:18]) + [abs(p) for p in g[18:21]]) > MAX_GEOM_STEP:
        fail(f"{name} {g}: strides, dilations and pads must be at most {MAX_GEOM_STEP}")


def ints(name, length, doc="", check=None):
    return Arg(name, "ints", doc, length=length, check=check)


def dims(name, length="ndim", doc="sizes"):
    return Arg(name, "ints", doc, length=length, check=_nonneg_dims)


def window(name, length):
    return Arg(name, "ints", "pooling window", length=length, check=_windows)


def geometry(name="geom"):
    return Arg(name, "ints", "convolution geometry", length="GN_CG_LEN", check=_geometry)


def real(name):
    return Arg(name, "float", "a float")


def reals(name, length):
    return Arg(name, "floats", "floats", length=length)


# -- extents ----------------------------------------------------------------------------------
class Span:
    """Elements [0, count) of ``elem`` bytes each."""

    def __init__(self, slot, count, elem="4"):
        self.slot, self.count, self.elem = slot, Expr(count), Expr(elem)

    def describe(self):
        return f"`{self.slot}`: `{self.count.text}` elements of `{self.elem.text}` bytes"

    def apply(self, c, env, write):
        c.access(env[self.slot], 0, self.count(env), self.elem(env), write, self.slot)


class Strided:
    """The elements at ``base + idx . strides`` over the index space ``shape``."""

    def __init__(self, slot, shape, strides, elem="4", base="0"):
        self.slot, self.shape, self.strides = slot, Expr(shape), Expr(strides)
        self.elem, self.base = Expr(elem), Expr(base)

    def describe(self):
        base = "" if self.base.text == "0" else f" from element `{self.base.text}`"
        return (f"`{self.slot}`: index space `{self.shape.text}` at strides "
                f"`{self.strides.text}`{base}, elements of `{self.elem.text}` bytes")

    def apply(self, c, env, write):
        c.strided(env[self.slot], self.base(env), self.shape(env), self.strides(env),
                  self.elem(env), write, self.slot)


class Matrix:
    """A rows x cols float matrix with row stride ld; with ``batch`` (shape, strides), one
    at each batch offset (strides must be non-negative)."""

    def __init__(self, slot, rows, cols, ld, batch=None):
        self.slot, self.rows, self.cols, self.ld = slot, Expr(rows), Expr(cols), Expr(ld)
        self.batch = None if batch is None else (Expr(batch[0]), Expr(batch[1]))

    def describe(self):
        text = f"`{self.slot}`: `{self.rows.text}` x `{self.cols.text}` floats, row stride " \
               f"`{self.ld.text}`"
        return text + (f", at each index of `{self.batch[0].text}` offset by strides "
                       f"`{self.batch[1].text}`" if self.batch else "")

    def apply(self, c, env, write):
        bases = [0]
        if self.batch is not None:
            shape, strides = self.batch[0](env), self.batch[1](env)
            if any(s < 0 for s in strides):
                c.fail(f"{self.slot}: negative batch stride in {strides}")
            if math.prod(shape) == 0:
                c.slot_ok(env[self.slot], self.slot)
                return
            bases.append(sum((d - 1) * s for d, s in zip(shape, strides)))
            rows, cols, ld = self.rows(env), self.cols(env), self.ld(env)
            c.bounded_work(math.prod(shape) * rows * cols, bases[-1] + (rows - 1) * ld + cols,
                           write, self.slot)
        for base in bases:
            c.matrix(env[self.slot], self.rows(env), self.cols(env), self.ld(env), base,
                     write, self.slot)


# -- kernels ----------------------------------------------------------------------------------
class Kernel:
    """One C kernel of the plan executor.

    ``args`` are its int and float arguments in order (each run keeps its order); ``call``
    is the C call gn_plan_run makes, over the argument names (slots become pointers,
    arrays pointers into the step's ints or floats; plan.c's locals ``p``, ``i`` and
    ``ptr`` may appear). ``reads`` / ``writes`` are the extents it touches; ``checks``
    (expression, message) hold between arguments; ``extents(c, v)`` adds accesses the
    table cannot express (records of slots). ``short_form``: an older, shorter int count
    that is still read (the rest take -1 / 0). ``reports``: the call returns an enum gn_status
    (an index out of range, no memory, refused arguments); a nonzero one stops the run with
    status GN_ERR_COUNT * step + reason."""

    def __init__(self, name, kid, source, args, call, reads=(), writes=(), checks=(),
                 extents=None, short_form=None, reports=False, doc=""):
        self.name, self.id, self.source, self.doc = name, kid, source, doc
        self.args = list(args)
        self.int_args = [a for a in self.args if not a.is_float]
        self.float_args = [a for a in self.args if a.is_float]
        self.call, self.reads, self.writes = call, list(reads), list(writes)
        self.checks = [(Expr(e), m) for e, m in checks]
        self.extents, self.short_form, self.reports = extents, short_form, reports
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: repeated argument names {names}")
        # what encode reads, worked out once: the names; per argument (arg, name, is_float,
        # in the short form's tail, the earlier argument that is its length when it is just
        # one, its kind when encode checks it: count, enum, dtype or a checked int array);
        # the tail's names
        tail = self.int_args[short_form:] if short_form is not None else []
        layout = []
        for i, a in enumerate(self.args):
            length = a.length.text if a.length is not None else None
            checked = a.kind in ("count", "enum", "dtype") or \
                (a.kind == "ints" and a.check is not None)
            layout.append((a, a.name, a.is_float, any(a is t for t in tail),
                           length if length in names[:i] else None, a.kind if checked else None))
        self._encoding = (frozenset(names), tuple(layout), tuple(a.name for a in tail))

    def encode(self, values):
        """(ints, floats) of a step from its arguments by name; raises KernelArgError for a
        missing, unknown or wrongly sized one (the short form drops the tail)."""
        given = values if isinstance(values, dict) else dict(values)
        names, layout, tail_names = self._encoding
        if not names.issuperset(given):
            raise KernelArgError(f"{self.name}: unknown arguments {sorted(set(given) - names)}; "
                                 f"it takes {[a.name for a in self.args]}")
        ints, floats, env = [], [], {}
        short = tail_names and not any(name in given for name in tail_names)
        for arg, name, is_float, in_tail, length_name, checked in layout:
            if short and in_tail:
                continue
            try:
                value = given[name]
            except KeyError:
                raise KernelArgError(f"{self.name}: argument {name!r} is missing") from None
            if arg.length is not None:
                value = [float(v) for v in value] if is_float else [int(v) for v in value]
                want = env[length_name] if length_name else arg.length(env)
                if len(value) != want:
                    raise KernelArgError(f"{self.name}: {name} has {len(value)} values, "
                                         f"its layout needs {arg.length.text} = {want}")
                (floats if is_float else ints).extend(value)
            else:
                value = float(value) if is_float else int(value)
                (floats if is_float else ints).append(value)
            if checked == "count":   # inline: most steps have several; validate says why
                if value < arg.lo or (arg.hi is not None and value > arg.hi):
                    arg.validate(value, 0, self._encode_error)
            elif checked is not None:
                arg.validate(value, 0, self._encode_error)
            env[name] = value
        return ints, floats

    def _encode_error(self, message):
        raise KernelArgError(f"{self.name}: {message}")

    def decode(self, a, nslots, fail):
        """The step's int arguments ``a`` by name, each checked against its kind, and the
        number of floats it reads. Raises through ``fail``."""
        env, at, n = {}, 0, len(a)
        for index, arg in enumerate(self.int_args):
            if index == self.short_form and at == n:
                for rest in self.int_args[index:]:
                    env[rest.name] = -1 if rest.kind == "slot" else 0
                break
            if arg.is_array:
                length = arg.length(env)
                if length < 0 or at + length > n:
                    fail(f"{arg.name} needs {length} ints at {at}, the step has {n}")
                value = [int(v) for v in a[at:at + length]]
                at += length
            else:
                if at >= n:
                    fail(f"has {n} int arguments, its layout needs more (from {arg.name})")
                value = int(a[at])
                at += 1
            arg.validate(value, nslots, fail)
            env[arg.name] = value
        if at != n:
            fail(f"has {n} int arguments, its layout takes {at}")
        nfloats = sum(arg.length(env) if arg.is_array else 1 for arg in self.float_args)
        for expr, message in self.checks:
            if not expr(env):
                fail(message.format(**env))
        return env, nfloats

    def check_extents(self, c, env):
        """Prove, through checker ``c`` (verify.py's), every access of a decoded step; an
        optional slot of -1 is not accessed."""
        for extents, write in ((self.reads, False), (self.writes, True)):
            for e in extents:
                if env[e.slot] != -1:
                    e.apply(c, env, write)
        if self.extents is not None:
            self.extents(c, env)
