"""Node encoders for multimodal attributed graphs (text, image, vision-language) and their cache."""
from graphemb.multimodal.encoders.base import NodeEncoder, pool_tokens
from graphemb.multimodal.encoders.text import TextEncoder, load_text_encoder

__all__ = ["NodeEncoder", "TextEncoder", "load_text_encoder", "pool_tokens"]
