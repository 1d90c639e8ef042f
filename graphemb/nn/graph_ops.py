"""Per-graph operators computed once and passed to every full-batch step.

A full-batch model sees the same graph at every step, so whatever depends only on the graph
(GCN normalisation with its self loops, the closed-neighbourhood mean operator, node degrees,
a sparse copy of sparse input features, the neighbourhood mean of the input features) is built
once by :meth:`GraphOps.build` and handed to ``forward`` / ``loss`` as an explicit argument
(``ops=``). Nothing is cached on a module: a model given ``ops=None`` computes the same values
from ``edge_index`` (the mini-batch path, where every step has a new subgraph).

Sparse products run through :class:`SparseOperator`, a CSR matrix stored with its transpose,
so the backward product ``A^T dY`` is again a CSR product (no transpose at every step).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import remove_self_loops

#: Input features with fewer non-zeros than this share go through a sparse product. Measured
#: with ``python experiments/bench_speed.py --density`` (Cora's shape, 1 thread, CPU time; record
#: ``experiments/results/speed/density_cpu.json``): the CSR product (forward and the weight
#: gradient) costs 0.18x the dense one at 1.3 % non-zeros, 0.42x at 5 %, 0.78x at 10 % and
#: 1.27x at 15 %. ``train.sparse_features_below`` sets it per run.
SPARSE_FEATURES_BELOW = 0.1


@contextlib.contextmanager
def _quiet():
    """Silence torch's "sparse CSR support is in beta" notice (CSR products are all we use)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        yield


class _SpMM(torch.autograd.Function):
    """``A @ H`` for a constant sparse ``A``; backward ``A^T @ dY`` with the stored transpose."""

    @staticmethod
    def forward(ctx, a: Tensor, a_t: Tensor, h: Tensor) -> Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        with torch.autocast(h.device.type, enabled=False):  # sparse kernels have no bf16
            return torch.mm(a, h)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        if not ctx.needs_input_grad[2]:
            return None, None, None
        with torch.autocast(grad.device.type, enabled=False):
            return None, None, torch.mm(ctx.a_t, grad.to(ctx.a_t.dtype))


@dataclass(frozen=True, eq=False)
class SparseOperator:
    """A constant sparse matrix ``[R, C]`` (CSR) with its transpose, for ``A @ H`` with
    gradients to ``H`` only.

    Shapes: ``mm(h [C, d]) -> [R, d]``.
    """

    matrix: Tensor
    transpose: Tensor

    @classmethod
    def from_coo(cls, row: Tensor, col: Tensor, value: Tensor, shape) -> "SparseOperator":
        """From COO entries (duplicates are summed), in ``value``'s dtype."""
        a = torch.sparse_coo_tensor(torch.stack([row, col]), value, tuple(shape), check_invariants=False).coalesce()
        with _quiet():
            return cls(a.to_sparse_csr(), a.t().coalesce().to_sparse_csr())

    @classmethod
    def from_dense(cls, x: Tensor) -> "SparseOperator":
        with _quiet():
            return cls(x.to_sparse_csr(), x.t().contiguous().to_sparse_csr())

    @property
    def shape(self):
        return tuple(self.matrix.shape)

    def mm(self, h: Tensor) -> Tensor:
        if h.dtype != self.matrix.dtype:  # autocast (bf16): the sparse product runs in the operator's dtype
            if h.element_size() >= self.matrix.element_size():
                raise TypeError(f"a {self.matrix.dtype} operator was given {h.dtype} input; build the "
                                "GraphOps from features of that dtype")
            h = h.to(self.matrix.dtype)
        return _SpMM.apply(self.matrix, self.transpose, h)


def gcn_operator(edge_index: Tensor, num_nodes: int, dtype: torch.dtype = torch.float) -> SparseOperator:
    r"""PyG ``GCNConv``'s propagation matrix :math:`\hat A = D^{-1/2}(A + I)D^{-1/2}`, exactly
    as its ``gcn_norm`` builds it (``add_remaining_self_loops`` with weight 1, degrees over
    targets, ``out[v] = sum_u \hat A_{vu} x_u`` for edges ``u -> v``)."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    w = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
    ei, w = gcn_norm(edge_index, w, num_nodes, improved=False, add_self_loops=True)
    return SparseOperator.from_coo(ei[1], ei[0], w, (num_nodes, num_nodes))


def node_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Number of neighbours of each node: entries with the node as target, self loops excluded,
    parallel edges counted (float ``[N]``; isolated nodes 0). IsoC-VGAE's degree target (the
    official ``adj_t.sum(0)``); the one implementation behind
    :func:`graphemb.models.isoc_vgae.degree_target` and the samplers' full-graph degree."""
    keep = edge_index[0] != edge_index[1]
    return torch.bincount(edge_index[1][keep], minlength=num_nodes).to(torch.float)


def mean_operator(edge_index: Tensor, num_nodes: int, dtype: torch.dtype = torch.float) -> SparseOperator:
    r"""The closed-neighbourhood mean :math:`m_v = (h_v + \sum_{u \in N(v)} h_u) / (|N(v)| + 1)`
    of :func:`graphemb.models.isoc_vgae.neighbourhood_mean` as a matrix (self loops replaced by
    exactly one, parallel edges counted with multiplicity)."""
    ei, _ = remove_self_loops(edge_index)
    count = node_degree(edge_index, num_nodes).to(dtype)
    loops = torch.arange(num_nodes, device=edge_index.device)
    row, col = torch.cat([ei[1], loops]), torch.cat([ei[0], loops])
    return SparseOperator.from_coo(row, col, (1.0 / (count + 1))[row], (num_nodes, num_nodes))


def feature_density(x: Tensor) -> float:
    """Share of non-zero entries of ``x``."""
    return float(torch.count_nonzero(x)) / max(x.numel(), 1)


@dataclass(frozen=True, eq=False)
class GraphOps:
    """What a full-batch step on one graph needs that depends on the graph alone.

    Build it once with :meth:`build` (the trainer does, for every full-batch fit) and pass it
    to ``model.forward(..., ops=ops)`` and ``model.loss(..., ops=ops)`` with the same ``x`` and
    ``edge_index``. Pieces tied to the features (``features``, ``x_mean``) are used only when
    the model is given the very tensor ``x`` they were built from (checked by identity).

    Attributes:
        num_nodes, num_edges: of the graph it was built for (checked on use).
        x: the feature tensor it was built for.
        degree: ``[N]`` float, number of neighbours (self loops excluded; IsoC-VGAE's target).
        gcn: :func:`gcn_operator`.
        mean: :func:`mean_operator`.
        features: ``x`` as a :class:`SparseOperator` when its density is below
            ``sparse_below`` (else ``None``): the first GCN layer then computes ``X W`` sparse.
        x_mean: ``mean.mm(x)``, the neighbourhood mean of the input features (a constant).
    """

    num_nodes: int
    num_edges: int
    x: Tensor
    degree: Tensor
    gcn: SparseOperator
    mean: SparseOperator
    features: Optional[SparseOperator]
    x_mean: Tensor

    @classmethod
    def build(cls, x: Tensor, edge_index: Tensor, sparse_below: float = SPARSE_FEATURES_BELOW) -> "GraphOps":
        """The operators of the graph ``(x [N, F], edge_index [2, E])``; ``sparse_below=0``
        keeps the features dense."""
        if x.dim() != 2 or not x.is_floating_point():
            raise ValueError(f"GraphOps.build needs float node features [N, F], got {x.dtype} {tuple(x.shape)}")
        n, dt = x.size(0), x.dtype
        degree = node_degree(edge_index, n)
        mean = mean_operator(edge_index, n, dt)
        sparse = feature_density(x) < sparse_below
        with torch.no_grad():
            x_mean = mean.mm(x)
        return cls(num_nodes=n, num_edges=int(edge_index.size(1)), x=x, degree=degree,
                   gcn=gcn_operator(edge_index, n, dt), mean=mean,
                   features=SparseOperator.from_dense(x) if sparse else None, x_mean=x_mean)

    def check(self, x: Tensor, edge_index: Tensor) -> None:
        """Raise when ``(x, edge_index)`` is not the graph these operators were built for."""
        if x.size(0) != self.num_nodes or edge_index.size(1) != self.num_edges:
            raise ValueError(f"GraphOps built for a graph of {self.num_nodes} nodes / {self.num_edges} edges "
                             f"was given {x.size(0)} nodes / {edge_index.size(1)} edges; build "
                             "GraphOps.build(x, edge_index) for this graph (or pass ops=None)")

    def features_of(self, x: Tensor) -> Optional[SparseOperator]:
        """The sparse features when ``x`` is the tensor they were built from, else ``None``."""
        return self.features if x is self.x else None

    def neighbourhood_mean(self, h: Tensor) -> Tensor:
        """:func:`graphemb.models.isoc_vgae.neighbourhood_mean` of ``h`` (cached for ``x``)."""
        if h is self.x:
            return self.x_mean
        return self.mean.mm(h)
