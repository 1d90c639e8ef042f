"""``graphemb info RUN_DIR``: what a run is, in a short table."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List


def _flatten(d: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: Dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def run_info(run_dir: Path) -> Dict[str, Any]:
    """Model, dataset, task, config, versions, training summary and evaluation records of a run."""
    import torch
    import yaml

    from graphemb import __version__
    from graphemb.training import rundir

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = rundir.load_metrics(run_dir)
    versions = {"graphemb (now)": __version__, "torch (now)": torch.__version__}
    if isinstance(metrics.get("versions"), dict):
        versions.update({f"{k} (run)": v for k, v in metrics["versions"].items()})
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.is_file():
        versions["graphemb (run)"] = torch.load(ckpt, map_location="cpu", weights_only=True).get("version")
    emb = run_dir / "embeddings.npz"
    shape = None
    if emb.is_file():
        import numpy as np

        with np.load(emb, allow_pickle=False) as z:
            shape = list(z["embeddings"].shape)
    evaluation = {k: {"metric": r.get("metric"), "mean": r.get("mean"), "std": r.get("std"),
                      "seeds": len(r.get("values", []))}
                  for k, r in (metrics.get("evaluation") or {}).items()}
    return {
        "run_dir": str(run_dir),
        "model": (config.get("model") or {}).get("name"),
        "dataset": (config.get("data") or {}).get("name"),
        "task": (config.get("task") or {}).get("name"),
        "preset": config.get("preset"),
        "embeddings": shape,
        "train": metrics.get("train", {}),
        "evaluation": evaluation,
        "versions": versions,
        "config": config,
        "files": sorted(p.name for p in run_dir.iterdir()),
    }


def format_info(info: Dict[str, Any]) -> str:
    """The short human table of :func:`run_info`."""
    rows: List[tuple] = [("run", info["run_dir"]), ("model", info["model"]), ("dataset", info["dataset"]),
                         ("task", info["task"]), ("preset", info["preset"])]
    if info["embeddings"]:
        rows.append(("embeddings", " x ".join(map(str, info["embeddings"]))))
    tr = info["train"]
    if tr:
        loss = tr.get("best_loss")
        rows.append(("training", f"{tr.get('epochs_run')} epochs, best loss "
                                 f"{loss:.4f} at epoch {tr.get('best_epoch')}, {tr.get('seconds_per_epoch', 0):.3f} s/epoch"
                     if loss is not None else str(tr)))
    for key, r in info["evaluation"].items():
        std = f" ± {r['std']:.4f}" if r.get("std") is not None else ""
        rows.append((f"eval {key}", f"{r['metric']} {r['mean']:.4f}{std} ({r['seeds']} seed(s))"))
    rows += [(k, v) for k, v in info["versions"].items()]
    flat = _flatten({k: v for k, v in info["config"].items() if k in ("model", "train", "task", "data")})
    rows += [(f"  {k}", v) for k, v in flat.items()]
    width = max(len(str(k)) for k, _ in rows)
    return "\n".join(f"{str(k):<{width}}  {v}" for k, v in rows)
