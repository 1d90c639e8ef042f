"""Training loop, inference helpers and run directories."""
from graphemb.training.trainer import TrainResult, fit

__all__ = ["TrainResult", "fit"]
