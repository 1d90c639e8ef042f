"""GNN-as-predictor (MAGB): fusion -> MLP / GCN / GraphSAGE / GAT -> linear classifier.

The GNNs are the shared :class:`graphemb.nn.encoders.GNNEncoder`; the MLP is
:class:`graphemb.nn.mlp.MLP`. ``fusion="late"`` trains one backbone per modality and returns a
learned convex combination of their logits: ``sum_m softmax(beta)_m * logits_m``.

Dropout ``p`` is applied once per layer: on the input features, after every hidden GNN/MLP layer,
and never twice on the same tensor (the GNN encoder already drops its last layer's output).

GAT attention starts uniform: the predictors build the shared encoder with
``EncoderConfig(gat_uniform_init=True)``, i.e. the attention vectors ``a_src``/``a_dst`` of every
GATConv start at zero (they stay trainable), so at initialisation a GAT layer is the mean over the
neighbourhood (self loop included) and training learns departures from it. With PyG's default
Glorot init over wide z-scored inputs (e.g. 384 + 192 dims) the initial attention logits are
large and random (max weight per node 0.55 vs 0.25 uniform on the synthetic MAG), and with a few
labelled nodes (k-shot) the GAT never unlearns that random neighbour selection.
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
    """``x [N, in] -> logits [N, C]``: an MLP or a GNN encoder (hidden layers) plus a linear head.

    Args:
        in_channels: input width; num_classes: output width.
        model: ``mlp`` | ``gcn`` | ``sage`` | ``gat``; hidden: width (default 64);
        num_layers: default 2; dropout: default 0.5; heads: GAT heads (default 4, concatenated).
        uniform_attention_init: GAT attention vectors start at zero (default True; see module doc),
            passed to the encoder as ``EncoderConfig.gat_uniform_init``.
        attention_dropout: GAT attention-coefficient dropout (default 0.0,
            ``EncoderConfig.gat_attention_dropout``).
    """

    def __init__(self, in_channels: int, num_classes: int, model: str = "gcn", hidden: int = 64,
                 num_layers: int = 2, dropout: float = 0.5, heads: int = 4,
                 uniform_attention_init: bool = True, attention_dropout: float = 0.0) -> None:
        super().__init__()
        if model not in PREDICTORS:
            raise ValueError(f"unknown predictor {model!r}; choose one of {PREDICTORS}")
        self.model = model
        self.dropout = nn.Dropout(dropout)
        if model == "mlp":
            self.body = MLP(in_channels, hidden, hidden, num_layers=num_layers, dropout=dropout)
        else:
            cfg = EncoderConfig(conv=model, hidden_channels=hidden, num_layers=num_layers, dropout=dropout,
                                act_last=True, heads=heads if model == "gat" else 1,
                                gat_uniform_init=uniform_attention_init, gat_attention_dropout=attention_dropout)
            self.body = GNNEncoder(in_channels, cfg)
        self.head = nn.Linear(hidden, num_classes)

    def reset_parameters(self) -> None:
        self.body.reset_parameters()  # re-applies the uniform GAT attention init
        self.head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self.dropout(x)
        if self.model == "mlp":
            h = self.dropout(torch.relu(self.body(x)))
        else:
            h = self.body(x, edge_index)[-1]  # act_last: already activated and dropped out
        return self.head(h)


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
