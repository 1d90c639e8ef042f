"""Label-free node embeddings of one in-memory graph: config -> model -> trainer -> embeddings.

The entry point for pipelines that build their own graphs (``graphemb.multimodal``,
``graphemb.matching``); they call this instead of the :mod:`graphemb.api` facade, which sits
above them. ``graphemb.api.fit_embeddings`` re-exports it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Optional, Tuple, Union

from torch import Tensor
from torch_geometric.data import Data

from graphemb.config import build_run_config
from graphemb.models import MODELS
from graphemb.models.base import EmbeddingModel
from graphemb.training.inference import embed_nodes_for
from graphemb.training.trainer import fit
from graphemb.utils.seed import set_seed


def fit_embeddings(
    data: Data,
    model: str = "isoc-vgae",
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    preset: Optional[str] = None,
    seed: int = 0,
    device: str = "cpu",
    progress: Optional[bool] = False,
    return_model: bool = False,
) -> Union[Tensor, Tuple[Tensor, EmbeddingModel]]:
    """Train ``model`` without labels on one graph and return its node embeddings.

    Args:
        data: a PyG ``Data`` with float ``x`` ``[N, F]`` and undirected ``edge_index`` ``[2, E]``.
        model: a registered model name (default ``isoc-vgae``).
        overrides: nested config values, e.g. ``{"train": {"epochs": 50}, "model": {...}}``.
        preset: ``default`` | ``paper`` (default: the model's defaults).
        seed: seeds the model initialisation and training (``train.seed``).
        device: ``cpu`` | ``cuda`` | ``auto``; progress: training bar on/off (``None``: TTY only).
        return_model: also return the trained model (to embed other graphs with it).
    Returns:
        ``[N, d]`` embeddings on CPU, taken in eval mode; ``(embeddings, model)`` with
        ``return_model=True`` (the model on CPU, in eval mode).
    """
    if data.x is None:
        raise ValueError("fit_embeddings needs node features data.x; build them first (e.g. from a text encoder)")
    config = build_run_config(model, dataset="(in-memory)", task="node", preset=preset, values=overrides)
    config = replace(config, train=replace(config.train, seed=seed, device=device, progress=progress))
    from graphemb.data.validate import validate_graph

    validate_graph(data)
    set_seed(seed, config.train.deterministic)
    net = MODELS.get(model).from_config(data.x.size(1), config.model)
    fit(net, data, config.train)
    z = embed_nodes_for(net, data, config.train)
    return (z, net.cpu().eval()) if return_model else z
