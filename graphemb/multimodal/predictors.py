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

``egosep`` is the heterophily-aware predictor (:class:`EgoNeighbourEncoder`): each layer keeps a
node's own transform and the transform of its neighbours' mean apart and concatenates them
(H2GCN's ego/neighbour separation, Zhu et al., NeurIPS 2020, arXiv 2006.11468; GraphSAGE with a
root weight sums the same two terms instead), and the head reads every layer's output
concatenated (H2GCN's combination of intermediate representations). On a graph whose linked
nodes are mostly of other classes, a mean that mixes a node with its neighbours (GCN, GAT at
uniform attention) blurs the node's own evidence; the separation keeps it.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from graphemb.multimodal.fusion import make_fusion
from graphemb.nn.encoders import EncoderConfig, GNNEncoder
from graphemb.nn.mlp import MLP

__all__ = ["PREDICTORS", "Backbone", "NodePredictor", "EgoNeighbourConv", "EgoNeighbourEncoder"]

PREDICTORS = ("mlp", "gcn", "sage", "gat", "egosep")


class EgoNeighbourConv(nn.Module):
    """``[N, in] -> [N, 2 * out]``: ``[W_ego x_i || W_nbr mean_{j in N(i)} x_j]`` (H2GCN design 1).

    ``N(i)`` are the neighbours of ``i`` along ``edge_index`` (messages ``j -> i`` for each edge
    ``(j, i)``), self loops removed, so ``x_i`` never enters its own neighbour mean; a node
    without neighbours gets a zero neighbour mean (its neighbour half is ``b_nbr``).

    Args:
        in_channels, out_channels: widths; the output is ``2 * out_channels`` wide.
        bias: default True.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.lin_ego = nn.Linear(in_channels, out_channels, bias=bias)
        self.lin_nbr = nn.Linear(in_channels, out_channels, bias=bias)

    def reset_parameters(self) -> None:
        self.lin_ego.reset_parameters()
        self.lin_nbr.reset_parameters()

    @staticmethod
    def neighbour_mean(x: Tensor, edge_index: Tensor) -> Tensor:
        """``[N, d]``: the mean of ``x`` over each node's neighbours (self loops excluded)."""
        src, dst = edge_index
        keep = src != dst
        src, dst = src[keep], dst[keep]
        total = x.new_zeros(x.shape).index_add_(0, dst, x[src])
        deg = torch.bincount(dst, minlength=x.size(0)).clamp(min=1).to(x.dtype)
        return total / deg.view(-1, 1)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return torch.cat([self.lin_ego(x), self.lin_nbr(self.neighbour_mean(x, edge_index))], 1)


class EgoNeighbourEncoder(nn.Module):
    """Stacked :class:`EgoNeighbourConv` layers (ReLU, dropout after each) whose outputs are all
    concatenated: ``[N, in] -> [N, num_layers * 2 * hidden]`` (H2GCN designs 1 and 3).

    Args:
        in_channels: input width; hidden: width of each half of a layer (default 64);
        num_layers: default 2; dropout: default 0.5.
    """

    def __init__(self, in_channels: int, hidden: int = 64, num_layers: int = 2, dropout: float = 0.5) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        widths = [in_channels] + [2 * hidden] * (num_layers - 1)
        self.convs = nn.ModuleList(EgoNeighbourConv(w, hidden) for w in widths)
        self.dropout = nn.Dropout(dropout)
        self.out_channels = num_layers * 2 * hidden

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        outs = []
        for conv in self.convs:
            x = self.dropout(torch.relu(conv(x, edge_index)))
            outs.append(x)
        return torch.cat(outs, 1)


class Backbone(nn.Module):
    """``x [N, in] -> logits [N, C]``: an MLP or a GNN encoder (hidden layers) plus a linear head.

    Args:
        in_channels: input width; num_classes: output width.
        model: ``mlp`` | ``gcn`` | ``sage`` | ``gat`` | ``egosep`` (:class:`EgoNeighbourEncoder`);
            hidden: width (default 64; for ``egosep`` the width of each ego / neighbour half);
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
        head_in = hidden
        if model == "mlp":
            self.body = MLP(in_channels, hidden, hidden, num_layers=num_layers, dropout=dropout)
        elif model == "egosep":
            self.body = EgoNeighbourEncoder(in_channels, hidden, num_layers=num_layers, dropout=dropout)
            head_in = self.body.out_channels
        else:
            cfg = EncoderConfig(conv=model, hidden_channels=hidden, num_layers=num_layers, dropout=dropout,
                                act_last=True, heads=heads if model == "gat" else 1,
                                gat_uniform_init=uniform_attention_init, gat_attention_dropout=attention_dropout)
            self.body = GNNEncoder(in_channels, cfg)
        self.head = nn.Linear(head_in, num_classes)

    def reset_parameters(self) -> None:
        self.body.reset_parameters()  # re-applies the uniform GAT attention init
        self.head.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self.dropout(x)
        if self.model == "mlp":
            h = self.dropout(torch.relu(self.body(x)))
        elif self.model == "egosep":
            h = self.body(x, edge_index)  # every layer already activated and dropped out
        else:
            h = self.body(x, edge_index)[-1]  # act_last: already activated and dropped out
        return self.head(h)


class NodePredictor(nn.Module):
    """Node classifier over several modalities.

    Args:
        in_dims: width of each modality's features.
        num_classes: classes.
        model: ``mlp`` | ``gcn`` | ``sage`` | ``gat`` | ``egosep``.
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
