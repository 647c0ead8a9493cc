"""``einsum`` and ``tensordot``: contractions written as subscripts, lowered to the
primitives (REDUCE_SUM, TRANSPOSE, RESHAPE, MUL, MATMUL), so each gradient is the
primitives' own and the export formats need nothing new.

Operands are contracted left to right, two at a time. Each pair becomes one MATMUL
(..., M, K) @ (..., K, N): labels both operands keep are its batch axes, labels only one
keeps are its rows or columns, labels both drop are its depth. Where an operand's axes
already come as (depth, rows) or (columns, depth), MATMUL's transpose_a / transpose_b
take them as they are (the GEMM's packing reads the transposed layout), so no TRANSPOSE
node is made; with no batch axes the first operand keeps its leading axes and the
product is one GEMM over all its rows. Labels one operand has alone and nothing needs
later are summed first; a label repeated in one operand takes its diagonal.
"""
import math
import string

import numpy as np

from . import api

__all__ = ["einsum", "tensordot"]

_LETTERS = frozenset(string.ascii_letters)


class _Term:
    """A tensor with one label per axis (letters; ellipsis axes are ints)."""

    def __init__(self, tensor, labels):
        self.tensor = tensor
        self.labels = list(labels)

    def size(self, label):
        return self.tensor.shape[self.labels.index(label)]


def _parse(equation, ranks):
    """Per operand its labels, and the output's; ellipsis axes are labelled 0 .. E - 1,
    right-aligned, E the most any operand has."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {equation!r}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum: equation {equation!r} has {len(terms)} operand "
                         f"subscripts but {len(ranks)} operands were given")
    ellipsis_ranks = []
    for i, (term, rank) in enumerate(zip(terms, ranks)):
        letters = term.replace("...", "")
        bad = sorted(set(letters) - _LETTERS)
        if bad or term.count("...") > 1:
            raise ValueError(f"einsum: bad subscripts {term!r} in {equation!r} (letters and "
                             "at most one '...' per operand)")
        if len(letters) > rank or ("..." not in term and len(letters) != rank):
            raise ValueError(f"einsum: operand {i} has rank {rank} but subscripts {term!r} "
                             f"in {equation!r}")
        ellipsis_ranks.append(rank - len(letters) if "..." in term else 0)
    lead = max(ellipsis_ranks, default=0)
    inputs = []
    for term, e in zip(terms, ellipsis_ranks):
        head, _, tail = term.partition("...")
        inputs.append(list(head) + list(range(lead - e, lead)) * ("..." in term) + list(tail))
    if arrow:
        bad = sorted(set(rhs.replace("...", "")) - _LETTERS)
        if bad or rhs.count("...") > 1:
            raise ValueError(f"einsum: bad output subscripts {rhs!r} in {equation!r}")
        known = set().union(*map(set, terms))
        missing = sorted(set(rhs.replace("...", "")) - known)
        if missing:
            raise ValueError(f"einsum: output subscripts {missing} of {equation!r} appear in "
                             "no operand")
        letters = rhs.replace("...", "")
        if len(set(letters)) != len(letters):
            raise ValueError(f"einsum: output subscripts {rhs!r} repeat a label")
        head, _, tail = rhs.partition("...")
        output = list(head) + list(range(lead)) * ("..." in rhs) + list(tail)
    else:   # implicit: the ellipsis, then the letters that appear once, sorted
        counts = {}
        for term in terms:
            for c in term.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        output = list(range(lead)) + sorted(c for c, n in counts.items() if n == 1)
    return inputs, output


def _diagonal(term):
    """Each label repeated in one operand: the diagonal of its axes (x * eye, summed)."""
    while len(set(term.labels)) != len(term.labels):
        label = next(lab for lab in term.labels if term.labels.count(lab) > 1)
        p = term.labels.index(label)
        q = term.labels.index(label, p + 1)
        n = term.tensor.shape[p]
        if n is None or term.tensor.shape[q] != n:
            raise ValueError(f"einsum: the diagonal of label {label!r} needs equal known "
                             f"sizes, got {term.tensor.shape[p]} and {term.tensor.shape[q]}")
        eye_shape = [1] * term.tensor.ndim
        eye_shape[p] = eye_shape[q] = n
        masked = api.multiply(term.tensor, np.eye(n, dtype=term.tensor.dtype).reshape(eye_shape))
        term = _Term(api.sum(masked, axis=q), term.labels[:q] + term.labels[q + 1:])
    return term


def _sum_out(term, keep):
    """Sum the axes whose labels are not in ``keep``."""
    axes = [i for i, lab in enumerate(term.labels) if lab not in keep]
    if not axes:
        return term
    return _Term(api.sum(term.tensor, axis=axes),
                 [lab for lab in term.labels if lab in keep])


def _squeeze_out(term, labels):
    """Drop size-1 axes of ``labels`` (broadcast against the other operand)."""
    axes = [i for i, lab in enumerate(term.labels) if lab in labels]
    if not axes:
        return term
    return _Term(api.squeeze_axes(term.tensor, axes),
                 [lab for lab in term.labels if lab not in labels])


def _permute(term, labels):
    if term.labels == list(labels):
        return term
    perm = [term.labels.index(lab) for lab in labels]
    return _Term(api.transpose(term.tensor, perm), labels)


def _group(shape, dims):
    """One RESHAPE entry for the axes ``dims`` of ``shape`` merged: ("in", i) for a single
    axis, their product when known, None when an unknown size is among several."""
    if len(dims) == 1:
        return ("in", dims[0])
    sizes = [shape[d] for d in dims]
    return None if None in sizes else math.prod(sizes)


def _reshape(tensor, groups, what):
    """Reshape ``tensor`` by a list of entries from _group; one unknown becomes -1."""
    unknown = [i for i, g in enumerate(groups) if g is None]
    if len(unknown) > 1:
        raise ValueError(f"einsum: {what} merges axes of shape {tensor.shape} into "
                         f"{len(unknown)} groups of unknown size; at most one is possible")
    spec = [-1 if g is None else g for g in groups]
    if spec == [("in", i) for i in range(tensor.ndim)]:
        return tensor
    return api.reshape_dims(tensor, spec)


def _product(a, b, keep):
    """The pair (a, b) contracted into a term with labels in ``keep``."""
    a, b = _sum_out(a, keep | set(b.labels)), _sum_out(b, keep | set(a.labels))
    shared = [lab for lab in a.labels if lab in b.labels]
    # a shared label of size 1 on one side only broadcasts: summed on the other, if dropped
    stretched = [lab for lab in shared if lab not in keep and a.size(lab) != b.size(lab)
                 and 1 in (a.size(lab), b.size(lab))]
    if stretched:
        a = _squeeze_out(a, [lab for lab in stretched if a.size(lab) == 1])
        b = _squeeze_out(b, [lab for lab in stretched if b.size(lab) == 1])
        a, b = _sum_out(a, keep | set(b.labels)), _sum_out(b, keep | set(a.labels))
        shared = [lab for lab in a.labels if lab in b.labels]
    batch = [lab for lab in shared if lab in keep]
    depth = [lab for lab in shared if lab not in keep]
    rows = [lab for lab in a.labels if lab not in shared]
    cols = [lab for lab in b.labels if lab not in shared]
    if not depth:   # nothing to sum: a broadcast product
        out = batch + rows + cols
        return _Term(api.multiply(_expanded(a, out), _expanded(b, out)), out)
    nb = len(batch)
    # a: (batch, rows, depth), or (batch, depth, rows) read transposed
    ta = a.labels == batch + depth + rows and bool(rows)
    a = _permute(a, batch + (depth + rows if ta else rows + depth))
    b_order = b.labels[nb:] if b.labels[:nb] == batch else None
    tb = b_order == cols + depth and bool(cols)
    b = _permute(b, batch + (cols + depth if tb else depth + cols))
    ash, bsh = a.tensor.shape, b.tensor.shape
    batch_groups = [("in", i) for i in range(nb)]
    split = nb + (len(depth) if ta else len(rows))
    first, second = list(range(nb, split)), list(range(split, a.tensor.ndim))
    row_dims, a_depth = (second, first) if ta else (first, second)
    # no batch: (rows..., K) @ (K, N), one GEMM over every row
    keep_rows = not nb and not ta and bool(rows)
    if keep_rows:
        a_mat = _reshape(a.tensor, [("in", d) for d in row_dims] + [_group(ash, a_depth)],
                         "the first operand")
    else:
        pair = [_group(ash, a_depth), _group(ash, row_dims)] if ta else \
            [_group(ash, row_dims), _group(ash, a_depth)]
        a_mat = _reshape(a.tensor, batch_groups + pair, "the first operand")
    split = nb + (len(cols) if tb else len(depth))
    first, second = list(range(nb, split)), list(range(split, b.tensor.ndim))
    col_dims, b_depth = (first, second) if tb else (second, first)
    if not cols:
        b_pair = [_group(bsh, b_depth), 1]
    else:
        b_pair = [_group(bsh, col_dims), _group(bsh, b_depth)] if tb else \
            [_group(bsh, b_depth), _group(bsh, col_dims)]
    b_mat = _reshape(b.tensor, batch_groups + b_pair, "the second operand")
    prod = api._apply("MATMUL", a_mat, b_mat, transpose_a=ta, transpose_b=tb)
    # back to (batch, rows, cols)
    row_sizes = [ash[d] for d in row_dims]
    col_sizes = [bsh[d] for d in col_dims]
    lead = [("in", i) for i in range(len(row_sizes))] if keep_rows else \
        batch_groups + _split(row_sizes, nb)
    tail = _split(col_sizes, prod.ndim - 1)
    spec = lead + tail
    if spec.count(-1) > 1:
        raise ValueError(f"einsum: the product's axes {tuple(prod.shape)} cannot be split "
                         f"back into {row_sizes + col_sizes}: more than one unknown size")
    if spec != [("in", i) for i in range(prod.ndim)]:
        prod = api.reshape_dims(prod, spec)
    return _Term(prod, batch + rows + cols)


def _split(sizes, at):
    """RESHAPE entries splitting axis ``at`` into ``sizes`` (-1 for an unknown one)."""
    if len(sizes) == 1:
        return [("in", at)]
    return [-1 if s is None else s for s in sizes]


def _expanded(term, labels):
    """term's tensor with its axes in the order of ``labels`` and size-1 axes for the
    labels it lacks, ready to broadcast."""
    own = [lab for lab in labels if lab in term.labels]
    t = _permute(term, own).tensor
    for i, lab in enumerate(labels):
        if lab not in term.labels:
            t = api.expand_dims(t, i)
    return t


def einsum(subscripts, *operands):
    """Einstein summation over ``operands`` as ``keras.ops.einsum`` (torch's rules):
    ellipsis broadcasting, implicit outputs, labels summed when the output lacks them,
    repeated labels in one operand taking the diagonal, size-1 axes broadcasting."""
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    tensors = [api.convert_to_tensor(x) for x in operands]
    dtype = tensors[0].dtype
    tensors = [t if t.dtype == dtype else api.cast(t, dtype) for t in tensors]
    inputs, output = _parse(subscripts, [t.ndim for t in tensors])
    terms = [_diagonal(_Term(t, labels)) for t, labels in zip(tensors, inputs)]
    sizes = {}
    for term in terms:
        for lab, d in zip(term.labels, term.tensor.shape):
            seen = sizes.setdefault(lab, d)
            if seen is not None and d is not None and seen != d and 1 not in (seen, d):
                name = "an ellipsis axis" if isinstance(lab, int) else f"label {lab!r}"
                raise ValueError(f"einsum: {name} of {subscripts!r} has sizes {seen} and {d} "
                                 f"in operands of shapes {[t.shape for t in tensors]}")
            if seen == 1:
                sizes[lab] = d
    result = terms[0]
    for i, term in enumerate(terms[1:], start=1):
        later = set(output).union(*(set(t.labels) for t in terms[i + 1:]))
        result = _product(result, term, later)
    result = _sum_out(result, set(output))
    return _permute(result, output).tensor


def tensordot(x1, x2, axes=2):
    """Sum of products over the last ``axes`` axes of x1 and the first of x2, or over the
    axes pairs ``axes = (axes_of_x1, axes_of_x2)``, as ``numpy.tensordot``."""
    a, b = api.convert_to_tensor(x1), api.convert_to_tensor(x2)
    if isinstance(axes, int):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} does not fit operands of ranks {a.ndim} "
                             f"and {b.ndim}")
        a_axes, b_axes = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        if len(axes) != 2:
            raise ValueError(f"tensordot: axes must be an int or a pair of axis lists, "
                             f"got {axes!r}")
        a_axes, b_axes = ([int(v)] if np.ndim(v) == 0 else [int(u) for u in v] for v in axes)
        if len(a_axes) != len(b_axes):
            raise ValueError(f"tensordot: {len(a_axes)} axes of x1 against {len(b_axes)} of "
                             f"x2 ({axes!r})")
        for ax, t, name in [(a_axes, a, "x1"), (b_axes, b, "x2")]:
            if any(not -t.ndim <= v < t.ndim for v in ax):
                raise ValueError(f"tensordot: axes {ax} out of range for {name} of rank "
                                 f"{t.ndim}")
        a_axes, b_axes = [v % a.ndim for v in a_axes], [v % b.ndim for v in b_axes]
    letters = iter(string.ascii_letters)
    la = [next(letters) for _ in range(a.ndim)]
    lb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(a_axes, b_axes):
        lb[j] = la[i]
    out = [lab for i, lab in enumerate(la) if i not in a_axes] + \
        [lab for j, lab in enumerate(lb) if j not in b_axes]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)
