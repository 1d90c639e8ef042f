"""Self-supervised embedding models; importing this package registers them in ``MODELS``."""
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput
from graphemb.models.gae import GAE, VGAE, GAEConfig, InnerProductDecoder, VGAEConfig
from graphemb.models.isoc_vgae import (
    DecoderLayer,
    InvGNNDecoder,
    IsoCVGAE,
    IsoCVGAEConfig,
    degree_target,
    gaussian_kl_to_unit_var,
    neighbourhood_mean,
)

__all__ = [
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
