"""GraphMAE (Hou et al., KDD 2022, arXiv 2205.10803) and GraphMAE2 (Hou et al., WWW 2023,
arXiv 2304.04779): masked node-feature reconstruction.

GraphMAE: mask a ``mask_rate`` share of the nodes (``int(mask_rate * N)``); of those, a
``1 - replace_rate`` share gets the learnable ``[MASK]`` token and a ``replace_rate`` share the
features of random nodes (THUDM/GraphMAE ``encoding_mask_noise``). The encoder runs on the
masked features; its output goes through a bias-free linear map, the masked rows are re-masked
to zero, and a one-layer GNN decoder reconstructs the input features. Loss: scaled cosine error
on the masked nodes only, :math:`\\frac1{|M|}\\sum_{i\\in M}(1-\\cos(x_i,\\hat x_i))^\\gamma`.
Embedding: the encoder's last layer on the unmasked graph.

GraphMAE2 adds latent prediction: an EMA target encoder and projector embed the *unmasked*
graph; the online projector + predictor of the masked pass predict those targets on the kept
nodes (SCE with ``gamma = 1``, weight ``lam``). Decoder re-masking is ``fixed`` (GraphMAE's) or
``random``: ``num_remask`` views, each re-masking a ``remask_rate`` share of the nodes with a
learnable decoder token, their reconstruction losses summed (THUDM/GraphMAE2 ``edcoder.py``).

Seed mini-batches of one large graph (:class:`~graphemb.models.base.NodeBatch`): masks and
re-masks are drawn over the sampled subgraph with the batch's keyed draws; the SCE runs over
the masked *seeds*, GraphMAE2's latent prediction over the kept seeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphemb.augment import MaskedFeatures, mask_node_features, sample_nodes  # noqa: F401 (re-export)
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput, NodeBatch, draws_of, seed_subset
from graphemb.models.gae import check_config
from graphemb.nn.ema import ema_update, make_target
from graphemb.nn.encoders import EncoderConfig, GNNEncoder


def sce_loss(x: Tensor, y: Tensor, gamma: float = 1.0) -> Tensor:
    r"""Scaled cosine error :math:`\mathrm{mean}_i (1 - \cos(x_i, y_i))^\gamma` (GraphMAE eq. 3).

    Shapes: ``x, y [M, F]`` -> scalar. ``gamma >= 1`` down-weights easy (already close) rows.
    """
    cos = (F.normalize(x, p=2, dim=-1) * F.normalize(y, p=2, dim=-1)).sum(-1)
    return (1.0 - cos).pow(gamma).mean()


def _masked_sce(recons, x: Tensor, idx: Tensor, gamma: float, nb: Optional[NodeBatch], name: str) -> Tensor:
    """Sum over decoder views of the SCE on the masked nodes (masked *seeds* with ``nb``)."""
    if nb is None and idx.numel() == 0:
        raise ValueError(f"{name} masked no node of {x.size(0)}; raise model.mask_rate")
    idx = seed_subset(idx, nb)
    if idx.numel() == 0:  # a seed batch with no masked seed: nothing to reconstruct
        return sum(r.sum() for r in recons) * 0.0
    return sum(sce_loss(r[idx], x[idx], gamma) for r in recons)


def _decoder(encoder: GNNEncoder, conv: str, out_channels: int, heads: int) -> GNNEncoder:
    """The one-layer GNN decoder ``h^L -> x`` (conv of the decoder's kind, linear output)."""
    e = encoder.cfg
    cfg = EncoderConfig(conv=conv, hidden_channels=out_channels, num_layers=1, heads=heads, act=e.act,
                        dropout=e.dropout, dropout_position="before", gin_mlp_layers=2,
                        gat_attention_dropout=e.gat_attention_dropout, gat_init=e.gat_init, gin_eps=e.gin_eps)
    return GNNEncoder(encoder.out_channels, cfg)


def _gat_encoder() -> EncoderConfig:
    # THUDM/GraphMAE Cora: 2-layer GAT, 4 heads x 128 = 512, PReLU on every layer (the encoder's
    # last layer keeps its activation), feat drop 0.2 before each layer, attention drop 0.1.
    return EncoderConfig(conv="gat", hidden_channels=512, num_layers=2, heads=4, act="prelu", act_last=True,
                         dropout=0.2, dropout_position="before", gat_attention_dropout=0.1)


@dataclass
class GraphMAEConfig:
    """GraphMAE hyperparameters (defaults: the official Cora config).

    Attributes:
        encoder: GNN encoder (default 2-layer GAT 4 x 128, PReLU, drops 0.2 / 0.1).
        decoder: conv of the one-layer decoder (``gat`` for nodes, ``gin`` for graphs).
        decoder_heads: attention heads of a GAT decoder (official ``nhead_out = 1``).
        mask_rate: share of nodes masked (default ``0.5``).
        replace_rate: share of the masked nodes given random nodes' features (default ``0.05``).
        gamma: SCE exponent ``alpha_l`` (default ``3``).
    """

    encoder: EncoderConfig = field(default_factory=_gat_encoder)
    decoder: str = "gat"
    decoder_heads: int = 1
    mask_rate: float = 0.5
    replace_rate: float = 0.05
    gamma: float = 3.0

    def validate(self) -> None:
        for name in ("mask_rate", "replace_rate"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"graphmae {name} must be in [0, 1), got {v}")
        if self.gamma <= 0:
            raise ValueError(f"graphmae gamma must be > 0, got {self.gamma}")


class GraphMAE(EmbeddingModel):
    """Masked graph auto-encoder (see the module docstring). ``extras``: ``recon`` ``[N, F]``,
    ``mask_nodes`` ``[M]``.

    Args:
        encoder: a :class:`GNNEncoder`; decoder: a one-layer GNN ``h^L -> F`` (``GNNEncoder``).
        mask_rate / replace_rate / gamma: see :class:`GraphMAEConfig`.
    """

    Config: ClassVar[type] = GraphMAEConfig

    def __init__(self, encoder: GNNEncoder, decoder: GNNEncoder, mask_rate: float = 0.5,
                 replace_rate: float = 0.05, gamma: float = 3.0) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.mask_rate, self.replace_rate, self.gamma = mask_rate, replace_rate, gamma
        self.enc_mask_token = nn.Parameter(torch.zeros(1, encoder.in_channels))
        self.encoder_to_decoder = nn.Linear(encoder.out_channels, encoder.out_channels, bias=False)

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[GraphMAEConfig] = None) -> "GraphMAE":
        cfg = cfg if cfg is not None else GraphMAEConfig()
        check_config(cls, cfg)
        cfg.validate()
        enc = GNNEncoder(in_channels, cfg.encoder)
        return cls(enc, _decoder(enc, cfg.decoder, in_channels, cfg.decoder_heads),
                   cfg.mask_rate, cfg.replace_rate, cfg.gamma)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None) -> ModelOutput:
        """Seed mini-batch ``nb``: the mask is drawn over the subgraph with ``nb``'s keyed draws;
        with ``nb.layout`` each layer runs only where the loss reads it (then ``recon`` has the
        seeds' rows only, the first ``nb.layout.num_seeds``)."""
        if not self.training:
            layers = self.encoder(x, edge_index, batch)
            return ModelOutput(z=layers[-1], layers=layers)
        m = mask_node_features(x, self.enc_mask_token, self.mask_rate, self.replace_rate, draws_of(nb))
        if nb is not None and nb.layout is not None:
            # Hop-ordered sampled subgraph: the encoder only within one hop of the seeds (what the
            # one-layer decoder reads), the decoder at the seeds (``recon`` holds their rows).
            from graphemb.nn.sampled import encode_sampled

            layers = encode_sampled(self.encoder, m.x, edge_index, nb.layout, reach=1, degree=nb.degree)
            rows = layers[-1].size(0)
            rep = self.encoder_to_decoder(layers[-1]).index_fill(0, m.mask_nodes[m.mask_nodes < rows], 0.0)
            recon = encode_sampled(self.decoder, rep, edge_index, nb.layout, degree=nb.degree)[-1]
            return ModelOutput(z=layers[-1], layers=layers, extras={"recon": recon, "mask_nodes": m.mask_nodes})
        layers = self.encoder(m.x, edge_index, batch)
        rep = self.encoder_to_decoder(layers[-1]).index_fill(0, m.mask_nodes, 0.0)  # re-mask
        recon = self.decoder(rep, edge_index, batch)[-1]
        return ModelOutput(z=layers[-1], layers=layers, extras={"recon": recon, "mask_nodes": m.mask_nodes})

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:
        """SCE over the masked nodes; with ``nb`` over the masked seeds."""
        rec = _masked_sce([out.extras["recon"]], x, out.extras["mask_nodes"], self.gamma, nb, "graphmae")
        return LossOutput(total=rec, parts={"sce": float(rec.detach())})


# ----------------------------------------------------------------------------- GraphMAE2


def _gat2_encoder() -> EncoderConfig:
    # THUDM/GraphMAE2 configs/cora.yaml: 1024 hidden, 8 heads.
    return EncoderConfig(conv="gat", hidden_channels=1024, num_layers=2, heads=8, act="prelu", act_last=True,
                         dropout=0.2, dropout_position="before", gat_attention_dropout=0.1)


@dataclass
class GraphMAE2Config:
    """GraphMAE2 hyperparameters (defaults: THUDM/GraphMAE2 ``configs/cora.yaml``).

    Attributes (besides GraphMAE's):
        remask: ``fixed`` (re-mask the encoder-masked nodes, one decoder pass) or ``random``
            (``num_remask`` passes, each re-masking ``remask_rate`` of the nodes with a token).
        lam: weight of the latent-prediction loss (default ``0.15``).
        momentum: EMA momentum of the target encoder/projector, per step (official Cora: ``0``,
            i.e. the target copies the online network after each step).
        projector_channels: hidden width of the projector (official ``256``).
    """

    encoder: EncoderConfig = field(default_factory=_gat2_encoder)
    decoder: str = "gat"
    decoder_heads: int = 1
    mask_rate: float = 0.5
    replace_rate: float = 0.15
    gamma: float = 3.0
    remask: str = "fixed"
    num_remask: int = 3
    remask_rate: float = 0.5
    lam: float = 0.15
    momentum: float = 0.0
    projector_channels: int = 256

    def validate(self) -> None:
        GraphMAEConfig.validate(self)  # type: ignore[arg-type]
        if self.remask not in ("fixed", "random"):
            raise ValueError(f"graphmae2 remask must be 'fixed' or 'random', got {self.remask!r}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"graphmae2 momentum must be in [0, 1], got {self.momentum}")


class GraphMAE2(EmbeddingModel):
    """GraphMAE2 (see the module docstring): GraphMAE's masking, decoder and SCE, composed with
    an EMA target branch (encoder + projector) and a predictor.

    ``extras``: ``recons`` (one reconstruction per decoder view), ``mask_nodes``,
    ``latent_pred`` / ``latent_target`` (kept nodes). ``after_step`` moves the targets by EMA.
    """

    Config: ClassVar[type] = GraphMAE2Config

    def __init__(self, encoder: GNNEncoder, decoder: GNNEncoder, mask_rate: float = 0.5, replace_rate: float = 0.15,
                 gamma: float = 3.0, remask: str = "fixed", num_remask: int = 3, remask_rate: float = 0.5,
                 lam: float = 0.15, momentum: float = 0.0, projector_channels: int = 256) -> None:
        super().__init__()
        h = encoder.out_channels
        self.encoder, self.decoder = encoder, decoder
        self.mask_rate, self.replace_rate, self.gamma = mask_rate, replace_rate, gamma
        self.remask, self.num_remask, self.remask_rate = remask, num_remask, remask_rate
        self.lam, self.momentum = lam, momentum
        self.enc_mask_token = nn.Parameter(torch.zeros(1, encoder.in_channels))
        self.encoder_to_decoder = nn.Linear(h, h, bias=False)
        self.dec_mask_token = nn.Parameter(torch.zeros(1, h)) if remask == "random" else None
        self.projector = nn.Sequential(nn.Linear(h, projector_channels), nn.PReLU(), nn.Linear(projector_channels, h))
        self.predictor = nn.Sequential(nn.PReLU(), nn.Linear(h, h))
        self.target_encoder = make_target(encoder)
        self.target_projector = make_target(self.projector)

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[GraphMAE2Config] = None) -> "GraphMAE2":
        cfg = cfg if cfg is not None else GraphMAE2Config()
        check_config(cls, cfg)
        cfg.validate()
        enc = GNNEncoder(in_channels, cfg.encoder)
        return cls(enc, _decoder(enc, cfg.decoder, in_channels, cfg.decoder_heads), cfg.mask_rate,
                   cfg.replace_rate, cfg.gamma, cfg.remask, cfg.num_remask, cfg.remask_rate, cfg.lam,
                   cfg.momentum, cfg.projector_channels)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None) -> ModelOutput:
        """Seed mini-batch ``nb``: masks and re-masks from ``nb``'s keyed draws; the latent
        prediction only for the kept seeds."""
        if not self.training:
            layers = self.encoder(x, edge_index, batch)
            return ModelOutput(z=layers[-1], layers=layers)
        draws = draws_of(nb)
        m = mask_node_features(x, self.enc_mask_token, self.mask_rate, self.replace_rate, draws)
        layers = self.encoder(m.x, edge_index, batch)
        keep = seed_subset(m.keep_nodes, nb)
        with torch.no_grad():
            target = self.target_projector(self.target_encoder(x, edge_index, batch)[-1][keep])
        pred = self.predictor(self.projector(layers[-1][keep]))
        rep = self.encoder_to_decoder(layers[-1])
        if self.remask == "fixed":
            recons = [self.decoder(rep.index_fill(0, m.mask_nodes, 0.0), edge_index, batch)[-1]]
        else:
            recons = []
            for i in range(self.num_remask):
                if draws.keyed:
                    re = torch.nonzero(draws.fork(10 + i).nodes(x.size(0)) < self.remask_rate).view(-1)
                else:
                    re = sample_nodes(x.size(0), self.remask_rate, x.device)
                r = rep.index_fill(0, re, 0.0)
                r = r.index_add(0, re, self.dec_mask_token.expand(re.numel(), -1))
                recons.append(self.decoder(r, edge_index, batch)[-1])
        return ModelOutput(z=layers[-1], layers=layers, extras={
            "recons": recons, "mask_nodes": m.mask_nodes, "latent_pred": pred, "latent_target": target})

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:
        """Summed SCE over the masked nodes (masked seeds with ``nb``) + ``lam`` x latent SCE."""
        rec = _masked_sce(out.extras["recons"], x, out.extras["mask_nodes"], self.gamma, nb, "graphmae2")
        pred = out.extras["latent_pred"]
        lat = sce_loss(pred, out.extras["latent_target"], 1.0) if pred.size(0) else pred.sum() * 0.0
        total = rec + self.lam * lat
        return LossOutput(total=total, parts={"sce": float(rec.detach()), "latent": float(lat.detach())})

    def after_step(self, step: int, total_steps: int) -> None:
        ema_update(self.target_encoder, self.encoder, self.momentum)
        ema_update(self.target_projector, self.projector, self.momentum)


MODELS.register("graphmae", GraphMAE)
MODELS.register("graphmae2", GraphMAE2)
