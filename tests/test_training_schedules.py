"""EMA targets, learning-rate schedules and validation checkpoint selection in the one trainer."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from graphemb.config import TrainConfig
from graphemb.models import MODELS
from graphemb.models.gae import GAEConfig
from graphemb.nn import EncoderConfig
from graphemb.nn.ema import cosine_momentum, ema_update, make_target
from graphemb.training.schedules import lr_factor, make_scheduler
from graphemb.training.trainer import fit


def test_ema_update_hand_computed():
    online = nn.Linear(2, 1)
    target = make_target(online)
    assert all(not p.requires_grad for p in target.parameters())
    with torch.no_grad():
        online.weight.fill_(1.0)
        target.weight.fill_(3.0)
    ema_update(target, online, momentum=0.75)
    assert torch.allclose(target.weight, torch.full((1, 2), 0.75 * 3 + 0.25 * 1))
    ema_update(target, online, momentum=1.0)  # frozen
    assert torch.allclose(target.weight, torch.full((1, 2), 2.5))
    with pytest.raises(ValueError, match="different parameters"):
        ema_update(nn.Linear(3, 1), online, 0.5)


def test_cosine_momentum_endpoints():
    assert cosine_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert cosine_momentum(50, 100, 0.99) == pytest.approx(0.995)
    assert cosine_momentum(100, 100, 0.99) == pytest.approx(1.0)


def test_lr_factor_cosine_and_warmup():
    # GraphMAE: (1 + cos(pi e / E)) / 2, stepped per epoch
    assert lr_factor(0, 4, "cosine") == 1.0
    assert lr_factor(2, 4, "cosine") == pytest.approx(0.5)
    assert lr_factor(3, 4, "cosine") == pytest.approx((1 + math.cos(math.pi * 3 / 4)) / 2)
    # BGRL: linear warm-up, then cosine over the remaining epochs
    assert [lr_factor(e, 6, "cosine", 2) for e in (0, 1, 2)] == pytest.approx([0.5, 1.0, 1.0])
    assert lr_factor(4, 6, "cosine", 2) == pytest.approx(0.5)
    assert lr_factor(3, 6, "constant", 2) == 1.0
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor(0, 4, "step")


def test_scheduler_drives_optimizer_lr():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=0.1)
    sched = make_scheduler(opt, 4, "cosine")
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1 * lr_factor(e, 4, "cosine") for e in range(4)])
    assert make_scheduler(opt, 4, "constant") is None


def _ring(n=10):
    src = torch.arange(n)
    ei = torch.stack([torch.cat([src, (src + 1) % n]), torch.cat([(src + 1) % n, src])])
    return Data(x=torch.randn(n, 3, generator=torch.Generator().manual_seed(0)), edge_index=ei)


def _gae():
    torch.manual_seed(0)
    return MODELS.get("gae").from_config(3, GAEConfig(encoder=EncoderConfig(hidden_channels=4, out_channels=2)))


def test_trainer_applies_cosine_schedule():
    model = _gae()
    seen = []
    orig = torch.optim.Adam.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return orig(self, *a, **k)

    torch.optim.Adam.step = spy
    try:
        fit(model, _ring(), TrainConfig(epochs=4, lr=0.1, lr_schedule="cosine"))
    finally:
        torch.optim.Adam.step = orig
    assert seen == pytest.approx([0.1 * lr_factor(e, 4, "cosine") for e in range(4)])


def test_trainer_calls_after_step_with_global_steps():
    model = _gae()
    calls = []
    model.after_step = lambda step, total: calls.append((step, total))
    fit(model, _ring(), TrainConfig(epochs=3))
    assert calls == [(0, 3), (1, 3), (2, 3)]


def test_validation_selection_restores_the_best_scoring_weights():
    model = _gae()
    scores = iter([0.1, 0.9, 0.3, 0.2])
    states = []

    def score(m):
        states.append({k: v.clone() for k, v in m.state_dict().items()})
        return next(scores)

    res = fit(model, _ring(), TrainConfig(epochs=4, select_by="val"), val_score=score)
    assert res.best_val_epoch == 2 and res.best_val_score == pytest.approx(0.9)
    assert all(torch.equal(v, states[1][k]) for k, v in model.state_dict().items())
    assert [h["val_score"] for h in res.history] == pytest.approx([0.1, 0.9, 0.3, 0.2])


def test_validation_selection_needs_a_score():
    with pytest.raises(ValueError, match="needs a validation score"):
        fit(_gae(), _ring(), TrainConfig(epochs=1, select_by="val"))
    with pytest.raises(ValueError, match="select_by"):
        fit(_gae(), _ring(), TrainConfig(epochs=1, select_by="loss"))
