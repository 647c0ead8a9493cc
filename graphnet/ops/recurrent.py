"""The recurrent sequence ops: one op per recurrent layer call, lowered to C sequence
kernels (csrc/recurrent.c).

RNN_SEQUENCE(x, kernel, recurrent_kernel, [bias], [h0], [c0], [mask]) runs a SimpleRNN,
LSTM or GRU cell over every step of x (batch, T, D) and gives the record Y (batch, T, S)
of graphnet/ops/recurrent_layout.py (states, outputs, activated gates). Its gradient is
RNN_BPTT, backward through time giving the record Z, then one RNN_PARAM_GRAD per input,
each a large GEMM (or a sum) over all steps at once.

Attributes (all three ops): cell ("simple_rnn", "lstm", "gru"), units, activation,
recurrent_activation, go_backwards, reset_after (GRU), mask_mode (MASK_NONE, MASK_CARRY:
a masked step keeps the state and repeats the previous output, MASK_ZERO: its output is
zeros), has_bias, has_h0, has_c0, rec_masked (an input rec_mask (batch, gates * units)
after the mask: recurrent dropout, the previous state times gate q's mask in gate q's
recurrent product, as Keras 3's implementation 1). Steps run in input order, or from the
last with go_backwards; Y stays indexed by input step either way.
"""
import numpy as np

from ..graph.node import Node
from .dtypes import FLOAT_TYPES
from .elementwise import require_f32
from .recurrent_layout import (ACT_CODE, ACTIVATIONS, CELL_CODE, CELLS, GATES, MASK_CARRY,
                               MASK_NONE, MASK_ZERO, WRT, WRT_CODE, activate,
                               derivative_from_output, grad_layout, record_layout)
from .registry import NN, Op, OpError, register

def _optional_inputs(attrs):
    """Names of RNN_SEQUENCE's inputs after x, kernel, recurrent_kernel, in order."""
    names = ["bias"] if attrs["has_bias"] else []
    names += ["h0"] if attrs["has_h0"] else []
    names += ["c0"] if attrs["has_c0"] else []
    return names + _masks(attrs)


def _masks(attrs):
    return (["mask"] if attrs["mask_mode"] != MASK_NONE else []) + \
        (["rec_mask"] if attrs["rec_masked"] else [])


def _bptt_names(attrs):
    """Names of RNN_BPTT's inputs after gY, Y, recurrent_kernel."""
    return [n for n in _optional_inputs(attrs) if n != "bias"]


def _check_attrs(op, attrs):
    if attrs["cell"] not in CELLS:
        raise OpError(f"{op}: cell must be one of {CELLS}, got {attrs['cell']!r}")
    for key in ("activation", "recurrent_activation"):
        if attrs[key] not in ACTIVATIONS:
            raise OpError(f"{op}: {key} must be one of {ACTIVATIONS}, got {attrs[key]!r}")
    if attrs["mask_mode"] not in (MASK_NONE, MASK_CARRY, MASK_ZERO):
        raise OpError(f"{op}: mask_mode must be 0, 1 or 2, got {attrs['mask_mode']!r}")
    if attrs["has_c0"] and attrs["cell"] != "lstm":
        raise OpError(f"{op}: only an LSTM has a carry state c0")


def _same(op, what, got, want):
    if len(got) != len(want) or any(a is not None and b is not None and a != b
                                    for a, b in zip(got, want)):
        raise OpError(f"{op}: {what} must have shape {want}, got {got}")


def bias_shape(attrs):
    g = GATES[attrs["cell"]] * attrs["units"]
    return (2, g) if attrs["cell"] == "gru" and attrs["reset_after"] else (g,)


def _unpack(inputs, attrs):
    """{name: value} of RNN_SEQUENCE's inputs."""
    names = ["x", "kernel", "recurrent_kernel"] + _optional_inputs(attrs)
    return dict(zip(names, inputs))


# ---- the NumPy reference -------------------------------------------------------------

def _steps(T, go_backwards):
    return range(T - 1, -1, -1) if go_backwards else range(T)


def _split_bias(b, attrs):
    """(input-side bias, recurrent-side bias) as per-gate vectors (zeros when absent)."""
    if b is None:
        return 0.0, 0.0
    if b.ndim == 2:
        return b[0], b[1]
    return b, 0.0


def _gate_states(h, rec_mask, gates):
    """The previous state each gate's recurrent product reads: h, or h times that gate's
    recurrent dropout mask."""
    if rec_mask is None:
        return [h] * gates
    u = h.shape[1]
    return [h * rec_mask[:, q * u:(q + 1) * u] for q in range(gates)]


def _recurrent_product(hm, R):
    """Gate q's columns of R times hm[q], for every gate."""
    u = R.shape[0]
    return np.concatenate([hq @ R[:, q * u:(q + 1) * u] for q, hq in enumerate(hm)], axis=1)


def reference_forward(inputs, attrs):
    v = _unpack(inputs, attrs)
    x, W, R = v["x"], v["kernel"], v["recurrent_kernel"]
    cell, u, act, ract = attrs["cell"], attrs["units"], attrs["activation"], \
        attrs["recurrent_activation"]
    B, T, _ = x.shape
    masked = attrs["mask_mode"] != MASK_NONE
    at, S = record_layout(cell, u, attrs["reset_after"], masked)
    Y = np.zeros((B, T, S), dtype=x.dtype)
    b_in, b_rec = _split_bias(v.get("bias"), attrs)
    h = v["h0"] if "h0" in v else np.zeros((B, u), x.dtype)
    c = v["c0"] if "c0" in v else np.zeros((B, u), x.dtype)
    o = np.zeros((B, u), x.dtype)
    mask = v["mask"].astype(bool) if masked else np.ones((B, T), bool)
    g0 = at["gates"]
    for t in _steps(T, attrs["go_backwards"]):
        p = x[:, t] @ W + b_in
        m = mask[:, t:t + 1]
        hm = _gate_states(h, v.get("rec_mask"), GATES[cell])
        if cell == "lstm":
            z = p + _recurrent_product(hm, R)
            i, f = activate(ract, z[:, :u]), activate(ract, z[:, u:2 * u])
            gg, og = activate(act, z[:, 2 * u:3 * u]), activate(ract, z[:, 3 * u:])
            c_new = f * c + i * gg
            h_new = og * activate(act, c_new)
            Y[:, t, g0:g0 + 4 * u] = np.concatenate([i, f, gg, og], axis=1)
            c = np.where(m, c_new, c)
            Y[:, t, at["c"]:at["c"] + u] = c
        elif cell == "gru":
            zr = p[:, :2 * u] + _recurrent_product(hm[:2], R[:, :2 * u]) + \
                (b_rec[:2 * u] if np.ndim(b_rec) else 0.0)
            zg, rg = activate(ract, zr[:, :u]), activate(ract, zr[:, u:])
            if attrs["reset_after"]:
                rh = hm[2] @ R[:, 2 * u:] + (b_rec[2 * u:] if np.ndim(b_rec) else 0.0)
                Y[:, t, at["rh"]:at["rh"] + u] = rh
                hh = activate(act, p[:, 2 * u:] + rg * rh)
            else:
                hh = activate(act, p[:, 2 * u:] + (rg * hm[2]) @ R[:, 2 * u:])
            h_new = zg * h + (1 - zg) * hh
            Y[:, t, g0:g0 + 3 * u] = np.concatenate([zg, rg, hh], axis=1)
        else:
            h_new = activate(act, p + hm[0] @ R)
            Y[:, t, g0:g0 + u] = h_new
        h = np.where(m, h_new, h)
        Y[:, t, :u] = h
        if masked:
            o = np.where(m, h_new, o if attrs["mask_mode"] == MASK_CARRY else 0.0)
            Y[:, t, at["o"]:at["o"] + u] = o
    return Y


def reference_bptt(inputs, attrs):
    """Z from (gY, Y, recurrent_kernel, [h0], [c0], [mask], [rec_mask])."""
    gY, Y, R = inputs[:3]
    rest = dict(zip(_bptt_names(attrs), inputs[3:]))
    cell, u, act, ract = attrs["cell"], attrs["units"], attrs["activation"], \
        attrs["recurrent_activation"]
    B, T, _ = Y.shape
    mode = attrs["mask_mode"]
    at, _ = record_layout(cell, u, attrs["reset_after"], mode != MASK_NONE)
    zt, K = grad_layout(cell, u, attrs["reset_after"], attrs["rec_masked"])
    Z = np.zeros((B, T, K), dtype=Y.dtype)
    ones = np.ones((B, GATES[cell] * u), Y.dtype)
    gate_masks = [rest.get("rec_mask", ones)[:, q * u:(q + 1) * u] for q in range(GATES[cell])]
    mask = rest["mask"].astype(bool) if mode != MASK_NONE else np.ones((B, T), bool)
    h0 = rest.get("h0", np.zeros((B, u), Y.dtype))
    c0 = rest.get("c0", np.zeros((B, u), Y.dtype))
    order = list(_steps(T, attrs["go_backwards"]))
    dh = np.zeros((B, u), Y.dtype)
    dc = np.zeros((B, u), Y.dtype)
    do = np.zeros((B, u), Y.dtype)
    g0 = at["gates"]
    for k in range(T - 1, -1, -1):
        t = order[k]
        prev = order[k - 1] if k else None
        h_prev = Y[:, prev, :u] if k else h0
        m = mask[:, t:t + 1]
        dh_tot = dh + gY[:, t, :u]
        dhn = np.where(m, dh_tot, 0.0)
        dh_carry = np.where(m, 0.0, dh_tot)
        if mode != MASK_NONE:
            do_tot = do + gY[:, t, at["o"]:at["o"] + u]
            dhn = dhn + np.where(m, do_tot, 0.0)
            do = np.where(m, 0.0, do_tot) if mode == MASK_CARRY else np.zeros_like(do)
        gates = Y[:, t, g0:g0 + GATES[cell] * u]
        gg_y = gY[:, t, g0:g0 + GATES[cell] * u]
        hm = [h_prev * mq for mq in gate_masks]
        if attrs["rec_masked"]:
            Z[:, t, zt["hr"]:zt["hr"] + len(hm) * u] = np.concatenate(hm, axis=1)
        else:
            Z[:, t, zt["hr"]:zt["hr"] + u] = h_prev
        if cell == "lstm":
            c_prev = Y[:, prev, at["c"]:at["c"] + u] if k else c0
            i, f, g, o = (gates[:, j * u:(j + 1) * u] for j in range(4))
            dc_tot = dc + gY[:, t, at["c"]:at["c"] + u]
            c_new = f * c_prev + i * g
            tc = activate(act, c_new)
            dcn = np.where(m, dc_tot, 0.0) + dhn * o * derivative_from_output(act, tc)
            d_act = np.concatenate([dcn * g, dcn * c_prev, dcn * i, dhn * tc], axis=1) + gg_y
            acts = (ract, ract, act, ract)
            dp = np.concatenate([d_act[:, j * u:(j + 1) * u] *
                                 derivative_from_output(acts[j], gates[:, j * u:(j + 1) * u])
                                 for j in range(4)], axis=1)
            dc = np.where(m, 0.0, dc_tot) + dcn * f
            dh = dh_carry + _back_product(dp, R, gate_masks)
            Z[:, t, zt["dp"]:zt["dp"] + 4 * u] = dp
            Z[:, t, zt["dc"]:zt["dc"] + u] = dc
        elif cell == "gru":
            zg, rg, hh = (gates[:, j * u:(j + 1) * u] for j in range(3))
            dz = (dhn * (h_prev - hh) + gg_y[:, :u]) * derivative_from_output(ract, zg)
            dah = (dhn * (1 - zg) + gg_y[:, 2 * u:]) * derivative_from_output(act, hh)
            direct = dhn * zg
            if attrs["reset_after"]:
                rh = Y[:, t, at["rh"]:at["rh"] + u]
                dr = (dah * rh + gg_y[:, u:2 * u]) * derivative_from_output(ract, rg)
                drh = dah * rg + gY[:, t, at["rh"]:at["rh"] + u]
                dp = np.concatenate([dz, dr, dah], axis=1)
                drec = np.concatenate([dz, dr, drh], axis=1)
                Z[:, t, zt["dr"]:zt["dr"] + 3 * u] = drec
                dh = dh_carry + direct + _back_product(drec, R, gate_masks)
            else:
                d_rh_in = dah @ R[:, 2 * u:].T
                dr = (d_rh_in * hm[2] + gg_y[:, u:2 * u]) * derivative_from_output(ract, rg)
                dp = np.concatenate([dz, dr, dah], axis=1)
                at_rh = zt["hr"] + (2 * u if attrs["rec_masked"] else u)
                Z[:, t, at_rh:at_rh + u] = rg * hm[2]
                dh = dh_carry + direct + d_rh_in * rg * gate_masks[2] + \
                    _back_product(dp[:, :2 * u], R[:, :2 * u], gate_masks[:2])
            Z[:, t, zt["dp"]:zt["dp"] + 3 * u] = dp
        else:
            dp = (dhn + gg_y) * derivative_from_output(act, gates)
            dh = dh_carry + _back_product(dp, R, gate_masks)
            Z[:, t, zt["dp"]:zt["dp"] + u] = dp
        Z[:, t, zt["dh"]:zt["dh"] + u] = dh
    return Z


def _back_product(dG, R, gate_masks):
    """The recurrent products' share of the previous state's gradient: sum over gates q of
    mask_q * (dG_q @ R_q^T)."""
    u = R.shape[0]
    return sum(mq * (dG[:, q * u:(q + 1) * u] @ R[:, q * u:(q + 1) * u].T)
               for q, mq in enumerate(gate_masks))


def reference_param_grad(inputs, attrs):
    """The gradient of one RNN_SEQUENCE input (attrs["wrt"]) from Z (and W or x)."""
    Z = inputs[0]
    cell, u, wrt = attrs["cell"], attrs["units"], attrs["wrt"]
    g = GATES[cell] * u
    zt, _ = grad_layout(cell, u, attrs["reset_after"], attrs["rec_masked"])
    B, T, _ = Z.shape
    dp = Z[:, :, zt["dp"]:zt["dp"] + g]
    if wrt == "x":
        return dp @ inputs[1].T
    if wrt == "kernel":
        x = inputs[1]
        return x.reshape(B * T, -1).T @ dp.reshape(B * T, g)
    drec = Z[:, :, zt["dr"]:zt["dr"] + g] if "dr" in zt else dp
    if wrt == "recurrent_kernel" and attrs["rec_masked"]:   # gate q: (h * mask_q)^T dG_q
        return np.concatenate([Z[:, :, zt["hr"] + q * u:zt["hr"] + (q + 1) * u]
                               .reshape(B * T, u).T @
                               drec[:, :, q * u:(q + 1) * u].reshape(B * T, u)
                               for q in range(GATES[cell])], axis=1)
    if wrt == "recurrent_kernel":
        hr = Z[:, :, zt["hr"]:zt["hr"] + u].reshape(B * T, u)
        out = hr.T @ drec.reshape(B * T, g)
        if cell == "gru" and not attrs["reset_after"]:
            rh = Z[:, :, zt["hr"] + u:zt["hr"] + 2 * u].reshape(B * T, u)
            out[:, 2 * u:] = rh.T @ drec.reshape(B * T, g)[:, 2 * u:]
        return out
    if wrt == "bias":
        db = dp.sum(axis=(0, 1))
        return np.stack([db, drec.sum(axis=(0, 1))]) if "dr" in zt else db
    first = T - 1 if attrs["go_backwards"] else 0
    key = "dh" if wrt == "h0" else "dc"
    return np.ascontiguousarray(Z[:, first, zt[key]:zt[key] + u])


# ---- the ops -----------------------------------------------------------------------

def _kernel_args(node_attrs):
    a = node_attrs
    return dict(cell=CELL_CODE[a["cell"]], act=ACT_CODE[a["activation"]],
                ract=ACT_CODE[a["recurrent_activation"]], go_backwards=int(a["go_backwards"]),
                reset_after=int(a["reset_after"]), mask_mode=a["mask_mode"])


def _slot_or_none(ctx, values, name):
    return ctx.inp(values[name]) if name in values else -1


@register
class RnnSequence(Op):
    """RNN_SEQUENCE: see the module docstring; output Y (batch, T, S)."""
    name, group, arity = "RNN_SEQUENCE", NN, None

    def infer(self, shapes, dtypes, attrs):
        _check_attrs(self.name, attrs)
        names = ["x", "kernel", "recurrent_kernel"] + _optional_inputs(attrs)
        if len(shapes) != len(names):
            raise OpError(f"{self.name} takes inputs {names}, got {len(shapes)} inputs")
        s = dict(zip(names, shapes))
        d = dict(zip(names, dtypes))
        if len(s["x"]) != 3:
            raise OpError(f"{self.name}: the input must have rank 3 (batch, timesteps, "
                          f"features), got shape {s['x']}")
        B, T, D = s["x"]
        if T == 0:
            raise OpError(f"{self.name}: the input must have at least one time step, got "
                          f"shape {s['x']}")
        u, g = attrs["units"], GATES[attrs["cell"]] * attrs["units"]
        _same(self.name, "the kernel", s["kernel"], (D, g))
        _same(self.name, "the recurrent kernel", s["recurrent_kernel"], (u, g))
        if "bias" in s:
            _same(self.name, "the bias", s["bias"], bias_shape(attrs))
        for state in ("h0", "c0"):
            if state in s:
                _same(self.name, f"the initial state {state}", s[state], (B, u))
        if "rec_mask" in s:
            _same(self.name, "the recurrent dropout mask", s["rec_mask"], (B, g))
        if "mask" in s:
            _same(self.name, "the mask", s["mask"], (B, T))
            if d["mask"] != "bool":
                raise OpError(f"{self.name}: the mask must be bool, got {d['mask']}")
        floats = [d[n] for n in names if n != "mask"]
        if floats[0] not in FLOAT_TYPES or any(t != floats[0] for t in floats):
            raise OpError(f"{self.name}: the input, weights and states must share one float "
                          f"dtype, got {floats}")
        _, S = record_layout(attrs["cell"], u, attrs["reset_after"],
                             attrs["mask_mode"] != MASK_NONE)
        return (B, T, S), floats[0]

    def perform(self, inputs, attrs):
        return reference_forward(inputs, attrs)

    def grad(self, node, grad_output):
        v = _unpack(node.inputs, node.attrs)
        bptt_inputs = [grad_output, node, v["recurrent_kernel"]] + \
            [v[k] for k in _bptt_names(node.attrs)]
        Z = Node("RNN_BPTT", bptt_inputs, node.attrs)
        extra = {"x": v["kernel"], "kernel": v["x"]}
        grads = []
        for name in ["x", "kernel", "recurrent_kernel"] + _optional_inputs(node.attrs):
            if name in ("mask", "rec_mask"):
                grads.append(None)
                continue
            inputs = [Z] + ([extra[name]] if name in extra else [])
            grads.append(Node("RNN_PARAM_GRAD", inputs, dict(node.attrs.as_dict(), wrt=name)))
        return grads

    def lower(self, node, ctx):
        require_f32(node, ctx)
        v = _unpack(node.inputs, node.attrs)
        B, T, D = v["x"].shape
        u, g = node.attrs["units"], GATES[node.attrs["cell"]] * node.attrs["units"]
        work_len = B * (g + 2 * u)
        ctx.emit("GN_K_RNN_FORWARD", **_kernel_args(node.attrs), B=B, T=T, D=D, U=u,
                 S=node.shape[2], x=ctx.inp(v["x"]), W=ctx.inp(v["kernel"]),
                 R=ctx.inp(v["recurrent_kernel"]), b=_slot_or_none(ctx, v, "bias"),
                 h0=_slot_or_none(ctx, v, "h0"), c0=_slot_or_none(ctx, v, "c0"),
                 mask=_slot_or_none(ctx, v, "mask"), rm=_slot_or_none(ctx, v, "rec_mask"),
                 Y=ctx.out(node),
                 work=ctx.temp(4 * work_len), work_len=work_len)


@register
class RnnBptt(Op):
    """RNN_BPTT(gY, Y, recurrent_kernel, [h0], [c0], [mask]): backward through time of
    RNN_SEQUENCE given the gradient gY of its record Y; output Z (batch, T, K)."""
    name, group, arity = "RNN_BPTT", NN, None

    def infer(self, shapes, dtypes, attrs):
        _check_attrs(self.name, attrs)
        if len(shapes) < 3 or len(shapes[1]) != 3:
            raise OpError(f"{self.name}: takes the gradient, the rank-3 record and the "
                          f"recurrent kernel first, got shapes {shapes}")
        _same(self.name, "the gradient of the record", shapes[0], shapes[1])
        B, T, _ = shapes[1]
        _, K = grad_layout(attrs["cell"], attrs["units"], attrs["reset_after"],
                           attrs["rec_masked"])
        return (B, T, K), dtypes[1]

    def perform(self, inputs, attrs):
        return reference_bptt(inputs, attrs)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        gY, Y, R = node.inputs[:3]
        v = dict(zip(_bptt_names(node.attrs), node.inputs[3:]))
        B, T, S = Y.shape
        u = node.attrs["units"]
        work_len = 5 * B * u
        ctx.emit("GN_K_RNN_BPTT", **_kernel_args(node.attrs), B=B, T=T, U=u, S=S,
                 K=node.shape[2], gY=ctx.inp(gY), Y=ctx.inp(Y), R=ctx.inp(R),
                 h0=_slot_or_none(ctx, v, "h0"), c0=_slot_or_none(ctx, v, "c0"),
                 mask=_slot_or_none(ctx, v, "mask"), rm=_slot_or_none(ctx, v, "rec_mask"),
                 Z=ctx.out(node),
                 work=ctx.temp(4 * work_len), work_len=work_len)


@register
class RnnParamGrad(Op):
    """RNN_PARAM_GRAD(Z, [kernel for x | x for kernel]) {wrt}: the gradient of one input of
    RNN_SEQUENCE from its backward record Z: dx = dP W^T, dW = x^T dP, dR = hr^T dR (each
    one GEMM over batch * T rows), the bias a sum over steps, h0/c0 the state gradient
    before the first step."""
    name, group, arity = "RNN_PARAM_GRAD", NN, None

    def infer(self, shapes, dtypes, attrs):
        _check_attrs(self.name, attrs)
        wrt = attrs["wrt"]
        if wrt not in WRT:
            raise OpError(f"{self.name}: wrt must be one of {WRT}, got {wrt!r}")
        want = 2 if wrt in ("x", "kernel") else 1
        if len(shapes) != want or len(shapes[0]) != 3:
            raise OpError(f"{self.name} {{wrt={wrt}}} takes {want} inputs (Z first), got "
                          f"shapes {shapes}")
        B, T, _ = shapes[0]
        u, g = attrs["units"], GATES[attrs["cell"]] * attrs["units"]
        if wrt == "x":
            return (B, T, shapes[1][0]), dtypes[0]
        if wrt == "kernel":
            return (shapes[1][2], g), dtypes[0]
        if wrt == "recurrent_kernel":
            return (u, g), dtypes[0]
        if wrt == "bias":
            return bias_shape(attrs), dtypes[0]
        return (B, u), dtypes[0]

    def perform(self, inputs, attrs):
        return reference_param_grad(inputs, attrs)

    def lower(self, node, ctx):
        require_f32(node, ctx)
        Z = node.inputs[0]
        B, T, K = Z.shape
        other = node.inputs[1] if len(node.inputs) > 1 else None
        D = other.shape[0] if node.attrs["wrt"] == "x" else \
            other.shape[2] if other is not None else 0
        ctx.emit("GN_K_RNN_PARAM_GRAD", cell=CELL_CODE[node.attrs["cell"]],
                 wrt=WRT_CODE[node.attrs["wrt"]], go_backwards=int(node.attrs["go_backwards"]),
                 reset_after=int(node.attrs["reset_after"]),
                 rec_masked=int(node.attrs["rec_masked"]), B=B, T=T, D=D,
                 U=node.attrs["units"], K=K, Z=ctx.inp(Z),
                 other=ctx.inp(other) if other is not None else -1, out=ctx.out(node))
