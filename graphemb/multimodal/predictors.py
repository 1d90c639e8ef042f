"""GNN-as-predictor (MAGB): fusion -> MLP / GCN / GraphSAGE / GAT -> linear classifier.

The GNNs are the shared :class:`graphemb.nn.encoders.GNNEncoder`; the MLP is
:class:`graphemb.nn.mlp.MLP`. ``fusion="late"`` trains one backbone per modality and returns a
learned convex combination of their logits: ``sum_m softmax(beta)_m * logits_m``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from graphemb.multimodal.fusion import make_fusion
from graphemb.nn.encoders import EncoderConfig, GNNEncoder
from graphemb.nn.mlp import MLP

__all__ = ["PREDICTORS", "Backbone", "NodePredictor"]

PREDICTORS = ("mlp", "gcn", "sage", "gat")


class Backbone(nn.Module):
    """``x [N, in] -> logits [N, C]``: an MLP or a GNN encoder (hidden layers) plus a linear head."""

    def __init__(self, in_channels: int, num_classes: int, model: str = "gcn", hidden: int = 64,
                 num_layers: int = 2, dropout: float = 0.5, heads: int = 4) -> None:
        super().__init__()
        if model not in PREDICTORS:
            raise ValueError(f"unknown predictor {model!r}; choose one of {PREDICTORS}")
        self.model = model
        self.dropout = nn.Dropout(dropout)
        if model == "mlp":
            self.body = MLP(in_channels, hidden, hidden, num_layers=num_layers, dropout=dropout)
        else:
            cfg = EncoderConfig(conv=model, hidden_channels=hidden, num_layers=num_layers, dropout=dropout,
                                act_last=True, heads=heads if model == "gat" else 1)
            self.body = GNNEncoder(in_channels, cfg)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self.dropout(x)
        if self.model == "mlp":
            h = torch.relu(self.body(x))
        else:
            h = self.body(x, edge_index)[-1]
        return self.head(self.dropout(h))


class NodePredictor(nn.Module):
    """Node classifier over several modalities.

    Args:
        in_dims: width of each modality's features.
        num_classes: classes.
        model: ``mlp`` | ``gcn`` | ``sage`` | ``gat``.
        fusion: ``concat`` | ``mean`` | ``learned`` | ``late`` (see :mod:`graphemb.multimodal.fusion`).
        hidden: hidden width (default 64); fusion_dim: width of projected fusions (default 64).
        num_layers: message-passing / MLP layers (default 2); dropout: default 0.5.

    Shapes:
        ``xs``: list of ``[N, in_dims[m]]``, ``edge_index [2, E]``, ``masks``: list of ``[N]``
        bool or None -> logits ``[N, num_classes]``.
    """

    def __init__(self, in_dims: Sequence[int], num_classes: int, *, model: str = "gcn", fusion: str = "concat",
                 hidden: int = 64, fusion_dim: int = 64, num_layers: int = 2, dropout: float = 0.5) -> None:
        super().__init__()
        self.fusion_name = fusion
        kw = dict(model=model, hidden=hidden, num_layers=num_layers, dropout=dropout)
        if fusion == "late":
            self.backbones = nn.ModuleList(Backbone(d, num_classes, **kw) for d in in_dims)
            self.beta = nn.Parameter(torch.zeros(len(in_dims)))
        else:
            self.fusion = make_fusion(fusion, in_dims, fusion_dim)
            self.backbone = Backbone(self.fusion.out_dim, num_classes, **kw)

    def late_weights(self) -> Tensor:
        """``[M]`` weights of the per-modality logits (late fusion only)."""
        return torch.softmax(self.beta, 0)

    def forward(self, xs: Sequence[Tensor], edge_index: Tensor, masks: Sequence[Tensor] | None = None) -> Tensor:
        if self.fusion_name == "late":
            logits = torch.stack([b(x, edge_index) for b, x in zip(self.backbones, xs)], 0)  # [M, N, C]
            return (self.late_weights().view(-1, 1, 1) * logits).sum(0)
        return self.backbone(self.fusion(xs, masks), edge_index)
