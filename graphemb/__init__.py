"""graphemb: multi-level graph representation learning over multimodal data."""
__version__ = "0.1.0"
