"""train.precision=bf16 (autocast) and train.compile."""
from __future__ import annotations

import pytest
import torch

from graphemb.config import TrainConfig
from graphemb.data.synthetic import make_sbm
from graphemb.models import MODELS, IsoCVGAEConfig
from graphemb.nn import EncoderConfig
from graphemb.training.precision import autocast_context
from graphemb.training.trainer import fit


def test_bf16_context_runs_matmuls_in_bf16_and_fp32_does_not():
    lin, x = torch.nn.Linear(4, 3), torch.randn(2, 4)
    with autocast_context("bf16", torch.device("cpu")):
        assert lin(x).dtype == torch.bfloat16
    with autocast_context("fp32", torch.device("cpu")):
        assert lin(x).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast_context("fp8", torch.device("cpu"))


def _train(precision: str, **kw):
    d = make_sbm(num_nodes=60, feature_dim=6, seed=0)
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(6, IsoCVGAEConfig(encoder=EncoderConfig(hidden_channels=16)))
    res = fit(model, d, TrainConfig(epochs=3, lr=1e-3, precision=precision, progress=False, **kw))
    return model, res


def test_bf16_training_tracks_fp32_and_keeps_fp32_weights():
    m32, r32 = _train("fp32")
    m16, r16 = _train("bf16")
    assert all(p.dtype == torch.float32 for p in m16.parameters())
    l32, l16 = [h["loss"] for h in r32.history], [h["loss"] for h in r16.history]
    assert all(map(lambda v: v == v and abs(v) < float("inf"), l16))
    # bf16 keeps 8 mantissa bits: the epoch losses agree to a few per cent, not exactly.
    assert l16 != l32
    assert all(abs(a - b) / abs(a) < 0.05 for a, b in zip(l32, l16))


class _Noisy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.dropout(x + torch.randn_like(x), 0.5, training=True)


def test_compiled_model_draws_the_same_random_numbers_as_eager():
    # Inductor's own RNG gives other numbers for the same seed; compiled() must not use it
    from graphemb.training.precision import compiled

    x, model = torch.ones(64, 8), _Noisy()
    torch.manual_seed(3)
    eager = model(x)
    torch.manual_seed(3)
    comp = compiled(model, True)(x)
    assert torch.equal(eager, comp)
    assert not torch.equal(eager, model(x))  # the draws are random, not constant


@pytest.mark.slow
def test_compiled_training_matches_eager():
    _, eager = _train("fp32")
    _, comp = _train("fp32", compile=True)
    assert [h["loss"] for h in comp.history] == pytest.approx([h["loss"] for h in eager.history], rel=1e-4)


def test_bf16_on_a_cpu_without_bf16_units_warns_and_with_them_does_not(monkeypatch):
    import warnings

    from graphemb.training import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="without AVX512-BF16 or AMX"):
        autocast_context("bf16", torch.device("cpu"))
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        autocast_context("bf16", torch.device("cpu"))
        autocast_context("fp32", torch.device("cpu"))


def test_compiled_full_batch_training_gets_the_graph_ops_eager_gets():
    from graphemb.training.trainer import graph_ops_for

    d = make_sbm(num_nodes=60, feature_dim=6, seed=0)
    model = MODELS.get("isoc-vgae").from_config(6, IsoCVGAEConfig(encoder=EncoderConfig(hidden_channels=16)))
    eager, comp = (graph_ops_for(model, d, TrainConfig(compile=c)) for c in (False, True))
    assert eager is not None and comp is not None
    assert torch.equal(comp.degree, eager.degree) and comp.num_edges == eager.num_edges
    assert graph_ops_for(model, d, TrainConfig(compile=True, graph_ops=False)) is None
