"""Deep Graph Infomax (Velickovic et al., ICLR 2019, arXiv 1809.10341), wrapping PyG's
:class:`torch_geometric.nn.DeepGraphInfomax` (its bilinear discriminator ``weight`` and its
``loss``) behind the graphemb model contract.

Positive patches ``z = h^L`` of the graph, negative patches of the row-shuffled features
(DGI's corruption), summary ``s = sigmoid(mean_i z_i)``; loss = BCE of the bilinear
discriminator on (z_i, s) vs (z~_i, s). A mini-batch of graphs is treated as one disconnected
graph with one summary (DGI is a node-level method; InfoGraph is its graph-level relative).
A seed mini-batch of one large graph corrupts inside the batch (every node gets a uniformly
drawn seed's features, keyed draws of :class:`~graphemb.models.base.NodeBatch`), reads the
summary out over the seeds and scores the seeds' patches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import DeepGraphInfomax

from graphemb.augment.draws import GLOBAL, GlobalDraws
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput, NodeBatch, draws_of, on_seeds
from graphemb.models.gae import check_config
from graphemb.nn.encoders import EncoderConfig, GNNEncoder
from graphemb.nn.graph_ops import GraphOps


def mean_summary(z: Tensor, *args) -> Tensor:
    """DGI readout: ``sigmoid(mean over nodes)``, ``[d]``."""
    return torch.sigmoid(z.mean(dim=0))


def shuffle_rows(x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None, draws: GlobalDraws = GLOBAL
                 ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """DGI corruption: permute the rows of ``x`` (keyed ``draws``: copy a random seed's row
    into each), keep the graph."""
    return x[draws.source_rows(torch.arange(x.size(0), device=x.device), x.size(0))], edge_index, batch


class _LastLayer(torch.nn.Module):
    """Adapts a layer-list encoder to PyG's ``encoder(x, edge_index, batch) -> Tensor``."""

    def __init__(self, encoder: GNNEncoder) -> None:
        super().__init__()
        self.gnn = encoder

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                ops: Optional[GraphOps] = None) -> Tensor:
        return self.gnn(x, edge_index, batch, ops=ops)[-1]


@dataclass
class DGIConfig:
    """DGI hyperparameters (defaults: the paper's transductive setting, one GCN layer of 512
    with PReLU)."""

    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        conv="gcn", hidden_channels=512, num_layers=1, act="prelu", act_last=True))


class DGI(EmbeddingModel):
    """Deep Graph Infomax; ``extras``: ``neg_z`` (corrupted patches) and ``summary`` ``[d]``.

    Args:
        encoder: a :class:`GNNEncoder` (its last layer should be nonlinear, as in DGI).
    """

    Config: ClassVar[type] = DGIConfig

    def __init__(self, encoder: GNNEncoder) -> None:
        super().__init__()
        self.dgi = DeepGraphInfomax(encoder.out_channels, encoder=_LastLayer(encoder),
                                    summary=mean_summary, corruption=shuffle_rows)

    @property
    def encoder(self) -> GNNEncoder:
        return self.dgi.encoder.gnn

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[DGIConfig] = None) -> "DGI":
        cfg = cfg if cfg is not None else DGIConfig()
        check_config(cls, cfg)
        return cls(GNNEncoder(in_channels, cfg.encoder))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None, ops: Optional[GraphOps] = None) -> ModelOutput:
        """``ops``: the graph's :class:`GraphOps` (full batch); both passes then use its GCN
        operator, the corrupted one too (shuffling rows keeps the graph)."""
        layers = self.encoder(x, edge_index, batch, ops=ops)
        if not self.training:
            return ModelOutput(z=layers[-1], layers=layers)
        # DeepGraphInfomax.forward, with the positive pass's layers kept for graph readouts.
        neg_z = self.dgi.encoder(*self.dgi.corruption(x, edge_index, batch, draws_of(nb)), ops=ops)
        summary = self.dgi.summary(on_seeds(layers[-1], nb))
        return ModelOutput(z=layers[-1], layers=layers, extras={"neg_z": neg_z, "summary": summary})

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None, ops: Optional[GraphOps] = None) -> LossOutput:
        total = self.dgi.loss(on_seeds(out.z, nb), on_seeds(out.extras["neg_z"], nb), out.extras["summary"])
        return LossOutput(total=total, parts={"infomax": float(total.detach())})


MODELS.register("dgi", DGI)
