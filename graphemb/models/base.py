"""The contract every self-supervised embedding model follows.

A model is composed (never subclassed from a data source): ``Model(encoder, decoder, ...)``.
The trainer, the evaluators, the CLI and the test template rely only on this contract:

* ``forward(x, edge_index, batch=None) -> ModelOutput`` — one stochastic pass (training mode).
* ``loss(out, x, edge_index, batch=None) -> LossOutput`` — the training objective of that pass.
* ``embed(x, edge_index, batch=None) -> Tensor [N, d]`` — deterministic node embeddings
  (eval mode, no sampling); graph embeddings are pooled from these by ``graphemb.nn.readout``.
* ``param_groups(lr) -> list[dict]`` — optimiser groups (IsoC-VGAE trains degree heads faster).
* ``after_step(step, total_steps)`` — called by the trainer after every optimiser step (0-based
  ``step`` of ``total_steps``); EMA target networks update here (BGRL, GraphMAE2). No-op default.
* ``Config`` (a dataclass) and ``from_config(in_channels, cfg)`` — the one source of truth for
  hyperparameters; YAML files and ``--set`` overrides fill this dataclass.

Nothing is stashed on the module between calls: everything a loss needs travels in the
``ModelOutput`` returned by ``forward``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional

import torch
from torch import Tensor, nn

from graphemb.registry import Registry


@dataclass
class ModelOutput:
    """What one forward pass returns.

    Attributes:
        z: node embeddings used downstream, ``[N, d]``.
        layers: every encoder layer's output ``h^1 .. h^L`` (``layers[-1]`` is ``h^L``).
        extras: model-specific tensors the loss needs (``mu``, ``logstd``, per-layer decoder
            means, ...), keyed by name.
    """

    z: Tensor
    layers: List[Tensor] = field(default_factory=list)
    extras: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LossOutput:
    """A scalar loss to back-propagate and its named parts (as floats, for logging)."""

    total: Tensor
    parts: Dict[str, float] = field(default_factory=dict)


class EmbeddingModel(nn.Module):
    """Base class that fixes the contract above (see module docstring)."""

    Config: ClassVar[type]

    @classmethod
    def from_config(cls, in_channels: int, cfg: Any) -> "EmbeddingModel":  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> LossOutput:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        was_training = self.training
        self.eval()
        try:
            return self.forward(x, edge_index, batch).z.detach()
        finally:
            self.train(was_training)

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook after each optimiser step (EMA target updates); nothing by default."""

    def param_groups(self, lr: float) -> List[Dict[str, Any]]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]


MODELS: Registry[type] = Registry("model")
