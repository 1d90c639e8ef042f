"""Protocol results and their aggregation over seeds (mean ± std, one JSON line per run).

The standard deviation is the *population* standard deviation (``ddof=0``, ``numpy.std``'s
default), which is what GraphMAE and InfoGraph report; with ``n`` values the sample std is
``sqrt(n / (n - 1))`` times larger.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

RECORD_KEYS = ("model", "dataset", "task", "protocol", "metric", "mean", "std", "values", "seconds")


@dataclass
class ProtocolResult:
    """What one evaluation protocol returns for one seed.

    Attributes:
        metric: name of the headline metric (``"accuracy"``, ``"auc"``).
        value: its value on the test data.
        extra: further named metrics (``"ap"``, ``"hits@50"``, ``"mrr"``, ``"val_accuracy"``,
            ``"fold_std"``, ...), as floats.
    """

    metric: str
    value: float
    extra: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": float(self.value), "extra": {k: float(v) for k, v in self.extra.items()}}


def _finite_or_none(x: float) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def summarize(values: Iterable[float]) -> Tuple[float, float]:
    """``(mean, std)`` of ``values`` with the population std (``ddof=0``, as GraphMAE reports).

    Raises:
        ValueError: for an empty sequence.
    """
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("summarize() needs at least one value; did every seed fail?")
    return float(v.mean()), float(v.std(ddof=0))


def _summary_block(values: Sequence[float]) -> dict:
    mean, std = summarize(values)
    return {"mean": _finite_or_none(mean), "std": _finite_or_none(std),
            "values": [_finite_or_none(x) for x in values]}


def result_record(
    model: str,
    dataset: str,
    task: str,
    protocol: str,
    metric: str,
    values: Sequence[float],
    seconds: float,
    extra_values: Optional[Mapping[str, Sequence[float]]] = None,
) -> dict:
    """The one-line JSON object of a (multi-seed) evaluation.

    ``{"model", "dataset", "task", "protocol", "metric", "mean", "std", "values", "seconds"}``
    plus, for every extra metric (link prediction: ``"ap"``, ``"hits@K"``, ``"mrr"``), a key
    holding ``{"mean", "std", "values"}``. Non-finite numbers become ``None`` (JSON ``null``) so
    the line stays valid JSON.

    Args:
        values: the headline metric, one value per seed.
        seconds: wall time of the whole run.
        extra_values: name -> one value per seed (same length as ``values``).
    """
    values = [float(x) for x in values]
    block = _summary_block(values)
    rec = {"model": model, "dataset": dataset, "task": task, "protocol": protocol, "metric": metric,
           "mean": block["mean"], "std": block["std"], "values": block["values"],
           "seconds": float(seconds)}
    for name, vals in (extra_values or {}).items():
        if name in rec:
            raise ValueError(f"extra metric {name!r} collides with a record field; rename it")
        vals = [float(x) for x in vals]
        if len(vals) != len(values):
            raise ValueError(f"extra metric {name!r} has {len(vals)} values but {metric!r} has "
                             f"{len(values)}; give one value per seed")
        rec[name] = _summary_block(vals)
    return rec


def record_from_results(
    model: str,
    dataset: str,
    task: str,
    protocol: str,
    results: Sequence[ProtocolResult],
    seconds: float,
    extras: Optional[Sequence[str]] = None,
) -> dict:
    """:func:`result_record` built from one :class:`ProtocolResult` per seed.

    Args:
        extras: which extra metrics to aggregate; default every extra present in all results.
    """
    if not results:
        raise ValueError("record_from_results() needs at least one ProtocolResult")
    metrics = {r.metric for r in results}
    if len(metrics) != 1:
        raise ValueError(f"results mix headline metrics {sorted(metrics)}; aggregate one protocol at a time")
    if extras is None:
        common: List[str] = [k for k in results[0].extra if all(k in r.extra for r in results)]
    else:
        common = list(extras)
    return result_record(model, dataset, task, protocol, results[0].metric,
                         [r.value for r in results], seconds,
                         {k: [r.extra[k] for r in results] for k in common})
