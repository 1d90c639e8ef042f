"""BGRL: Bootstrapped Graph Latents (Thakoor et al., ICLR 2022, arXiv 2102.06514).

Two augmented views (feature masking + edge dropping, each with its own probabilities); the
online encoder + predictor of each view predicts the EMA target encoder's embedding of the
other view; loss ``2 - cos(q_1, sg(y_2)) - cos(q_2, sg(y_1))`` (means over nodes), no negatives.
The target follows the online encoder by EMA with BYOL's cosine momentum schedule
``1 - (1 - m)(cos(pi k / K) + 1) / 2`` after every optimiser step (nerdslab/bgrl).
Embedding: the online encoder's last layer. Seed mini-batches augment the sampled subgraph
(keyed draws, see :class:`~graphemb.models.base.NodeBatch`) and average the loss over the seeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphemb.augment import Augmentor, Compose, EdgeDropping, FeatureMasking
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput, NodeBatch, draws_of, on_seeds
from graphemb.models.gae import check_config
from graphemb.nn.ema import cosine_momentum, ema_update, make_target
from graphemb.nn.encoders import EncoderConfig, GNNEncoder


@dataclass
class BGRLConfig:
    """BGRL hyperparameters (defaults: nerdslab/bgrl ``config/amazon-computers.cfg``).

    Attributes:
        encoder: GCN 256 -> 128, BatchNorm + PReLU after every layer.
        predictor_channels: hidden width of the predictor MLP (512).
        drop_edge_p_1 / drop_feat_p_1 / drop_edge_p_2 / drop_feat_p_2: the two views' augmentations.
        momentum: base EMA momentum ``mm`` (0.99), raised to 1 by the cosine schedule.
    """

    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(
        conv="gcn", hidden_channels=256, out_channels=128, num_layers=2, norm="batch", act="prelu", act_last=True))
    predictor_channels: int = 512
    drop_edge_p_1: float = 0.5
    drop_feat_p_1: float = 0.2
    drop_edge_p_2: float = 0.4
    drop_feat_p_2: float = 0.1
    momentum: float = 0.99


class BGRL(EmbeddingModel):
    """Online encoder + predictor, EMA target encoder (see the module docstring).

    ``extras``: ``q1``, ``q2`` (online predictions of each view) and ``y1``, ``y2`` (target
    embeddings, computed without gradients).

    Args:
        encoder: the online :class:`GNNEncoder`; the target is a frozen copy of it.
        aug1 / aug2: augmentors of the two views.
        predictor_channels: predictor hidden width; momentum: base EMA momentum.
    """

    Config: ClassVar[type] = BGRLConfig

    def __init__(self, encoder: GNNEncoder, aug1: Augmentor, aug2: Augmentor, predictor_channels: int = 512,
                 momentum: float = 0.99) -> None:
        super().__init__()
        d = encoder.out_channels
        self.encoder, self.aug1, self.aug2, self.momentum = encoder, aug1, aug2, momentum
        self.predictor = nn.Sequential(nn.Linear(d, predictor_channels), nn.PReLU(1),
                                       nn.Linear(predictor_channels, d))
        self.target_encoder = make_target(encoder)

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[BGRLConfig] = None) -> "BGRL":
        cfg = cfg if cfg is not None else BGRLConfig()
        check_config(cls, cfg)
        aug1 = Compose([FeatureMasking(cfg.drop_feat_p_1), EdgeDropping(cfg.drop_edge_p_1)])
        aug2 = Compose([FeatureMasking(cfg.drop_feat_p_2), EdgeDropping(cfg.drop_edge_p_2)])
        return cls(GNNEncoder(in_channels, cfg.encoder), aug1, aug2, cfg.predictor_channels, cfg.momentum)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None) -> ModelOutput:
        if not self.training:
            layers = self.encoder(x, edge_index, batch)
            return ModelOutput(z=layers[-1], layers=layers)
        v1, v2 = self.aug1(x, edge_index, draws_of(nb, 1)), self.aug2(x, edge_index, draws_of(nb, 2))
        layers1 = self.encoder(v1.x, v1.edge_index, batch)
        h2 = self.encoder(v2.x, v2.edge_index, batch)[-1]
        with torch.no_grad():
            y1 = self.target_encoder(v1.x, v1.edge_index, batch)[-1]
            y2 = self.target_encoder(v2.x, v2.edge_index, batch)[-1]
        return ModelOutput(z=layers1[-1], layers=layers1, extras={
            "q1": self.predictor(layers1[-1]), "q2": self.predictor(h2), "y1": y1, "y2": y2})

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:
        e = {k: on_seeds(v, nb) for k, v in out.extras.items()}
        total = (2 - F.cosine_similarity(e["q1"], e["y2"].detach(), dim=-1).mean()
                 - F.cosine_similarity(e["q2"], e["y1"].detach(), dim=-1).mean())
        return LossOutput(total=total, parts={"bootstrap": float(total.detach())})

    def after_step(self, step: int, total_steps: int) -> None:
        ema_update(self.target_encoder, self.encoder, cosine_momentum(step, total_steps, self.momentum))


MODELS.register("bgrl", BGRL)
