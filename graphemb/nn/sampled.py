"""An encoder pass over a hop-ordered sampled subgraph that computes only the rows the loss reads.

A seed mini-batch (``graphemb.training.sampling``) orders its nodes by hop (seeds first, then
the nodes first reached at hop 1, 2, ..) and its edges by the hop of their *target* (edges into
the seeds first, then edges into hop-1 nodes, ..). A full pass of an ``L``-layer encoder over
that subgraph computes every layer at every node, although layer ``l`` is needed only within
``L - l`` hops of the seeds (plus ``reach``, the hops the model's own layers after the encoder
still aggregate over): with fan-out ``[10, 5]`` and 1024 seeds, the last layer is read at 1024
rows of about 60k. :func:`encode_sampled` keeps to those rows (PyG's ``trim_to_layer`` idea), so
the cost of a step grows with the edges into the rows each layer needs, not with the batch's
nodes times the number of layers. The rows it returns are exactly those of the full pass over
the same subgraph:

* SAGE / GIN / GAT aggregate over in-edges only, so the rows of hop ``<= t`` need the edges into
  them (a prefix of the edge list) and their sources (a prefix of the nodes); they run as
  bipartite convs ``conv((h_src, h_dst), edges)``;
* GCN's normalisation ``1 / sqrt(d_u d_v)`` reads the degree of every source, so the degrees
  are computed once per pass (from the whole subgraph, or the full graph's, see ``degree`` in
  :func:`encode_sampled`) and the layer runs as ``(A_hat h) W + b`` over the needed rows
  (aggregate first when that is cheaper: the dense product on the target rows only), the same
  numbers as ``A_hat (h W) + b``.

BatchNorm in training mode takes its statistics over the computed rows only, i.e. over nodes
with sampled neighbourhoods (the outermost nodes of a full pass only see themselves).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class HopLayout:
    """How a sampled subgraph is ordered: ``nodes[h]`` nodes first reached at hop ``h``
    (``nodes[0]``: the seeds, which come first), ``edges[h]`` edges into the hop-``h`` nodes
    (edges sorted by the hop of their target: those into the seeds first). ``len(edges) ==
    len(nodes) - 1`` (the outermost nodes have no sampled in-edges)."""

    nodes: Tuple[int, ...]
    edges: Tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.nodes) - 1:
            raise ValueError(f"HopLayout needs one edge count per expanded hop: {len(self.nodes)} node "
                             f"counts but {len(self.edges)} edge counts")

    @classmethod
    def of(cls, nodes: Sequence[int], edges: Sequence[int]) -> "HopLayout":
        return cls(tuple(int(v) for v in nodes), tuple(int(v) for v in edges))

    @property
    def hops(self) -> int:
        return len(self.edges)

    @property
    def num_seeds(self) -> int:
        return self.nodes[0]

    def nodes_within(self, h: int) -> int:
        """Number of nodes at hop ``<= h`` (a prefix of the node order; ``0`` for ``h < 0``)."""
        return sum(self.nodes[:h + 1]) if h >= 0 else 0

    def edges_into(self, h: int) -> int:
        """Number of edges whose target is at hop ``<= h`` (a prefix of the edge list)."""
        return sum(self.edges[:h + 1]) if h >= 0 else 0


def _gcn_rows(conv, h: Tensor, src: Tensor, dst: Tensor, coef: Tensor, self_coef: Tensor, n_dst: int) -> Tensor:
    """GCNConv at the first ``n_dst`` rows: ``sum_e coef_e h_src(e) W + self_coef_v h_v W + b``
    over the edges ``src -> dst`` (coefficients per edge and per target row, see
    :func:`encode_sampled`)."""
    w = conv.lin.weight  # [out, in]
    n_src = h.size(0)
    coef = coef.to(h.dtype).unsqueeze(-1)
    self_coef = self_coef[:n_dst].to(h.dtype).unsqueeze(-1)
    # Aggregate at the narrower width: A_hat h then W (cost E*in + n_dst*in*out) or h W then
    # A_hat (cost n_src*in*out + E*out); same result up to rounding.
    if n_dst * w.size(1) * w.size(0) + src.numel() * w.size(1) <= n_src * w.size(1) * w.size(0) + src.numel() * w.size(0):
        agg = torch.zeros(n_dst, h.size(1), dtype=h.dtype, device=h.device)
        agg = agg.index_add(0, dst, h.index_select(0, src) * coef) + h[:n_dst] * self_coef
        out = agg @ w.t()
    else:
        hw = h @ w.t()
        out = torch.zeros(n_dst, hw.size(1), dtype=hw.dtype, device=hw.device)
        out = out.index_add(0, dst, hw.index_select(0, src) * coef) + hw[:n_dst] * self_coef
    if conv.bias is not None:
        out = out + conv.bias
    return out


def encode_sampled(encoder, x: Tensor, edge_index: Tensor, layout: HopLayout, reach: int = 0,
                   degree: Optional[Tensor] = None) -> List[Tensor]:
    """``encoder(x, edge_index)`` (a :class:`graphemb.nn.encoders.GNNEncoder`) on a hop-ordered
    sampled subgraph, layer ``l`` (1-based, of ``L``) computed only at the nodes within
    ``reach + L - l`` hops of the seeds: the ``l``-th returned tensor holds the first
    ``layout.nodes_within(reach + L - l)`` rows of the full pass (all rows when that reaches the
    outermost hop). ``reach``: hops that the model still aggregates over after the encoder
    (``0`` when the loss reads ``h^L`` at the seeds only; ``1`` for a one-layer GNN decoder).

    ``degree`` (the full-graph in-degree of every subgraph node, self loops excluded; the
    :class:`~graphemb.models.base.NodeBatch`'s ``degree``): GCN layers then use the full graph's
    normalisation ``1 / sqrt((d_u + 1)(d_v + 1))`` and scale the sum over the ``k_v`` sampled
    neighbours of ``v`` by ``d_v / k_v``, an unbiased estimate of the full graph's layer given
    its inputs (exact at full fan-out), as layer-wise inference computes it. Without ``degree``
    the subgraph's own normalisation (PyG ``GCNConv`` on the subgraph, whose outermost nodes have
    degree 0). Mean (SAGE) and attention (GAT) aggregators are unaffected; GIN's sum is not
    rescaled.

    Shapes: ``x [n', F]`` with ``n'`` at least the rows within ``reach + L`` hops (up to ``n =
    sum(layout.nodes)``, e.g. a previous ``encode_sampled``'s output), ``edge_index [2,
    sum(layout.edges)]`` (the whole subgraph's: GCN reads the degrees from it).
    """
    from torch_geometric.nn import GCNConv

    n = sum(layout.nodes)
    cfg = encoder.cfg
    L = encoder.num_layers
    first = reach + L  # hops the first layer's inputs must cover
    need = n if first >= layout.hops else layout.nodes_within(first)
    if x.size(0) < need or x.size(0) > n or edge_index.size(1) != sum(layout.edges):
        raise ValueError(f"the subgraph ({x.size(0)} input rows, {edge_index.size(1)} edges) does not match its "
                         f"HopLayout ({n} nodes, {need} rows needed, {sum(layout.edges)} edges); build the "
                         "layout from the sampler that made the subgraph")
    src_all, dst_all = edge_index[0], edge_index[1]
    coef_all = self_coef = None
    if any(isinstance(c, GCNConv) for c in encoder.convs):
        loops = src_all == dst_all  # existing self loops: GCN replaces them by one of weight 1
        sampled = torch.bincount(dst_all[~loops], minlength=n).to(x.dtype)
        if degree is None:  # the subgraph's own GCN normalisation
            deg_hat, scale = sampled + 1, torch.ones_like(sampled)
        else:  # the full graph's, each sampled sum scaled up to the whole neighbourhood
            if degree.numel() != n:
                raise ValueError(f"degree has {degree.numel()} entries for a subgraph of {n} nodes")
            deg_hat = degree.to(x.dtype) + 1
            scale = degree.to(x.dtype) / sampled.clamp(min=1)
        isd = deg_hat.rsqrt()
        coef_all = torch.where(loops, torch.zeros_like(src_all, dtype=x.dtype), isd[src_all] * isd[dst_all] * scale[dst_all])
        self_coef = deg_hat.reciprocal()
    out: List[Tensor] = []
    h = x
    before = cfg.dropout_position == "before"
    parts = zip(encoder.convs, encoder.norms, encoder.acts, encoder._post, encoder._norm_batch)
    for i, (conv, norm, act, post, norm_batch) in enumerate(parts):
        t = reach + L - 1 - i  # this layer's rows: hop <= t
        if t >= layout.hops:
            n_dst, n_edges = n, edge_index.size(1)
        else:
            n_dst, n_edges = layout.nodes_within(t), layout.edges_into(t)
        n_src = n if t >= layout.hops else layout.nodes_within(t + 1)
        h = h[:n_src]
        if before:
            h = F.dropout(h, cfg.dropout, training=encoder.training)
        src, dst = src_all[:n_edges], dst_all[:n_edges]
        if isinstance(conv, GCNConv):
            if not (conv.normalize and conv.add_self_loops and not conv.improved):
                raise ValueError("encode_sampled supports GCNConv with its default normalisation only")
            h = _gcn_rows(conv, h, src, dst, coef_all[:n_edges], self_coef, n_dst)
        else:
            h = conv((h, h[:n_dst]), torch.stack([src, dst]))
        if post:
            h = norm(h, None) if norm_batch else norm(h)
            h = act(h)
            if not before:
                h = F.dropout(h, cfg.dropout, training=encoder.training)
        out.append(h)
    return out
