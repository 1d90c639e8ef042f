"""Fusion of per-modality node features (MAGB, arXiv 2410.09132, Sec. GNN-as-predictor).

Every fusion maps a list of modality matrices ``[N, d_m]`` (and optional availability masks
``[N]``, False = the node lacks that modality and its row is zero) to one ``[N, out_dim]``:

* ``concat``: ``[x_1 || ... || x_M]`` (no parameters);
* ``mean``: mean over available modalities of ``W_m x_m`` (a linear projection per modality);
* ``learned``: attention over modalities, ``sum_m a_m W_m x_m`` with
  ``a = softmax_m(q^T tanh(W_m x_m))`` per node, unavailable modalities masked out.

Late fusion (a weighted average of per-modality model logits) lives in
:class:`graphemb.multimodal.predictors.NodePredictor` (``fusion="late"``) since it needs one
predictor per modality.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["FUSIONS", "ConcatFusion", "MeanFusion", "LearnedFusion", "make_fusion"]

FUSIONS = ("concat", "mean", "learned", "late")


def _masks(xs: Sequence[Tensor], masks: Sequence[Tensor] | None) -> Tensor:
    """``[N, M]`` float availability (all ones when ``masks`` is None)."""
    if masks is None:
        return xs[0].new_ones(xs[0].size(0), len(xs))
    return torch.stack([m.to(xs[0].dtype) for m in masks], 1)


class ConcatFusion(nn.Module):
    """``[x_1 || ... || x_M]``; ``out_dim = sum(in_dims)``."""

    def __init__(self, in_dims: Sequence[int]) -> None:
        super().__init__()
        self.out_dim = int(sum(in_dims))

    def forward(self, xs: Sequence[Tensor], masks: Sequence[Tensor] | None = None) -> Tensor:
        return torch.cat(list(xs), 1)


class MeanFusion(nn.Module):
    """Mean of the per-modality projections ``W_m x_m`` over the modalities a node has."""

    def __init__(self, in_dims: Sequence[int], dim: int = 64) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(d, dim) for d in in_dims)
        self.out_dim = dim

    def forward(self, xs: Sequence[Tensor], masks: Sequence[Tensor] | None = None) -> Tensor:
        h = torch.stack([p(x) for p, x in zip(self.proj, xs)], 1)  # [N, M, dim]
        a = _masks(xs, masks).unsqueeze(-1)
        return (h * a).sum(1) / a.sum(1).clamp(min=1.0)


class LearnedFusion(nn.Module):
    """Attention fusion: ``sum_m a_m W_m x_m``, ``a = softmax_m(q^T tanh(W_m x_m))`` per node.

    """

    def __init__(self, in_dims: Sequence[int], dim: int = 64) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(d, dim) for d in in_dims)
        self.query = nn.Linear(dim, 1, bias=False)
        self.out_dim = dim

    def _project(self, xs: Sequence[Tensor], masks: Sequence[Tensor] | None) -> tuple[Tensor, Tensor]:
        h = torch.stack([p(x) for p, x in zip(self.proj, xs)], 1)  # [N, M, dim]
        score = self.query(torch.tanh(h)).squeeze(-1)  # [N, M]
        avail = _masks(xs, masks) > 0
        score = score.masked_fill(~avail, float("-inf"))
        a = torch.softmax(score, 1)
        a = torch.nan_to_num(a, nan=0.0)  # nodes with no modality at all: zero vector
        return h, a

    def weights(self, xs: Sequence[Tensor], masks: Sequence[Tensor] | None = None) -> Tensor:
        """``[N, M]`` attention of each node over its modalities."""
        return self._project(xs, masks)[1]

    def forward(self, xs: Sequence[Tensor], masks: Sequence[Tensor] | None = None) -> Tensor:
        h, a = self._project(xs, masks)
        return (a.unsqueeze(-1) * h).sum(1)


def make_fusion(name: str, in_dims: Sequence[int], dim: int = 64) -> nn.Module:
    """``concat`` | ``mean`` | ``learned`` (``late`` is built by the predictor)."""
    if name == "concat":
        return ConcatFusion(in_dims)
    if name == "mean":
        return MeanFusion(in_dims, dim)
    if name == "learned":
        return LearnedFusion(in_dims, dim)
    raise ValueError(f"unknown fusion {name!r}; choose one of {FUSIONS}")
