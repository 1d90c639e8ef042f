"""Learning-rate schedules of the one trainer, chosen by ``TrainConfig.lr_schedule``.

The factor multiplies every parameter group's base learning rate and is applied once per epoch
(as GraphMAE's ``LambdaLR`` and BGRL's warm-up + cosine):

* ``constant``: ``1`` (after warm-up);
* ``cosine``: ``(1 + cos(pi * t / T)) / 2`` with ``t`` the epoch index after warm-up and ``T`` the
  epochs after warm-up (GraphMAE: no warm-up, ``T = epochs``);
* ``warmup_epochs = w > 0``: linear warm-up ``(e + 1) / w`` for the first ``w`` epochs (BGRL).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

SCHEDULES = ("constant", "cosine")


def lr_factor(epoch: int, epochs: int, schedule: str = "constant", warmup_epochs: int = 0) -> float:
    """Multiplier of the base learning rate at 0-based ``epoch`` of ``epochs``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown train.lr_schedule {schedule!r}; choose one of {SCHEDULES}")
    if warmup_epochs < 0:
        raise ValueError(f"train.warmup_epochs must be >= 0, got {warmup_epochs}")
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    if schedule == "constant":
        return 1.0
    span = max(epochs - warmup_epochs, 1)
    return (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / span)) / 2.0


def make_scheduler(optimizer: torch.optim.Optimizer, epochs: int, schedule: str = "constant",
                   warmup_epochs: int = 0) -> Optional[torch.optim.lr_scheduler.LambdaLR]:
    """A per-epoch ``LambdaLR`` for the schedule, or ``None`` for a constant rate without warm-up."""
    lr_factor(0, epochs, schedule, warmup_epochs)  # validate early
    if schedule == "constant" and warmup_epochs == 0:
        return None
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: lr_factor(e, epochs, schedule, warmup_epochs))
