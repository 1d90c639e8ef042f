"""Self-supervised embedding models; importing this package registers them in ``MODELS``."""
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput
from graphemb.models.bgrl import BGRL, BGRLConfig
from graphemb.models.dgi import DGI, DGIConfig
from graphemb.models.gae import GAE, VGAE, GAEConfig, InnerProductDecoder, VGAEConfig
from graphemb.models.graphmae import GraphMAE, GraphMAE2, GraphMAE2Config, GraphMAEConfig, sce_loss
from graphemb.models.isoc_vgae import (
    DecoderLayer,
    InvGNNDecoder,
    IsoCVGAE,
    IsoCVGAEConfig,
    degree_target,
    gaussian_kl_to_unit_var,
    neighbourhood_mean,
)
from graphemb.models.maskgae import MaskGAE, MaskGAEConfig

__all__ = [
    "BGRL",
    "BGRLConfig",
    "DGI",
    "DGIConfig",
    "GraphMAE",
    "GraphMAEConfig",
    "GraphMAE2",
    "GraphMAE2Config",
    "MaskGAE",
    "MaskGAEConfig",
    "sce_loss",
    "MODELS",
    "EmbeddingModel",
    "LossOutput",
    "ModelOutput",
    "GAE",
    "VGAE",
    "GAEConfig",
    "VGAEConfig",
    "InnerProductDecoder",
    "IsoCVGAE",
    "IsoCVGAEConfig",
    "InvGNNDecoder",
    "DecoderLayer",
    "neighbourhood_mean",
    "gaussian_kl_to_unit_var",
    "degree_target",
]
