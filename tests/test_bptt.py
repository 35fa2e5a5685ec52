"""The batched-gradient recurrent layers (charlm.evaluate.bptt) compute PyTorch's own function and
its exact gradients: values equal to nn.GRU / nn.RNN, gradients equal to autograd's
through the module, and torch.autograd.gradcheck's finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from charlm.evaluate import bptt
from charlm.evaluate.dynamic import dynamic_log2prob, grad_rms
from charlm.neural.models import CharRNN, ModelConfig


def _net(arch: str, layers: int = 2, dtype=torch.float64) -> CharRNN:
    torch.manual_seed(0)
    net = CharRNN(ModelConfig(arch=arch, vocab_size=11, hidden_size=6, num_layers=layers,
                              dropout=0.3, embedding_dim=5))
    return net.to(dtype).eval()


@pytest.mark.parametrize("arch", ["rnn", "gru"])
@pytest.mark.parametrize("with_state", [False, True])
def test_stack_forward_is_the_module_with_its_gradients(arch, with_state):
    net = _net(arch)
    ids = torch.randint(0, 11, (9, 3))
    state = torch.randn(2, 3, 6, dtype=torch.float64) if with_state else None
    ref, ref_state = net(ids, state)
    out, out_state = bptt.stack_forward(net, ids, state)
    assert torch.equal(out, ref) and torch.equal(out_state, ref_state)
    w, ws = torch.randn_like(ref), torch.randn_like(ref_state)
    params = list(net.parameters())
    g_ref = torch.autograd.grad((ref * w).sum() + (ref_state * ws).sum(), params)
    g_out = torch.autograd.grad((out * w).sum() + (out_state * ws).sum(), params)
    for (name, _), a, b in zip(net.named_parameters(), g_ref, g_out):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10), name


@pytest.mark.parametrize("layer, gates", [(bptt.RNNLayer, 1), (bptt.GRULayer, 3)])
def test_layer_gradients_match_finite_differences(layer, gates):
    torch.manual_seed(1)
    H, E = 5, 4
    t = lambda *shape: torch.randn(*shape, dtype=torch.float64, requires_grad=True)  # noqa: E731
    args = (t(6, 2, E), t(2, H), t(gates * H, E), t(gates * H, H), t(gates * H), t(gates * H))
    assert torch.autograd.gradcheck(layer.apply, args)


def test_only_cpu_rnn_and_gru_in_eval_mode():
    assert bptt.supported(_net("gru")) and bptt.supported(_net("rnn", 1))
    assert not bptt.supported(_net("lstm"))           # oneDNN's fused backward is faster
    with pytest.raises(ValueError, match="eval-mode"):
        bptt.stack_forward(_net("gru").train(), torch.zeros(3, 1, dtype=torch.long))


@pytest.mark.parametrize("arch", ["rnn", "gru"])
def test_dynamic_evaluation_through_the_layers_is_autograds(arch, monkeypatch):
    """The same adapted scores as plain autograd through the module (fp32)."""
    net = _net(arch, dtype=torch.float32)
    ids = np.random.default_rng(0).integers(0, 11, 400)
    rms = grad_rms(net, ids, batches=2, batch_size=4, seq_len=16)
    fast = dynamic_log2prob(net, ids, rms, 3e-3, 1e-3, 25)
    monkeypatch.setattr(bptt, "supported", lambda net: False)
    slow = dynamic_log2prob(net, ids, rms, 3e-3, 1e-3, 25)
    assert np.allclose(fast, slow, atol=1e-4)
    assert not np.allclose(fast[100:], dynamic_log2prob(net, ids, rms, 0.0, 0.0, 25)[100:])
