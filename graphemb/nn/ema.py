"""Exponential-moving-average target networks (BYOL / BGRL / GraphMAE2).

The online/target split is data, not a subclass tree: a model keeps ``target = make_target(online)``
as a submodule and calls :func:`ema_update` from its ``after_step`` hook, which the one trainer
calls after every optimiser step.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


def make_target(online: nn.Module) -> nn.Module:
    """A frozen deep copy of ``online`` (``requires_grad=False`` on every parameter)."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    r"""In place: :math:`\theta_t \leftarrow m\,\theta_t + (1 - m)\,\theta_o` for every parameter.

    Buffers (BatchNorm statistics) are not averaged: each network keeps its own, as in BGRL.
    Raises ``ValueError`` when the two modules' parameters do not pair up.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    tp, op = list(target.parameters()), list(online.parameters())
    if len(tp) != len(op) or any(a.shape != b.shape for a, b in zip(tp, op)):
        raise ValueError("ema_update: target and online networks have different parameters; "
                         "build the target with make_target(online)")
    for t, o in zip(tp, op):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)


def cosine_momentum(step: int, total_steps: int, base: float) -> float:
    r"""BYOL/BGRL schedule :math:`1 - (1 - m_0)(\cos(\pi k / K) + 1) / 2`: ``base`` at step 0,
    rising to ``1`` at ``total_steps``."""
    if total_steps <= 0:
        return base
    k = min(max(step, 0), total_steps)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * k / total_steps) + 1.0) / 2.0
