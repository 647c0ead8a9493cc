"""ONNX mappings of the recurrent ops (graphnet/ops/recurrent.py), registered into
onnx_export.MAPPINGS.

RNN_SEQUENCE gives the whole record Y (states, outputs, activated gates, GRU's rh), which
ONNX's LSTM/GRU/RNN ops do not, so it is written with standard ops: one MatMul projects
every step's input, then a Scan whose body is one step of the NumPy reference and emits
that step's record row; go_backwards runs the Scan in reverse (its outputs reversed too,
so Y stays indexed by input step); a mask is a Where. RNN_BPTT is a Scan the other way,
one step of the reference backward per iteration, and RNN_PARAM_GRAD MatMuls and
ReduceSums over the batch * T rows of the backward record Z.
"""
from contextlib import contextmanager

import numpy as np

from ..ops.recurrent import _bptt_names, _optional_inputs
from ..ops.recurrent_layout import GATES, MASK_CARRY, MASK_NONE, grad_layout, record_layout

_ACT = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


class _Graph:
    """Small helpers over a mapping's emitter (c: onnx_export.Ctx)."""

    def __init__(self, c):
        self.c, self.e = c, c.e
        self.a = c.node.attrs
        self.u = self.a["units"]
        self.g = GATES[self.a["cell"]] * self.u
        self.float_type = self.e.helper.np_dtype_to_tensor_dtype(np.dtype(c.dtype))

    def op(self, *args, **kwargs):
        return self.e.op(*args, **kwargs)

    def cols(self, x, lo, hi, axis=-1):
        """x[..., lo:hi] along ``axis``."""
        return self.op("Slice", [x, self.e.ints([lo]), self.e.ints([hi]), self.e.ints([axis])])

    def gate(self, x, q, n=1):
        """Columns of gates q .. q + n - 1 (units wide each)."""
        return self.cols(x, q * self.u, (q + n) * self.u)

    def add(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = self.op("Add", [out, x])
        return out

    def mul(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = self.op("Mul", [out, x])
        return out

    def sub(self, a, b):
        return self.op("Sub", [a, b])

    def one_minus(self, x):
        return self.sub(self.c.c(1.0), x)

    def concat(self, xs, axis=1):
        return xs[0] if len(xs) == 1 else self.op("Concat", xs, axis=axis)

    def where(self, m, a, b):
        return self.op("Where", [m, a, b])

    def keep(self, m, a):
        """Where(m, a, 0)."""
        return self.where(m, a, self.c.c(0.0))

    def activate(self, name, x):
        if name == "linear":
            return x
        if name == "hard_sigmoid":
            return self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        return self.op(_ACT[name], [x])

    def derivative(self, name, y, times):
        """times * d act(x) / dx, written with y = act(x) (recurrent_layout's rule)."""
        if name == "linear":
            return times
        if name == "tanh":
            return self.mul(times, self.one_minus(self.mul(y, y)))
        if name == "sigmoid":
            return self.mul(times, y, self.one_minus(y))
        positive = self.op("Greater", [y, self.c.c(0.0)])
        if name == "relu":
            return self.mul(times, self.op("Cast", [positive], to=self.float_type))
        inside = self.op("And", [positive, self.op("Less", [y, self.c.c(1.0)])])
        return self.mul(times, self.op("Cast", [inside], to=self.float_type), self.c.c(1 / 6))

    def zeros(self, like):
        """(batch, units) zeros, the batch read from ``like``'s first dimension."""
        batch = self.op("Gather", [self.op("Shape", [like]), self.e.ints([0])], axis=0)
        shape = self.op("Concat", [batch, self.e.ints([self.u])], axis=0)
        value = self.e.helper.make_tensor("value", self.float_type, [1], [0.0])
        return self.op("ConstantOfShape", [shape], value=value)

    def gate_states(self, h, rec_mask, gates):
        """The previous state each gate's recurrent product reads."""
        if rec_mask is None:
            return [h] * gates
        return [self.mul(h, self.gate(rec_mask, q)) for q in range(gates)]

    def product(self, hm, R, lo, hi, masked):
        """Gates lo .. hi - 1 of the recurrent product: hm[q] @ R's gate q columns (one
        MatMul of the shared state without recurrent dropout)."""
        if not masked:
            return self.op("MatMul", [hm[lo], self.gate(R, lo, hi - lo)])
        return self.concat([self.op("MatMul", [hm[q], self.gate(R, q)])
                            for q in range(lo, hi)])

    def back_product(self, dG, R, masks, gates):
        """sum over gates q < ``gates`` of mask_q * (dG_q @ R_q^T)."""
        if masks is None:
            return self.op("MatMul", [dG, self.op("Transpose", [self.gate(R, 0, gates)])])
        return self.add(*[self.mul(masks[q], self.op("MatMul", [
            self.gate(dG, q), self.op("Transpose", [self.gate(R, q)])])) for q in range(gates)])

    def scan(self, states, scans, scan_types, body, reverse, n_rows):
        """A Scan over axis 1 of ``scans``; ``body(state names, step names) -> (new
        states, rows)``. Returns the stacked rows (batch, T, ...), reversed like the
        iteration when ``reverse`` so they stay indexed by input step."""
        e, helper = self.e, self.e.helper
        state_in = [e.fresh("state") for _ in states]
        step_in = [e.fresh("step") for _ in scans]
        with _subgraph(e) as nodes:
            new_states, rows = body(state_in, step_in)
            outs = [self.op("Identity", [x]) for x in new_states + rows]
        types = [self.float_type] * len(states) + scan_types

        def info(name, t):
            return helper.make_tensor_value_info(name, t, None)
        graph = helper.make_graph(nodes, e.fresh("scan_body"),
                                  [info(n, t) for n, t in zip(state_in + step_in, types)],
                                  [info(n, self.float_type) for n in outs])
        direction = int(bool(reverse))
        results = self.op("Scan", states + scans, outputs=len(states) + n_rows, body=graph,
                          num_scan_inputs=len(scans), scan_input_axes=[1] * len(scans),
                          scan_input_directions=[direction] * len(scans),
                          scan_output_axes=[1] * n_rows,
                          scan_output_directions=[direction] * n_rows)
        return results[len(states):]


@contextmanager
def _subgraph(e):
    """Nodes emitted inside go to a fresh list (a Scan body); constants stay outer."""
    outer, e.nodes = e.nodes, []
    try:
        yield e.nodes
    finally:
        e.nodes = outer


def _bias_parts(s, b):
    """(input-side bias, recurrent-side bias) names, None where absent."""
    if b is None:
        return None, None
    if s.a["cell"] == "gru" and s.a["reset_after"]:
        return s.cols(b, 0, 1, axis=0), s.cols(b, 1, 2, axis=0)
    return b, None


def _step_mask(s, m):
    """A step's (batch,) mask as (batch, 1) for Where."""
    return s.op("Unsqueeze", [m, s.e.ints([1])])


# ---- RNN_SEQUENCE -------------------------------------------------------------------------

def _cell_step(s, p, h, c, rec_mask, R, b_rec):
    """(h_new, c_new, gates list, rh) of one step from the input projection p."""
    a, u = s.a, s.u
    act, ract = a["activation"], a["recurrent_activation"]
    masked = rec_mask is not None
    hm = s.gate_states(h, rec_mask, GATES[a["cell"]])
    if a["cell"] == "lstm":
        z = s.add(p, s.product(hm, R, 0, 4, masked))
        i, f = s.activate(ract, s.gate(z, 0)), s.activate(ract, s.gate(z, 1))
        g, o = s.activate(act, s.gate(z, 2)), s.activate(ract, s.gate(z, 3))
        c_new = s.add(s.mul(f, c), s.mul(i, g))
        return s.mul(o, s.activate(act, c_new)), c_new, [i, f, g, o], None
    if a["cell"] == "gru":
        zr = s.add(s.gate(p, 0, 2), s.product(hm, R, 0, 2, masked),
                   *([s.gate(b_rec, 0, 2)] if b_rec else []))
        zg, rg = s.activate(ract, s.gate(zr, 0)), s.activate(ract, s.gate(zr, 1))
        rh = None
        if a["reset_after"]:
            rh = s.add(s.op("MatMul", [hm[2], s.gate(R, 2)]),
                       *([s.gate(b_rec, 2)] if b_rec else []))
            hh = s.activate(act, s.add(s.gate(p, 2), s.mul(rg, rh)))
        else:
            hh = s.activate(act, s.add(s.gate(p, 2),
                                       s.op("MatMul", [s.mul(rg, hm[2]), s.gate(R, 2)])))
        h_new = s.add(s.mul(zg, h), s.mul(s.one_minus(zg), hh))
        return h_new, None, [zg, rg, hh], rh
    h_new = s.activate(act, s.add(p, s.product(hm, R, 0, 1, masked)))
    return h_new, None, [h_new], None


def _sequence(c):
    s, a = _Graph(c), c.node.attrs
    v = dict(zip(["x", "kernel", "recurrent_kernel"] + _optional_inputs(a), c.ins))
    lstm, masked = a["cell"] == "lstm", a["mask_mode"] != MASK_NONE
    b_in, b_rec = _bias_parts(s, v.get("bias"))
    p = s.op("MatMul", [v["x"], v["kernel"]])
    if b_in:
        p = s.op("Add", [p, b_in])
    zeros = s.zeros(v["x"])
    states = [v.get("h0", zeros)] + ([v.get("c0", zeros)] if lstm else []) + \
        ([zeros] if masked else [])
    scans = [p] + ([v["mask"]] if masked else [])
    bool_type = s.e.helper.np_dtype_to_tensor_dtype(np.dtype(bool))

    def body(state, step):
        h, c_prev = state[0], state[1] if lstm else None
        h_new, c_new, gates, rh = _cell_step(s, step[0], h, c_prev, v.get("rec_mask"),
                                             v["recurrent_kernel"], b_rec)
        m = _step_mask(s, step[1]) if masked else None
        h_kept = s.where(m, h_new, h) if masked else h_new
        new, row = [h_kept], [h_kept]
        if lstm:
            c_kept = s.where(m, c_new, c_prev) if masked else c_new
            new.append(c_kept)
            row.append(c_kept)
        if masked:
            o = s.where(m, h_new, state[-1] if a["mask_mode"] == MASK_CARRY else
                        s.c.c(0.0))
            new.append(o)
            row.append(o)
        row += gates + ([rh] if rh else [])
        return new, [s.concat(row)]
    return s.scan(states, scans, [s.float_type] + [bool_type] * masked, body,
                  a["go_backwards"], 1)[0]


# ---- RNN_BPTT -----------------------------------------------------------------------------

def _previous(s, Y, at, first, T, go_backwards):
    """(batch, T, units): per input step, slot ``at`` of the record of the step run just
    before it (``first``, h0 or c0, before the first)."""
    slot = s.cols(Y, at, at + s.u)
    first = s.op("Unsqueeze", [first, s.e.ints([1])])
    if go_backwards:
        return s.concat([s.cols(slot, 1, T, axis=1), first])
    return s.concat([first, s.cols(slot, 0, T - 1, axis=1)])


def _bptt_step(s, gy, y, h_prev, c_prev, m, dh, dc, do, gate_masks, R):
    """One step of reference_bptt: (new dh, dc, do, the Z row)."""
    a, u, g = s.a, s.u, s.g
    cell, act, ract, mode = a["cell"], a["activation"], a["recurrent_activation"], \
        a["mask_mode"]
    at, _ = record_layout(cell, u, a["reset_after"], mode != MASK_NONE)
    g0 = at["gates"]
    dh_tot = s.add(dh, s.cols(gy, 0, u))
    dhn, dh_carry = (s.keep(m, dh_tot), s.where(m, s.c.c(0.0), dh_tot)) if m else \
        (dh_tot, None)
    if mode != MASK_NONE:
        do_tot = s.add(do, s.cols(gy, at["o"], at["o"] + u))
        dhn = s.add(dhn, s.keep(m, do_tot))
        if mode == MASK_CARRY:   # with MASK_ZERO nothing carries: do stays zeros
            do = s.where(m, s.c.c(0.0), do_tot)
    gates = [s.cols(y, g0 + j * u, g0 + (j + 1) * u) for j in range(GATES[cell])]
    gg_y = [s.cols(gy, g0 + j * u, g0 + (j + 1) * u) for j in range(GATES[cell])]
    hm = [s.mul(h_prev, mq) for mq in gate_masks] if gate_masks else [h_prev] * len(gates)
    hr = list(hm) if gate_masks else [h_prev]

    def with_carry(d):
        return s.add(dh_carry, d) if dh_carry else d
    dr, dc_out = None, None
    if cell == "lstm":
        i, f, gc, o = gates
        dc_tot = s.add(dc, s.cols(gy, at["c"], at["c"] + u))
        tc = s.activate(act, s.add(s.mul(f, c_prev), s.mul(i, gc)))
        dcn = s.derivative(act, tc, s.mul(dhn, o))
        dcn = s.add(s.keep(m, dc_tot), dcn) if m else s.add(dc_tot, dcn)
        d_act = [s.mul(dcn, gc), s.mul(dcn, c_prev), s.mul(dcn, i), s.mul(dhn, tc)]
        acts = (ract, ract, act, ract)
        dp = s.concat([s.derivative(acts[j], gates[j], s.add(d_act[j], gg_y[j]))
                       for j in range(4)])
        dc = s.add(s.where(m, s.c.c(0.0), dc_tot), s.mul(dcn, f)) if m else s.mul(dcn, f)
        dh = with_carry(s.back_product(dp, R, gate_masks, 4))
        dc_out = dc
    elif cell == "gru":
        zg, rg, hh = gates
        dz = s.derivative(ract, zg, s.add(s.mul(dhn, s.sub(h_prev, hh)), gg_y[0]))
        dah = s.derivative(act, hh, s.add(s.mul(dhn, s.one_minus(zg)), gg_y[2]))
        direct = s.mul(dhn, zg)
        if a["reset_after"]:
            rh = s.cols(y, at["rh"], at["rh"] + u)
            d_r = s.derivative(ract, rg, s.add(s.mul(dah, rh), gg_y[1]))
            drh = s.add(s.mul(dah, rg), s.cols(gy, at["rh"], at["rh"] + u))
            dp = s.concat([dz, d_r, dah])
            dr = s.concat([dz, d_r, drh])
            dh = with_carry(s.add(direct, s.back_product(dr, R, gate_masks, 3)))
        else:
            d_rh_in = s.op("MatMul", [dah, s.op("Transpose", [s.gate(R, 2)])])
            d_r = s.derivative(ract, rg, s.add(s.mul(d_rh_in, hm[2]), gg_y[1]))
            dp = s.concat([dz, d_r, dah])
            hr = hr[:2] + [s.mul(rg, hm[2])] if gate_masks else [h_prev, s.mul(rg, hm[2])]
            from_h = s.mul(d_rh_in, rg, *(gate_masks[2:3] if gate_masks else []))
            dh = with_carry(s.add(direct, from_h, s.back_product(
                s.concat([dz, d_r]), R, gate_masks, 2)))
    else:
        dp = s.derivative(act, gates[0], s.add(dhn, gg_y[0]))
        dh = with_carry(s.back_product(dp, R, gate_masks, 1))
    row = [dp] + ([dr] if dr else []) + hr + [dh] + ([dc_out] if dc_out else [])
    return dh, dc, do, s.concat(row)


def _bptt(c):
    s, a = _Graph(c), c.node.attrs
    gY, Y, R = c.ins[:3]
    v = dict(zip(_bptt_names(a), c.ins[3:]))
    lstm, masked = a["cell"] == "lstm", a["mask_mode"] != MASK_NONE
    B, T, _ = c.node.inputs[1].shape
    at, _ = record_layout(a["cell"], s.u, a["reset_after"], masked)
    zeros = s.zeros(Y)
    scans = [gY, Y, _previous(s, Y, at["h"], v.get("h0", zeros), T, a["go_backwards"])]
    if lstm:
        scans.append(_previous(s, Y, at["c"], v.get("c0", zeros), T, a["go_backwards"]))
    if masked:
        scans.append(v["mask"])
    states = [zeros] * (1 + lstm + masked)
    bool_type = s.e.helper.np_dtype_to_tensor_dtype(np.dtype(bool))
    rec_mask = v.get("rec_mask")

    def body(state, step):
        gy, y, h_prev = step[:3]
        c_prev = step[3] if lstm else None
        m = _step_mask(s, step[-1]) if masked else None
        dh, dc, do = state[0], state[1] if lstm else None, state[-1] if masked else None
        gate_masks = [s.gate(rec_mask, q) for q in range(GATES[a["cell"]])] \
            if rec_mask else None
        dh, dc, do, row = _bptt_step(s, gy, y, h_prev, c_prev, m, dh, dc, do, gate_masks, R)
        return [dh] + ([dc] if lstm else []) + ([do] if masked else []), [row]
    types = [s.float_type] * (len(scans) - masked) + [bool_type] * masked
    return s.scan(states, scans, types, body, not a["go_backwards"], 1)[0]


# ---- RNN_PARAM_GRAD -----------------------------------------------------------------------

def _rows(s, x, width):
    """(batch * T, width) view of a (batch, T, width) tensor."""
    return s.op("Reshape", [x, s.e.ints([-1, width])])


def _param_grad(c):
    s, a = _Graph(c), c.node.attrs
    Z, wrt, u, g = c.ins[0], a["wrt"], s.u, s.g
    zt, K = grad_layout(a["cell"], u, a["reset_after"], a["rec_masked"])
    dp = s.cols(Z, zt["dp"], zt["dp"] + g)
    if wrt == "x":
        return s.op("MatMul", [dp, s.op("Transpose", [c.ins[1]])])
    if wrt == "kernel":
        D = c.node.inputs[1].shape[2]
        return s.op("MatMul", [s.op("Transpose", [_rows(s, c.ins[1], D)]), _rows(s, dp, g)])
    drec = s.cols(Z, zt["dr"], zt["dr"] + g) if "dr" in zt else dp
    if wrt == "recurrent_kernel":
        hr = _rows(s, s.cols(Z, zt["hr"], zt["hr"] + (g if a["rec_masked"] else u)),
                   g if a["rec_masked"] else u)
        drec_rows = _rows(s, drec, g)
        if a["rec_masked"]:   # gate q: (h * mask_q)^T dG_q
            return s.concat([s.op("MatMul", [s.op("Transpose", [s.gate(hr, q)]),
                                             s.gate(drec_rows, q)])
                             for q in range(GATES[a["cell"]])])
        out = s.op("MatMul", [s.op("Transpose", [hr]), drec_rows])
        if a["cell"] == "gru" and not a["reset_after"]:   # R_h's rows: (r * h)^T dG_h
            rh = _rows(s, s.cols(Z, zt["hr"] + u, zt["hr"] + 2 * u), u)
            out = s.concat([s.gate(out, 0, 2), s.op("MatMul", [s.op("Transpose", [rh]),
                                                              s.gate(drec_rows, 2)])])
        return out
    if wrt == "bias":
        sums = [s.e.reduce("ReduceSum", _rows(s, d, g), (0,), "dr" in zt)
                for d in ([dp, drec] if "dr" in zt else [dp])]
        return s.concat(sums, axis=0)
    T = c.node.inputs[0].shape[1]
    first = T - 1 if a["go_backwards"] else 0
    key = zt["dh" if wrt == "h0" else "dc"]
    step = s.op("Gather", [Z, s.e.const(first, "int64")], axis=1)
    return s.cols(step, key, key + u)


MAPPINGS = {"RNN_SEQUENCE": _sequence, "RNN_BPTT": _bptt, "RNN_PARAM_GRAD": _param_grad}
