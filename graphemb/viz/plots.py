"""Matplotlib figures of a run directory (or of arrays you pass in).

* :func:`plot_loss`: the training loss and each named part per epoch (``metrics.json`` history).
* :func:`plot_embedding`: a 2-D map of the embeddings, UMAP when ``umap-learn`` is installed,
  else scikit-learn's t-SNE; points coloured by label; the method is named in the title. A
  graph-level run has one point per graph.
* :func:`plot_probe`: the run's evaluation results (mean ± std per task/protocol and metric).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, Path]
PLOT_KINDS = ("loss", "embedding", "probe")


def require_matplotlib():
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or an ImportError naming the fix."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib, which is not installed: pip install \"graphemb[viz]\" "
                          "(or pip install matplotlib)") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _history(source: Union[PathLike, Sequence[Mapping[str, float]]]) -> List[Mapping[str, float]]:
    if isinstance(source, (str, Path)):
        from graphemb.training import rundir

        hist = rundir.load_metrics(source).get("history") or []
        if not hist:
            raise ValueError(f"{source} holds no per-epoch losses (metrics.json has no 'history'); "
                             "was the run trained to the end?")
        return hist
    return list(source)


def plot_loss(source: Union[PathLike, Sequence[Mapping[str, float]]], title: Optional[str] = None):
    """The total loss (bold) and its named parts per epoch; log scale when the values span >100x."""
    plt = require_matplotlib()
    hist = _history(source)
    epochs = np.arange(1, len(hist) + 1)
    keys = ["loss"] + sorted({k for h in hist for k in h} - {"loss"})
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for k in keys:
        ys = np.array([h.get(k, np.nan) for h in hist], dtype=float)
        ax.plot(epochs, ys, label=k, lw=2.2 if k == "loss" else 1.2)
    values = np.array([h.get(k, np.nan) for h in hist for k in keys], dtype=float)
    pos = values[np.isfinite(values) & (values > 0)]
    if pos.size and pos.max() / pos.min() > 100 and (values[np.isfinite(values)] > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(title or (f"training loss: {Path(source).name}" if isinstance(source, (str, Path)) else "training loss"))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def embedding_2d(emb: np.ndarray, method: str = "auto", seed: int = 0) -> Tuple[np.ndarray, str]:
    """``(coords [n, 2], method name)``; ``auto`` = UMAP when umap-learn is installed, else t-SNE."""
    emb = np.asarray(emb, dtype=np.float32)
    n = emb.shape[0]
    if n < 3:
        raise ValueError(f"a 2-D map needs at least 3 points, got {n}")
    if method == "auto":
        try:
            import umap  # noqa: F401

            method = "umap"
        except ImportError:
            method = "tsne"
    if method == "umap":
        import umap

        coords = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, n - 1)).fit_transform(emb)
        return np.asarray(coords), "UMAP"
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(emb)
        return coords, "t-SNE"
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(emb), "PCA"
    raise ValueError(f"unknown 2-D method {method!r}; use auto, umap, tsne or pca")


def run_labels(run_dir: PathLike, data_root: Optional[str] = None) -> Optional[np.ndarray]:
    """Labels for the rows of a run's embeddings: ``labels.npy`` when saved (estimator runs),
    else the dataset's node labels (node/link) or graph labels (graph); ``None`` when unavailable."""
    run_dir = Path(run_dir)
    f = run_dir / "labels.npy"
    if f.is_file():
        return np.load(f, allow_pickle=False)
    from graphemb.api import load_data
    from graphemb.training import rundir

    config = rundir.load_config(run_dir)
    try:
        ds = load_data(config, data_root)
    except Exception as e:  # noqa: BLE001 - colours are optional; the map is drawn without them
        import logging

        logging.getLogger("graphemb.viz").warning(
            "no labels for %s (dataset %r could not be loaded: %s); the map is drawn in one colour",
            run_dir, config.data.name, e)
        return None
    if ds.level == "graph":
        ys = [getattr(g, "y", None) for g in ds.graphs]
        return None if any(y is None for y in ys) else np.asarray([int(y.view(-1)[0]) for y in ys])
    y = getattr(ds.data, "y", None)
    return None if y is None or y.dim() != 1 else y.numpy()


def plot_embedding(source: Union[PathLike, np.ndarray], labels: Optional[np.ndarray] = None, method: str = "auto",
                   title: Optional[str] = None, seed: int = 0, data_root: Optional[str] = None):
    """Scatter the embeddings in 2-D, coloured by ``labels`` (for a run: its dataset's labels)."""
    plt = require_matplotlib()
    name, level = "embeddings", "node"
    if isinstance(source, (str, Path)):
        from graphemb.training import rundir

        emb_t, _, level = rundir.load_embeddings(source)
        emb = emb_t.numpy()
        name = Path(source).name
        if labels is None:
            labels = run_labels(source, data_root)
    else:
        emb = np.asarray(source)
    coords, used = embedding_2d(emb, method, seed)
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    if labels is not None and len(labels) == len(coords):
        classes, idx = np.unique(np.asarray(labels), return_inverse=True)
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        sc = ax.scatter(coords[:, 0], coords[:, 1], c=idx, cmap=cmap, s=8 if len(coords) > 500 else 18,
                        vmin=-0.5, vmax=max(len(classes), 10 if len(classes) <= 10 else 20) - 0.5, linewidths=0)
        if len(classes) <= 20:
            handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(i), label=str(c)) for i, c in enumerate(classes)]
            ax.legend(handles=handles, title="label", fontsize=7, loc="best", markerscale=0.8)
        del sc
    else:
        ax.scatter(coords[:, 0], coords[:, 1], s=10, color="tab:blue", linewidths=0)
    unit = "graph" if level == "graph" else "node"
    ax.set_title(title or f"{name}: {len(coords)} {unit}s, {used}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_probe(source: Union[PathLike, Mapping[str, Any]], title: Optional[str] = None):
    """Bars of the run's evaluation results: mean ± std over seeds, one bar per (task/protocol, metric)."""
    plt = require_matplotlib()
    if isinstance(source, (str, Path)):
        from graphemb.training import rundir

        records = rundir.load_metrics(source).get("evaluation") or {}
        name = Path(source).name
        if not records:
            raise ValueError(f"{source} has no evaluation results yet: run `graphemb evaluate {source}` first")
    else:
        records, name = dict(source), "results"
    bars: List[Tuple[str, float, float]] = []
    for key, rec in records.items():
        bars.append((f"{key}\n{rec['metric']}", float(rec["mean"]), float(rec.get("std") or 0.0)))
        for k, v in rec.items():
            if isinstance(v, dict) and "mean" in v and k not in ("seconds",):
                bars.append((f"{key}\n{k}", float(v["mean"]), float(v.get("std") or 0.0)))
    bars = bars[:12]
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(bars) + 1), 3.6), dpi=100)
    xs = np.arange(len(bars))
    ax.bar(xs, [b[1] for b in bars], yerr=[b[2] for b in bars], capsize=4, color="tab:blue", alpha=0.85)
    for x, (_, m, s) in zip(xs, bars):
        ax.text(x, m, f"{m:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, [b[0] for b in bars], fontsize=7)
    ax.set_ylabel("mean ± std over seeds")
    ax.set_title(title or f"evaluation: {name}")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot(run_dir: PathLike, kind: str, **kwargs):
    """``plot_loss`` / ``plot_embedding`` / ``plot_probe`` by name."""
    if kind not in PLOT_KINDS:
        raise ValueError(f"unknown plot kind {kind!r}; choose one of {list(PLOT_KINDS)}")
    return {"loss": plot_loss, "embedding": plot_embedding, "probe": plot_probe}[kind](run_dir, **kwargs)


def save(fig, out: PathLike) -> Path:
    """Write ``fig`` to ``.png`` or ``.svg`` (atomically) and close it."""
    from graphemb.utils.io import atomic_write

    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"unsupported image {out.name!r}: use a .png or .svg file")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as f:
        fig.savefig(f, format=fmt, metadata={"Software": "graphemb"} if fmt == "png" else None)
    require_matplotlib().close(fig)
    return out
