"""Graph auto-encoders: GAE and VGAE with an inner-product decoder (Kipf & Welling 2016).

Paper: "Variational Graph Auto-Encoders", arXiv 1611.07308. Composition follows PyG's
``torch_geometric.nn.models.GAE`` (``GAE(encoder, decoder)``), except that VGAE returns
``mu`` / ``logstd`` in :class:`ModelOutput.extras` instead of stashing them on the module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import batched_negative_sampling, negative_sampling

from graphemb.config import check
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput, NodeBatch, draws_of
from graphemb.nn.encoders import EncoderConfig, GNNEncoder

MAX_LOGSTD = 10.0


class InnerProductDecoder(nn.Module):
    r"""Inner-product decoder :math:`\sigma(z_i^\top z_j)` (Kipf & Welling 2016).

    No parameters. ``forward(z, edge_index, sigmoid=True)`` scores the given pairs (``[E]``);
    ``forward_all(z, sigmoid=True)`` returns the dense ``[N, N]`` matrix (small graphs only).
    """

    def forward(self, z: Tensor, edge_index: Tensor, sigmoid: bool = True) -> Tensor:
        s = (z[edge_index[0]] * z[edge_index[1]]).sum(dim=-1)
        return torch.sigmoid(s) if sigmoid else s

    def forward_all(self, z: Tensor, sigmoid: bool = True) -> Tensor:
        s = z @ z.t()
        return torch.sigmoid(s) if sigmoid else s


def sample_negatives(edge_index: Tensor, num_nodes: int, batch: Optional[Tensor] = None) -> Tensor:
    """Uniform negative pairs, as many as positive pairs (per graph when ``batch`` is given).

    Uses the global torch RNG (seed it). With ``batch``, negatives never cross graphs.
    """
    if batch is None:
        return negative_sampling(edge_index, num_nodes=num_nodes, num_neg_samples=edge_index.size(1))
    # PyG returns a float tensor when some graph of the batch has no candidate pair.
    return batched_negative_sampling(edge_index, batch).long()


def recon_loss(decoder: nn.Module, z: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    """Binary cross-entropy on positive and negative pairs (each term a mean), as PyG's
    ``GAE.recon_loss`` but computed from logits with ``logsigmoid`` (no ``eps``)."""
    pos_loss = -F.logsigmoid(decoder(z, pos, sigmoid=False)).mean()
    neg_loss = -F.logsigmoid(-decoder(z, neg, sigmoid=False)).mean() if neg.numel() else z.new_zeros(())
    return pos_loss + neg_loss


def batch_pairs(nb: NodeBatch, model: str):
    """Positive and negative pairs of a seed-edge mini-batch (``seed_kind = "edges"``)."""
    if nb.pos_edge_index is None or nb.neg_edge_index is None:
        raise ValueError(f"{model} trains on seed edges: the mini-batch must carry pos_edge_index and "
                         "neg_edge_index (graphemb.training.sampling.seed_batches(seed_kind='edges'))")
    return nb.pos_edge_index, nb.neg_edge_index


def check_config(model_cls: type, cfg: object) -> None:
    """Raise a clear error when ``cfg`` is not ``model_cls.Config`` (e.g. another model's)."""
    if not isinstance(cfg, model_cls.Config):
        raise TypeError(f"{model_cls.__name__}.from_config expects a {model_cls.Config.__name__}, got "
                        f"{type(cfg).__name__}; build it with MODELS.get(name).Config(...)")


def _check_edges(edge_index: Tensor, model: str) -> None:
    if edge_index.numel() == 0:
        raise ValueError(f"{model} reconstructs edges but the graph has none; "
                         "use a dataset with edges (or a model without an edge loss)")


@dataclass
class GAEConfig:
    """GAE hyperparameters. Default encoder: GCN 32 -> 16, linear last layer (Kipf & Welling)."""

    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(conv="gcn", hidden_channels=32, out_channels=16, num_layers=2)
    )


class GAE(EmbeddingModel):
    r"""Graph auto-encoder: ``z = encoder(x, A)[-1]``, :math:`\hat A_{ij} = \sigma(z_i^\top z_j)`.

    Loss: BCE on every positive edge of ``edge_index`` and as many uniformly sampled
    negatives (per graph for a mini-batch). Seed mini-batches of one large graph
    (``seed_kind = "edges"``, PyG's ``LinkNeighborLoader`` pattern): BCE on the batch's sampled
    positive edges against its sampled negatives (``nb.pos_edge_index`` / ``nb.neg_edge_index``).
    Embedding: ``h^L``.

    Args:
        encoder: a :class:`GNNEncoder` (any module returning a list of layers).
        decoder: pair scorer with ``forward(z, edge_index, sigmoid)``; default
            :class:`InnerProductDecoder`.
    """

    Config: ClassVar[type] = GAEConfig
    seed_kind: ClassVar[str] = "edges"

    def __init__(self, encoder: GNNEncoder, decoder: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder if decoder is not None else InnerProductDecoder()

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[GAEConfig] = None) -> "GAE":
        cfg = cfg if cfg is not None else GAEConfig()
        check_config(cls, cfg)
        return cls(GNNEncoder(in_channels, cfg.encoder))

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> ModelOutput:
        layers = self.encoder(x, edge_index, batch)
        return ModelOutput(z=layers[-1], layers=layers)

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:
        if nb is not None:
            pos, neg = batch_pairs(nb, "GAE")
        else:
            _check_edges(edge_index, "GAE")
            pos, neg = edge_index, sample_negatives(edge_index, x.size(0), batch)
        rec = recon_loss(self.decoder, out.z, pos, neg)
        return LossOutput(total=rec, parts={"recon": float(rec.detach())})


@dataclass
class VGAEConfig:
    """VGAE hyperparameters (defaults: Kipf & Welling 2016, GCN 32 then GCN heads to 16).

    Attributes:
        encoder: the shared stack before the heads; its last layer keeps its activation
            (``act_last=True``) because the mu/logstd heads follow.
        latent_channels: width of ``mu`` / ``logstd`` / ``z`` (default ``16``).
        kl_weight: weight of the KL term; ``None`` (default) = ``1 / N`` with ``N`` the number
            of nodes in the pass (PyG's ``examples/autoencoder.py`` scaling; the original TF code
            also divides the node-averaged KL by ``N`` while its reconstruction term is a mean
            over node pairs).
    """

    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(conv="gcn", hidden_channels=32, num_layers=1, act_last=True)
    )
    latent_channels: int = field(default=16, metadata=check(gt=0))
    kl_weight: Optional[float] = field(default=None, metadata=check(ge=0))


class VGAE(EmbeddingModel):
    r"""Variational graph auto-encoder (Kipf & Welling 2016).

    ``h = encoder(x, A)[-1]``; ``mu = GCN_mu(h, A)``, ``logstd = min(GCN_sigma(h, A), 10)``;
    ``z = mu + eps * exp(logstd)`` in training, ``z = mu`` in eval (and in :meth:`embed`).
    Loss = recon BCE (as :class:`GAE`) ``+ kl_weight * KL`` where
    :math:`KL = \frac1N\sum_i \sum_d KL(N(\mu_{id}, \sigma_{id}^2) \| N(0, 1))` (PyG ``kl_loss``)
    and ``kl_weight`` defaults to ``1/N``.

    ``extras``: ``z`` (the sample), ``mu``, ``logstd`` — nothing is stored on the module.

    Args:
        encoder: shared encoder stack (its last layer should be nonlinear).
        latent_channels: width of the heads (default ``16``).
        decoder: default :class:`InnerProductDecoder`.
        kl_weight: see :class:`VGAEConfig`.
    """

    Config: ClassVar[type] = VGAEConfig
    seed_kind: ClassVar[str] = "edges"

    def __init__(self, encoder: GNNEncoder, latent_channels: int = 16,
                 decoder: Optional[nn.Module] = None, kl_weight: Optional[float] = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder if decoder is not None else InnerProductDecoder()
        self.conv_mu = GCNConv(encoder.out_channels, latent_channels)
        self.conv_logstd = GCNConv(encoder.out_channels, latent_channels)
        self.kl_weight = kl_weight

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[VGAEConfig] = None) -> "VGAE":
        cfg = cfg if cfg is not None else VGAEConfig()
        check_config(cls, cfg)
        return cls(GNNEncoder(in_channels, cfg.encoder), cfg.latent_channels, kl_weight=cfg.kl_weight)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None) -> ModelOutput:
        layers = self.encoder(x, edge_index, batch)
        h = layers[-1]
        mu = self.conv_mu(h, edge_index)
        logstd = self.conv_logstd(h, edge_index).clamp(max=MAX_LOGSTD)
        z = mu + draws_of(nb).normal_like(mu) * logstd.exp() if self.training else mu
        return ModelOutput(z=z, layers=layers, extras={"z": z, "mu": mu, "logstd": logstd})

    def inference_stages(self):
        """Encoder stages plus the ``mu`` head (the embedding in eval mode)."""
        from graphemb.nn.encoders import Stage

        return self.encoder.stages() + [Stage(self.conv_mu, lambda h: h)]

    @staticmethod
    def kl_loss(mu: Tensor, logstd: Tensor) -> Tensor:
        """Mean over nodes of the sum over dims of ``KL(N(mu, sigma^2) || N(0, 1))``."""
        logstd = logstd.clamp(max=MAX_LOGSTD)
        return -0.5 * torch.mean(torch.sum(1 + 2 * logstd - mu**2 - logstd.exp() ** 2, dim=1))

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:
        """Seed mini-batch ``nb``: recon on the batch's pairs, KL averaged over its seeds and
        weighted by ``1 / N`` of the full graph (the full-batch objective's per-node scale)."""
        if nb is not None:
            pos, neg = batch_pairs(nb, "VGAE")
            mu, logstd = out.extras["mu"][nb.seed_mask], out.extras["logstd"][nb.seed_mask]
            n = nb.num_nodes
        else:
            _check_edges(edge_index, "VGAE")
            pos, neg = edge_index, sample_negatives(edge_index, x.size(0), batch)
            mu, logstd, n = out.extras["mu"], out.extras["logstd"], x.size(0)
        rec = recon_loss(self.decoder, out.extras["z"], pos, neg)
        kl = self.kl_loss(mu, logstd)
        w = self.kl_weight if self.kl_weight is not None else 1.0 / max(n, 1)
        total = rec + w * kl
        return LossOutput(total=total, parts={"recon": float(rec.detach()), "kl": float(kl.detach())})


MODELS.register("gae", GAE)
MODELS.register("vgae", VGAE)
