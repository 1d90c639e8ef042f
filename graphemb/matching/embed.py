"""Node embeddings of a matching graph: random walks, IsoC-VGAE, or both.

``both`` concatenates the L2-normalised walk and GNN embeddings, so cosine similarity weighs them
equally.

The GNN runs with :data:`MATCHING_GNN` layered over the model's ``default`` preset: IsoC-VGAE at
2 x 128 instead of 2 x 512, at most 30 epochs, stopped early when the training loss (no labels)
has not improved by 0.005 for 3 epochs (the best-loss weights are kept). Matching graphs are
large and sparse (DBLP-ACM: 35k nodes after compression) and the decoder's MLPs cost ~hidden²
per node: on one CPU thread an epoch there takes ~25 s at width 512 and ~4 s at 128. On
CoronaCheck the early stop cut the GNN's CPU time 7x for the same MRR
(``experiments/matching/SCALE.md``). The same config serves every dataset.
"""
from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

import numpy as np
import torch
from torch import Tensor

from graphemb.matching.graph import COLUMN, TOKEN, MatchingGraph
from graphemb.matching.walks import WalkConfig, walk_embeddings

__all__ = ["METHODS", "MATCHING_GNN", "gnn_config", "node_texts", "text_features", "gnn_embeddings", "embed_graph"]

METHODS = ("walks", "isoc-vgae", "both")

#: GNN settings for matching graphs (over the model's ``default`` preset; see the module docstring).
MATCHING_GNN: Dict[str, Any] = {"model": {"encoder": {"hidden_channels": 128}},
                                "train": {"epochs": 30, "patience": 3, "min_delta": 0.005}}


def _merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def gnn_config(overrides: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """:data:`MATCHING_GNN` with ``overrides`` merged in (nested mappings, later wins)."""
    return _merge(MATCHING_GNN, overrides or {})


def node_texts(graph: MatchingGraph) -> List[str]:
    """A text per node: the token (``_`` -> space), the column name, or for an object its
    single-word neighbour tokens joined by spaces (rebuilt from the graph itself)."""
    types = graph.node_type.numpy()
    names = graph.names
    texts = [n.replace("_", " ") if t == TOKEN else (n[4:] if t == COLUMN else "") for n, t in zip(names, types)]
    ei = graph.data.edge_index.numpy()
    m = (types[ei[0]] < TOKEN) & (types[ei[1]] == TOKEN)
    src, dst = ei[0, m], ei[1, m]
    unigram = np.array(["_" not in names[v] for v in dst], dtype=bool) if len(dst) else np.zeros(0, bool)
    src, dst = src[unigram], dst[unigram]
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    bounds = np.flatnonzero(np.r_[True, src[1:] != src[:-1], True]) if len(src) else np.array([0])
    for s, e in zip(bounds[:-1], bounds[1:]):
        texts[src[s]] = " ".join(names[v] for v in dst[s:e])
    return texts


def text_features(graph: MatchingGraph, encoder: Any, batch_size: int = 64) -> Tensor:
    """Encode :func:`node_texts` with ``encoder.encode`` -> ``[N, d]`` float32."""
    x = np.asarray(encoder.encode(node_texts(graph), batch_size=batch_size))
    return torch.as_tensor(x, dtype=torch.float32)


def gnn_embeddings(graph: MatchingGraph, x: Tensor, *, model: str = "isoc-vgae",
                   overrides: Optional[Dict[str, Any]] = None, seed: int = 0, device: str = "cpu") -> Tensor:
    """Train ``model`` (default IsoC-VGAE) on the graph with node features ``x`` and return ``[N, d]``.

    Uses the library's trainer through :func:`graphemb.training.embeddings.fit_embeddings` with
    ``gnn_config(overrides)`` (:data:`MATCHING_GNN` plus ``overrides``).
    """
    from torch_geometric.data import Data

    from graphemb.training.embeddings import fit_embeddings

    data = Data(x=x, edge_index=graph.data.edge_index, num_nodes=graph.num_nodes)
    return torch.as_tensor(fit_embeddings(data, model=model, overrides=gnn_config(overrides), seed=seed, device=device)).float()


def embed_graph(graph: MatchingGraph, method: Literal["walks", "isoc-vgae", "both"] = "walks", *,
                walk_cfg: Optional[WalkConfig] = None, features: Literal["walks", "text"] = "walks",
                text_encoder: Any = None, gnn_overrides: Optional[Dict[str, Any]] = None, seed: int = 0,
                device: str = "cpu", timings: Optional[Dict[str, float]] = None) -> Tensor:
    """Node embeddings ``[N, d]`` with ``method`` in ``walks`` / ``isoc-vgae`` / ``both``.

    Args:
        walk_cfg: walk settings (default the ``paper`` preset); its ``seed`` is replaced by ``seed``.
        features: initial GNN node features: the walk embeddings or ``text`` (needs ``text_encoder``,
            e.g. ``load_text_encoder("minilm")``).
        timings: a dict receiving the seconds of ``walks``, ``word2vec``, ``text_features``, ``gnn``.
    """
    import time

    timings = {} if timings is None else timings
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    cfg = walk_cfg or WalkConfig()
    cfg = WalkConfig(**{**cfg.__dict__, "seed": seed})
    walks = walk_embeddings(graph, cfg, timings) if (method != "isoc-vgae" or features == "walks") else None
    if method == "walks":
        return walks
    if features == "text":
        if text_encoder is None:
            from graphemb.multimodal.encoders.text import load_text_encoder

            text_encoder = load_text_encoder("minilm")
        t = time.perf_counter()
        x = text_features(graph, text_encoder)
        timings["text_features"] = time.perf_counter() - t
    elif features == "walks":
        x = walks
    else:
        raise ValueError(f"features must be 'walks' or 'text', got {features!r}")
    t = time.perf_counter()
    z = gnn_embeddings(graph, x, overrides=gnn_overrides, seed=seed, device=device)
    timings["gnn"] = time.perf_counter() - t
    if method == "isoc-vgae":
        return z
    nz = torch.nn.functional.normalize
    return torch.cat([nz(walks, dim=1), nz(z, dim=1)], 1)
