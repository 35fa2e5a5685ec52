"""Backpropagation through time for short segments, with the weight gradients batched.

Dynamic evaluation (charlm.evaluate.dynamic) takes a gradient step after every segment of ~50
chars of one stream. Through PyTorch's own CPU GRU and tanh RNN, autograd records each
time step and adds an outer product into the full weight gradients at every step: for a
2 x 256 GRU that is ~6 MB of memory traffic per char, and dynamic evaluation crawled at
~1.5 k chars/s. Here each layer is one autograd Function:

- forward: the fused single-layer kernel (`torch._VF.gru`/`rnn_tanh`, what nn.GRU and
  nn.RNN call), so the outputs are the module's own;
- backward: the gates recomputed for all steps at once from the saved outputs (one matrix
  product), then only the part that must be sequential, the gradient carried from step t
  to t-1 (a vector-matrix product and a few element-wise ops per step), then every weight
  gradient as one matrix product over the segment.

`stack_forward(net, ids, state)` is `CharRNN.forward` in eval mode (no dropout between
layers, fp32) through these layers; tests/test_bptt.py checks values and gradients
against PyTorch's modules.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.autograd import Function

from ..neural.models import CharRNN, State


def _carry_back(dout: Tensor, coef: Tensor, direct: Tensor | None, w_hh: Tensor,
                carry: Tensor) -> tuple[Tensor, Tensor]:
    """The sequential part of the backward pass: dh_t = dout_t + carry_t, where the
    carry to step t-1 is dh_t * direct_t + (dh_t * coef_t) @ w_hh (coef_t: d(pre-gates of
    W_hh h)/d h_t, per gate). Returns (dh for every t, the carry into h0). In numpy: at
    batch 1 a step is one small vector-matrix product, where torch's per-op overhead
    doubled the time (tests/test_bptt.py checks it against autograd)."""
    T, B, G, H = coef.shape
    douts, coefs, w = (a.detach().cpu().numpy() for a in (dout, coef, w_hh))
    directs = direct.detach().cpu().numpy() if direct is not None else None
    dh_all = np.empty_like(douts)
    c = carry.detach().cpu().numpy()
    for t in range(T - 1, -1, -1):
        dh = np.add(douts[t], c, out=dh_all[t])
        c = (coefs[t] * dh[:, None]).reshape(B, G * H) @ w
        if directs is not None:
            c += dh * directs[t]
    return torch.from_numpy(dh_all), torch.from_numpy(c)


def _weight_grads(dgi: Tensor, dgh: Tensor, x: Tensor, hp: Tensor,
                  w_ih: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """dx, dW_ih, dW_hh, db_ih, db_hh from the pre-gate gradients of all steps at once."""
    T, B = x.shape[:2]
    dgi, dgh = dgi.reshape(T * B, -1), dgh.reshape(T * B, -1)
    return ((dgi @ w_ih).view(T, B, -1), dgi.t() @ x.reshape(T * B, -1),
            dgh.t() @ hp.reshape(T * B, -1), dgi.sum(0), dgh.sum(0))


def _prev(h0: Tensor, out: Tensor) -> Tensor:
    return torch.cat([h0[None], out[:-1]])          # h_{t-1} for every t


def _gates(w: Tensor, b: Tensor, x: Tensor, G: int) -> Tensor:
    T, B = x.shape[:2]
    return torch.addmm(b, x.reshape(T * B, -1), w.t()).view(T, B, G, -1)


class RNNLayer(Function):
    """One tanh RNN layer: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        out, _ = torch._VF.rnn_tanh(x, h0[None], (w_ih, w_hh, b_ih, b_hh), True, 1, 0.0,
                                     False, False, False)
        ctx.save_for_backward(x, h0, out, w_ih, w_hh)
        return out

    @staticmethod
    def backward(ctx, dout):
        x, h0, out, w_ih, w_hh = ctx.saved_tensors
        coef = (1 - out * out)[:, :, None]
        dh_all, dh0 = _carry_back(dout.contiguous(), coef, None, w_hh, torch.zeros_like(h0))
        da = dh_all * coef[:, :, 0]
        dx, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(da, da, x, _prev(h0, out), w_ih)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


class GRULayer(Function):
    """One GRU layer, PyTorch's equations (gates r, z, n):
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h."""

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh):
        out, _ = torch._VF.gru(x, h0[None], (w_ih, w_hh, b_ih, b_hh), True, 1, 0.0,
                               False, False, False)
        ctx.save_for_backward(x, h0, out, w_ih, w_hh, b_ih, b_hh)
        return out

    @staticmethod
    def backward(ctx, dout):
        x, h0, out, w_ih, w_hh, b_ih, b_hh = ctx.saved_tensors
        hp = _prev(h0, out)
        gi, gh = _gates(w_ih, b_ih, x, 3), _gates(w_hh, b_hh, hp, 3)
        r = torch.sigmoid(gi[:, :, 0] + gh[:, :, 0])
        z = torch.sigmoid(gi[:, :, 1] + gh[:, :, 1])
        n = torch.tanh(gi[:, :, 2] + r * gh[:, :, 2])
        dn = (1 - z) * (1 - n * n)                  # d(pre-activation of n) / dh'
        coef = torch.stack([dn * gh[:, :, 2] * r * (1 - r), (hp - n) * z * (1 - z), dn * r], 2)
        dh_all, dh0 = _carry_back(dout.contiguous(), coef, z, w_hh, torch.zeros_like(h0))
        dgh = dh_all[:, :, None] * coef
        dgi = torch.cat([dgh[:, :, :2], (dh_all * dn)[:, :, None]], 2)
        dx, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(dgi, dgh, x, hp, w_ih)
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh


LAYERS = {"rnn": RNNLayer, "gru": GRULayer}


def supported(net: CharRNN) -> bool:
    """CPU rnn and gru models. The LSTM keeps its module: oneDNN's fused LSTM backward
    already batches its weight gradients (~2x faster than these layers would be for it);
    on CUDA cuDNN's backward does for every architecture."""
    return net.cfg.arch in LAYERS and next(net.parameters()).device.type == "cpu"


def stack_forward(net: CharRNN, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
    """`net(ids, state)` for an eval-mode fp32 rnn or gru CharRNN on the CPU, through the
    layers above: the same logits and state, gradients with batched weight products."""
    if net.training or not supported(net):
        raise ValueError("stack_forward: an eval-mode CPU rnn or gru CharRNN only")
    layer, rnn = LAYERS[net.cfg.arch], net.rnn
    h = net.embed(ids)
    h0 = state if state is not None else h.new_zeros(net.cfg.num_layers, h.shape[1],
                                                    net.cfg.hidden_size)
    finals = []
    for k in range(net.cfg.num_layers):
        w = [getattr(rnn, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h = layer.apply(h, h0[k], *w)
        finals.append(h[-1])
    return net.head(h), torch.stack(finals)
