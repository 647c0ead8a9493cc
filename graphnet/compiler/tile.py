"""Batch tiling (phase "tile"): run a chain of per-image ops a few images at a time.

A chain such as conv -> conv -> pool, whose intermediate values nothing else reads,
is rewritten as

    CONCATENATE(axis 0)[chain(SLICE(x, images c0:c1)) for each chunk]

so each chunk's intermediates are small enough to stay in cache between the ops, and
the memory planner reuses one chunk's buffers for the next (mnist_cnn's 30 MB of
convolution outputs at batch 128 become a few MB). Lowering makes this free of
copies: a leading-axis SLICE of a contiguous value is a view, and the chunks' last ops
write straight into the concatenation's buffer.

Only inference-shaped chains qualify: in a training step the backward pass reads the
intermediates, so chains are short and their results as large as what tiling would save.
"""
import numpy as np

from ..graph.graph import order_and_consumers, topological_order
from ..graph.node import Node
from ..ops.registry import CONTRACTION, ELEMENTWISE
from .phases import graph_pass

#: the ops that act on each image alone, and so commute with slicing the batch
PER_IMAGE = {"CONV", "CONV_TRANSPOSE", "POOL", "PAD"}
#: a chain is tiled when its intermediates (all images) exceed this many bytes
MIN_CHAIN_BYTES = 4 << 20
#: chunks are sized so one chunk's values of the chain take about this many bytes
CHUNK_BYTES = 3 << 20


def _nbytes(node):
    return int(np.prod(node.shape, dtype=np.int64)) * np.dtype(node.dtype).itemsize


def _is_heavy(node):
    return node.op.group == CONTRACTION


def batch_input(node):
    """Index of the one input that carries the batch through ``node`` (an op acting on
    each image alone), or None when ``node`` is not such an op."""
    if not node.shape or node.shape[0] is None:
        return None
    n = node.shape[0]
    if node.op.name in PER_IMAGE:
        return 0
    if node.op.group == CONTRACTION and node.op.name.startswith("CONV"):
        # fused convolutions: input 0 is the image; a residual input of the output's
        # shape would be a second batch input
        extra = [i for i, x in enumerate(node.inputs[2:], 2) if x.shape == node.shape]
        return None if extra else 0
    if node.op.group != ELEMENTWISE:
        return None
    batched = []
    for i, x in enumerate(node.inputs):
        if len(x.shape) == len(node.shape) and x.shape[0] == n and n > 1:
            batched.append(i)
        elif len(x.shape) == len(node.shape) and x.shape[0] != 1:
            return None
    return batched[0] if len(batched) == 1 else None


def _chains(outputs):
    """Maximal chains [v1, ..., vk] of per-image ops where each v_i (i < k) is read only
    by v_(i+1), through its batch input, and is not an output."""
    order, readers = order_and_consumers(outputs)
    pinned = {id(n) for n in outputs}

    def follower(v):
        rs = readers[id(v)]
        if id(v) in pinned or len(rs) != 1:
            return None
        nxt = rs[0]
        bi = batch_input(nxt)
        if bi is None or nxt.inputs[bi] is not v or nxt.inputs.count(v) != 1:
            return None
        return nxt

    chains, taken = [], set()
    for node in order:
        if id(node) in taken or batch_input(node) is None:
            continue
        head_src = node.inputs[batch_input(node)]
        if batch_input(head_src) is not None and follower(head_src) is node:
            continue  # not a chain head
        chain = [node]
        while (nxt := follower(chain[-1])) is not None:
            chain.append(nxt)
        taken.update(id(v) for v in chain)
        chains.append(chain)
    return chains


def _worth_tiling(chain):
    """Large intermediates, at least twice the result that stays whole, and a
    convolution among the ops (elementwise chains are fused into one pass already)."""
    n = chain[-1].shape[0]
    if len(chain) < 2 or n < 2 or not any(map(_is_heavy, chain)):
        return False
    inner = sum(_nbytes(v) for v in chain[:-1])
    return inner >= MIN_CHAIN_BYTES and inner >= 2 * _nbytes(chain[-1])


def _chunk_images(chain):
    n = chain[-1].shape[0]
    per_image = sum(_nbytes(v) for v in chain) // n
    chunk = max(1, CHUNK_BYTES // max(per_image, 1))
    return min(chunk, (n + 1) // 2)


def _tiled(chain, source):
    """The chain over ``source`` (its rebuilt batch input), chunk by chunk."""
    n, chunk = chain[-1].shape[0], _chunk_images(chain)
    rank = len(source.shape)
    pieces = []
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        x = Node("SLICE", (source,), {"begin": (c0,) + (None,) * (rank - 1),
                                      "end": (c1,) + (None,) * (rank - 1),
                                      "step": (1,) * rank})
        for v in chain:
            bi = batch_input(v)
            x = Node(v.op, tuple(x if i == bi else inp for i, inp in enumerate(v.inputs)),
                     v.attrs)
        pieces.append(x)
    return Node("CONCATENATE", tuple(pieces), {"axis": 0})


@graph_pass("tile")
def tile_batch(outputs, report):
    """Chains of per-image ops with large intermediates -> chunks of images."""
    if not any(_is_heavy(n) and n.op.name.startswith("CONV") for n in topological_order(outputs)):
        return outputs   # a chain worth tiling holds a convolution (batch_input, _is_heavy)
    chains = [c for c in _chains(outputs) if _worth_tiling(c)]
    if not chains:
        return outputs
    tails = {id(c[-1]): c for c in chains}
    mapping = {}
    for node in topological_order(outputs):
        new_inputs = tuple(mapping[id(x)] for x in node.inputs)
        chain = tails.get(id(node))
        if chain is None:
            mapping[id(node)] = node.with_inputs(new_inputs)
            continue
        head = chain[0]
        source = mapping[id(head.inputs[batch_input(head)])]
        mapping[id(node)] = _tiled(chain, source)
        report.fired["tile_batch"] += 1
    return [mapping[id(n)] for n in outputs]
