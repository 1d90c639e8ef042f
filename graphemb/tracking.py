"""Optional experiment tracking: ``--tracker tensorboard|mlflow``.

``log_run(tracker, ...)`` sends a finished run's config (flattened ``a.b.c`` parameters), its
per-epoch losses (step = epoch) and its final metrics to TensorBoard
(``torch.utils.tensorboard``; event files under ``RUN_DIR/tensorboard`` or ``$GRAPHEMB_TB_DIR``)
or MLflow (the active tracking URI, ``mlruns/`` by default; experiment ``graphemb``). When the
library is not installed nothing is logged and one note says so: tracking never fails a run.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

TRACKERS = ("tensorboard", "mlflow")
log = logging.getLogger("graphemb.tracking")


def _flat(d: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(d, Mapping):
        return {prefix: d}
    out: Dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _scalars(metrics: Mapping[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in _flat(metrics).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}


def log_run(tracker: Optional[str], *, name: str, config: Mapping[str, Any], history: Sequence[Mapping[str, float]],
            metrics: Mapping[str, Any], run_dir: Optional[Path] = None) -> bool:
    """Log one run; returns whether anything was logged (``False`` when the tracker is absent)."""
    if not tracker:
        return False
    if tracker not in TRACKERS:
        from graphemb.config import ConfigError

        raise ConfigError(f"unknown tracker {tracker!r}; choose one of {list(TRACKERS)}")
    params = {k: ("null" if v is None else str(v) if isinstance(v, (list, dict)) else v) for k, v in _flat(config).items()}
    final = _scalars(metrics)
    if tracker == "tensorboard":
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("--tracker tensorboard: the tensorboard package is not installed; nothing logged "
                        "(pip install tensorboard)")
            return False
        log_dir = os.environ.get("GRAPHEMB_TB_DIR") or (str(Path(run_dir) / "tensorboard") if run_dir else None)
        writer = SummaryWriter(log_dir=log_dir, comment=f"-{name}")
        try:
            for epoch, rec in enumerate(history, 1):
                for k, v in rec.items():
                    writer.add_scalar(f"train/{k}", float(v), epoch)
            writer.add_hparams({k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))},
                               {f"final/{k}": v for k, v in final.items()} or {"final/none": 0.0}, run_name=".")
        finally:
            writer.close()
        return True
    try:
        import mlflow
    except ImportError:
        log.warning("--tracker mlflow: mlflow is not installed; nothing logged (pip install mlflow)")
        return False
    mlflow.set_experiment("graphemb")
    with mlflow.start_run(run_name=name):
        mlflow.log_params({k[:250]: str(v)[:500] for k, v in params.items()})
        for epoch, rec in enumerate(history, 1):
            mlflow.log_metrics({f"train.{k}": float(v) for k, v in rec.items()}, step=epoch)
        if final:
            mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in final.items()})
    return True
