"""MaskGAE (Li et al., KDD 2023, arXiv 2205.10053): masked graph auto-encoder.

Each pass hides edges with an augmentor (:class:`~graphemb.augment.PathMasking`, random walks
from sampled roots, or :class:`~graphemb.augment.EdgeMasking`), encodes the *visible* graph and
reconstructs the hidden edges with an MLP on ``z_u * z_v`` (BCE against as many uniform
negatives drawn outside the full graph), plus ``alpha`` x MSE of a degree decoder against the
node degrees of the masked graph (EdisonLeeeee/MaskGAE ``model.py``). By default a masked edge
is hidden in both directions, so it is never visible input while it is a target; ``hide =
"directed"`` (the ``paper`` presets) keeps the official bookkeeping, where the edges left unwalked
are re-symmetrised and a pair walked in one direction stays visible through the other. On Cora
link prediction that difference alone is worth about 1.2 AUC points (closing note of issue 8).

Embedding: every encoder layer on the full graph, concatenated and L2-normalised per node
(the official ``get_embedding(..., l2_normalize=True)``).

Seed-edge mini-batches of one large graph (``seed_kind = "edges"``, as GAE): the batch's
positive edges are the targets, hidden from the encoder in both directions, scored against
the batch's negatives; the augmentor masks the rest of the sampled subgraph with keyed draws
(:class:`~graphemb.models.base.NodeBatch`), so the encoder sees the corruption level of the full
objective; the degree loss runs over the seeds against their hidden degree (targets plus
masked context edges, the context part scaled by full over sampled degree: exact at full fan-out).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphemb.augment import Augmentor, EdgeMasking, PathMasking
from graphemb.augment.augmentors import _pair_keys
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput, NodeBatch
from graphemb.models.gae import _check_edges, batch_pairs, check_config, sample_negatives
from graphemb.nn.encoders import EncoderConfig, GNNEncoder
from graphemb.nn.mlp import MLP


@dataclass
class MaskGAEConfig:
    """MaskGAE hyperparameters (defaults: the official Cora node-classification command
    ``--bn --l2_normalize --alpha 0.004``, path masking).

    Attributes:
        encoder: GCN 128 -> 64, BatchNorm + ELU on every layer, dropout 0.8 before each layer.
        mask: ``path`` or ``edge``; p: mask ratio (edge) or root-sampling ratio (path), ``0.7``.
        walk_length: path-masking walk length (official: encoder layers + 1 = ``3``).
        start: path-masking roots, ``node`` (sampled nodes; official node classification) or
            ``edge`` (sources of a ``p`` share of edges; official link prediction).
        hide: ``pair`` (graphemb: a walked pair leaves the graph in both directions) or
            ``directed`` (the official code: a pair stays visible unless both directions were
            walked; see :class:`~graphemb.augment.PathMasking`). Path masking only.
        decoder_channels / decoder_layers / decoder_dropout: the edge and degree MLPs (32, 2, 0.2).
        alpha: degree-loss weight (``0.004`` on Cora; ``0`` disables the degree decoder's loss).
        l2_normalize: L2-normalise the concatenated embedding (default ``True``).
    """

    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        conv="gcn", hidden_channels=128, out_channels=64, num_layers=2, norm="batch", act="elu",
        act_last=True, dropout=0.8, dropout_position="before"))
    mask: str = "path"
    p: float = 0.7
    walk_length: int = 3
    start: str = "node"
    hide: str = "pair"
    decoder_channels: int = 32
    decoder_layers: int = 2
    decoder_dropout: float = 0.2
    alpha: float = 0.004
    l2_normalize: bool = True

    def augmentor(self) -> Augmentor:
        if self.mask == "path":
            return PathMasking(self.p, walk_length=self.walk_length, start=self.start, hide=self.hide)
        if self.mask == "edge":
            if self.hide != "pair":
                raise ValueError(f"maskgae hide={self.hide!r} is implemented for path masking only; "
                                 "use mask=path or hide=pair")
            return EdgeMasking(self.p)
        raise ValueError(f"maskgae mask must be 'path' or 'edge', got {self.mask!r}")


class MaskGAE(EmbeddingModel):
    """Masked graph auto-encoder (see the module docstring).

    ``extras``: ``h`` (last layer on the visible graph), ``masked`` ``[2, K]`` target pairs,
    ``visible`` (the encoder's edges). :meth:`link_scores` scores pairs with the edge decoder
    (used for validation-AUC checkpoint selection).

    Args:
        encoder: a :class:`GNNEncoder`; mask: an augmentor returning ``masked_edges``;
        edge_decoder: MLP ``d -> 1`` on ``z_u * z_v``; degree_decoder: MLP ``d -> 1``.
    """

    Config: ClassVar[type] = MaskGAEConfig
    seed_kind: ClassVar[str] = "edges"

    def __init__(self, encoder: GNNEncoder, mask: Augmentor, edge_decoder: nn.Module, degree_decoder: nn.Module,
                 alpha: float = 0.004, l2_normalize: bool = True) -> None:
        super().__init__()
        self.encoder, self.mask = encoder, mask
        self.edge_decoder, self.degree_decoder = edge_decoder, degree_decoder
        self.alpha, self.l2_normalize = alpha, l2_normalize

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[MaskGAEConfig] = None) -> "MaskGAE":
        cfg = cfg if cfg is not None else MaskGAEConfig()
        check_config(cls, cfg)
        enc = GNNEncoder(in_channels, cfg.encoder)
        d = enc.out_channels
        mlp = dict(num_layers=cfg.decoder_layers, dropout=cfg.decoder_dropout)
        return cls(enc, cfg.augmentor(), MLP(d, cfg.decoder_channels, 1, **mlp),
                   nn.Sequential(MLP(d, cfg.decoder_channels, 1, **mlp), nn.ReLU()), cfg.alpha, cfg.l2_normalize)

    def _embedding(self, layers) -> Tensor:
        z = torch.cat(layers, dim=-1)
        return F.normalize(z, p=2, dim=-1) if self.l2_normalize else z

    def combine_stage_outputs(self, outputs: List[Tensor]) -> Tensor:
        return self._embedding(outputs)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None) -> ModelOutput:
        if not self.training:
            layers = self.encoder(x, edge_index, batch)
            return ModelOutput(z=self._embedding(layers), layers=layers)
        if nb is None:
            view = self.mask(x, edge_index)
            masked = view.masked_edges
        else:  # the batch's positive edges are the targets; mask the context around them
            masked = batch_pairs(nb, "MaskGAE")[0]
            keys = _pair_keys(edge_index, x.size(0))
            view = self.mask(x, edge_index[:, ~torch.isin(keys, _pair_keys(masked, x.size(0)))], nb.draws())
        layers = self.encoder(x, view.edge_index, batch)
        return ModelOutput(z=self._embedding(layers), layers=layers,
                           extras={"h": layers[-1], "masked": masked, "visible": view.edge_index})

    def score_edges(self, h: Tensor, pairs: Tensor) -> Tensor:
        """Edge-decoder logits of ``pairs`` ``[2, P]`` from last-layer embeddings ``h``."""
        return self.edge_decoder(h[pairs[0]] * h[pairs[1]]).view(-1)

    @torch.no_grad()
    def link_scores(self, x: Tensor, edge_index: Tensor, pairs: Tensor) -> Tensor:
        """Deterministic edge probabilities of ``pairs`` given the graph ``(x, edge_index)``."""
        was = self.training
        self.eval()
        try:
            return torch.sigmoid(self.score_edges(self.encoder(x, edge_index)[-1], pairs))
        finally:
            self.train(was)

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:
        _check_edges(edge_index, "MaskGAE")
        h, pos = out.extras["h"], out.extras["masked"]
        if pos is None or pos.size(1) == 0:
            return LossOutput(total=h.sum() * 0.0, parts={"recon": 0.0, "degree": 0.0})
        n = x.size(0)
        if nb is None:
            # Negatives avoid every edge of the full graph (and self loops), as the official code.
            neg = sample_negatives(edge_index, n, batch)[:, : pos.size(1)]
            # one column per hidden pair: both ends; directed masking (official): the targets' in-degree
            ends = pos[1] if getattr(self.mask, "hide", "pair") == "directed" else pos.reshape(-1)
            deg, rows = torch.bincount(ends, minlength=n).to(h.dtype), slice(None)
        else:
            neg, deg, rows = batch_pairs(nb, "MaskGAE")[1], self._hidden_degree(out, edge_index, nb), nb.seed_mask
        rec = (-F.logsigmoid(self.score_edges(h, pos)).mean()
               - F.logsigmoid(-self.score_edges(h, neg)).mean())
        deg_loss = F.mse_loss(self.degree_decoder(h[rows]).view(-1), deg[rows])
        total = rec + self.alpha * deg_loss
        return LossOutput(total=total, parts={"recon": float(rec.detach()), "degree": float(deg_loss.detach())})


    @staticmethod
    def _hidden_degree(out: ModelOutput, edge_index: Tensor, nb: NodeBatch) -> Tensor:
        """Per node: target edges + masked context in-edges x (full - target) / sampled context degree."""
        n, pos, dst = nb.seed_mask.numel(), out.extras["masked"], edge_index[1]
        on_pos = torch.isin(_pair_keys(edge_index, n), _pair_keys(pos, n))
        hidden = ~torch.isin(_pair_keys(edge_index, n), _pair_keys(out.extras["visible"], n)) & ~on_pos
        pos_deg = torch.bincount(pos.reshape(-1), minlength=n).float()
        ctx = torch.bincount(dst[~on_pos], minlength=n).float().clamp(min=1)
        masked = torch.bincount(dst[hidden], minlength=n).float()
        return (pos_deg + masked * (nb.degree - pos_deg).clamp(min=0) / ctx).to(out.extras["h"].dtype)


MODELS.register("maskgae", MaskGAE)
