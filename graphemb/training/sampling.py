"""Seed mini-batches on one large graph: a native neighbour sampler and the batches it feeds.

**Sampler.** :func:`sample_subgraph` expands seed nodes hop by hop, drawing at most
``num_neighbors[h]`` neighbours per node (``-1``: all), uniformly without replacement, with
vectorised CSR indexing in torch: no compiled extension and no Python loop over nodes.
Semantics follow PyG's ``NeighborSampler`` (``directed=True``): each node is expanded once, the
seeds come first in ``n_id``, and every sampled edge points from the neighbour to the node it
was sampled for (``edge_index[0]`` = source, ``edge_index[1]`` = target, PyG's
``source_to_target`` flow). Cost per hop ``O(S log S)`` with ``S`` the number of sampled
edges: nodes with up to ``4 k`` neighbours pick by sorting random keys over their neighbour
list; hubs draw offsets with replacement and redraw the repeats, so a hub costs ``O(k)``.

**Batches.** :func:`seed_batches` yields one epoch of subgraphs. Each ``Data`` carries what a
model needs to optimise the full-graph objective on the seeds (see
:class:`graphemb.models.base.NodeBatch`, built by :func:`node_batch_of`): ``n_id`` (global ids),
``seed_mask``, ``global_degree`` (full-graph degree of every sampled node) and
``global_num_nodes``, ``num_sampled_nodes`` / ``num_sampled_edges`` per hop (nodes ordered by hop,
seeds first; edges by the hop of their target: the :class:`~graphemb.nn.sampled.HopLayout` with
which a model computes each layer only where its loss reads it); for models whose loss is over node pairs (``model.seed_kind ==
"edges"``), seed *edges* (PyG's ``LinkNeighborLoader`` pattern): ``pos_edge_index`` (a batch of
the graph's edges) and ``neg_edge_index`` (as many uniform random pairs), in local ids, with
their endpoints as the seeds.

``train.sampler``: ``native`` (this module), ``pyg`` (PyG's ``NeighborSampler``; needs pyg-lib
or torch-sparse) or ``auto`` (pyg when available, else native).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

if TYPE_CHECKING:
    from graphemb.training.distributed import World

SAMPLERS = ("auto", "native", "pyg")


def check_seed_batches(model) -> None:
    """Raise a clear error when ``model.loss`` does not follow the seed mini-batch contract."""
    from graphemb.models.base import accepts_node_batch

    if not accepts_node_batch(model):
        raise ValueError(f"{type(model).__name__} does not support seed mini-batches on one graph (its "
                         "loss takes no `nb`, see graphemb.models.base.NodeBatch); train it full batch "
                         "with --set train.num_neighbors=[]")


def step_loss(model, batch: Data, graph_batch: Optional[Tensor] = None, ops=None):
    """One forward + loss of ``model`` on ``batch``: the model contract, plus the
    :class:`~graphemb.models.base.NodeBatch` of a sampled subgraph (passed to ``loss``, and to
    ``forward`` when it takes ``nb``), or the full graph's precomputed
    :class:`~graphemb.nn.graph_ops.GraphOps` ``ops`` (passed to both; see :func:`accepts_graph_ops`)."""
    import inspect

    from graphemb.models.base import NodeBatch

    nb = NodeBatch.from_data(batch)
    plain = getattr(model, "_orig_mod", model)  # torch.compile's wrapper hides the signature
    if nb is None:
        if ops is not None:
            out = model(batch.x, batch.edge_index, graph_batch, ops=ops)
            return plain.loss(out, batch.x, batch.edge_index, graph_batch, ops=ops)
        out = model(batch.x, batch.edge_index, graph_batch)
        return plain.loss(out, batch.x, batch.edge_index, graph_batch)
    fwd = {"nb": nb} if "nb" in inspect.signature(plain.forward).parameters else {}
    out = model(batch.x, batch.edge_index, graph_batch, **fwd)
    return plain.loss(out, batch.x, batch.edge_index, graph_batch, nb=nb)


def accepts_graph_ops(model) -> bool:
    """Whether ``model.forward`` and ``model.loss`` both take ``ops`` (a
    :class:`~graphemb.nn.graph_ops.GraphOps`), so full-batch training can build the graph's
    operators once instead of at every step."""
    import inspect

    plain = getattr(model, "_orig_mod", model)
    return all("ops" in inspect.signature(f).parameters for f in (plain.forward, plain.loss))


@dataclass
class CSR:
    """In-neighbour lists of a graph: neighbours of ``v`` are ``col[rowptr[v]:rowptr[v + 1]]``
    (the sources ``u`` of edges ``u -> v``)."""

    rowptr: Tensor
    col: Tensor

    @property
    def num_nodes(self) -> int:
        return self.rowptr.numel() - 1

    def degree(self) -> Tensor:
        return self.rowptr[1:] - self.rowptr[:-1]


def to_csr(edge_index: Tensor, num_nodes: int) -> CSR:
    """:class:`CSR` of ``edge_index [2, E]`` grouped by target (one sort, ``O(E log E)``)."""
    order = torch.argsort(edge_index[1] * num_nodes + edge_index[0])
    counts = torch.bincount(edge_index[1], minlength=num_nodes)
    rowptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    return CSR(rowptr=rowptr, col=edge_index[0][order].contiguous())


def _segment_rank(seg: Tensor, num_segments: int) -> Tensor:
    """Position of each element within its segment, for ``seg`` sorted ascending."""
    counts = torch.bincount(seg, minlength=num_segments)
    start = torch.cumsum(counts, 0) - counts
    return torch.arange(seg.numel(), device=seg.device) - start[seg]


def sample_neighbors(csr: CSR, nodes: Tensor, k: int, generator: Optional[torch.Generator] = None):
    """Up to ``k`` distinct uniform in-neighbours of each of ``nodes`` (``k < 0``: all of them).

    Returns ``(neighbour, target)``: global ids of the sampled neighbours and the position in
    ``nodes`` of the node each was sampled for, both ``[S]``.
    """
    start = csr.rowptr[nodes]
    deg = csr.rowptr[nodes + 1] - start
    idx = torch.arange(nodes.numel(), device=nodes.device)
    if k < 0:
        small = torch.ones_like(deg, dtype=torch.bool)
    else:
        small = deg <= 4 * k
    # Nodes with few neighbours: random keys over the whole list, keep the k smallest.
    s_idx = idx[small]
    s_deg = deg[small]
    seg = torch.repeat_interleave(s_idx, s_deg)
    off = torch.arange(seg.numel(), device=nodes.device) - torch.repeat_interleave(
        torch.cumsum(s_deg, 0) - s_deg, s_deg)
    if k >= 0:
        keys = torch.rand(seg.numel(), generator=generator, dtype=torch.float64, device=nodes.device)
        order = torch.argsort(seg.double() + keys)  # by segment, random within
        seg, off = seg[order], off[order]
        keep = _segment_rank(seg, nodes.numel()) < k
        seg, off = seg[keep], off[keep]
    nbr, tgt = [csr.col[start[seg] + off]], [seg]
    # Hubs (more than 4k neighbours): draw offsets with replacement, redraw the repeats.
    h_idx = idx[~small]
    if h_idx.numel():
        h_deg = deg[h_idx]
        found = torch.zeros(0, dtype=torch.long, device=nodes.device)  # keys: segment * max + offset
        width = int(h_deg.max())
        need = torch.full_like(h_idx, k)
        for _ in range(64):
            if int(need.sum()) == 0:
                break
            m = need * 2
            hs = torch.repeat_interleave(torch.arange(h_idx.numel(), device=nodes.device), m)
            r = torch.rand(hs.numel(), generator=generator, dtype=torch.float64, device=nodes.device)
            o = (r * h_deg[hs]).long().clamp(max=h_deg[hs] - 1)
            found = torch.unique(torch.cat([found, hs * width + o]))
            need = (k - torch.bincount(found // width, minlength=h_idx.numel())).clamp(min=0)
        hs, o = found // width, found % width
        keys = torch.rand(hs.numel(), generator=generator, dtype=torch.float64, device=nodes.device)
        order = torch.argsort(hs.double() + keys)
        hs, o = hs[order], o[order]
        keep = _segment_rank(hs, h_idx.numel()) < k
        hs, o = hs[keep], o[keep]
        nbr.append(csr.col[start[h_idx[hs]] + o])
        tgt.append(h_idx[hs])
    return torch.cat(nbr), torch.cat(tgt)


@dataclass
class SampledSubgraph:
    """What :func:`sample_subgraph` returns: ``n_id [n]`` (seeds first, then by hop),
    ``edge_index [2, S]`` in local ids (neighbour -> target), ``num_sampled_nodes`` per hop (seeds
    first) and ``num_sampled_edges`` per hop (edges sorted by the hop of their target: those into
    the seeds first), or ``None`` when the edges are in no such order."""

    n_id: Tensor
    edge_index: Tensor
    num_sampled_nodes: List[int]
    num_sampled_edges: Optional[List[int]] = None


def sample_subgraph(csr: CSR, seeds: Tensor, num_neighbors: Sequence[int],
                    generator: Optional[torch.Generator] = None) -> SampledSubgraph:
    """Multi-hop neighbour sampling from distinct ``seeds`` (see module docstring)."""
    n_id = seeds
    frontier = torch.arange(seeds.numel(), device=seeds.device)
    rows: List[Tensor] = []
    cols: List[Tensor] = []
    counts = [seeds.numel()]
    edge_counts: List[int] = []
    for k in num_neighbors:
        if frontier.numel() == 0:
            counts.append(0)
            edge_counts.append(0)
            continue
        nbr, tgt = sample_neighbors(csr, n_id[frontier], int(k), generator)
        uniq, inv = torch.unique(nbr, return_inverse=True)
        sorted_ids, perm = torch.sort(n_id)
        pos = torch.searchsorted(sorted_ids, uniq).clamp(max=max(sorted_ids.numel() - 1, 0))
        known = sorted_ids[pos] == uniq
        new = ~known
        local = torch.empty_like(uniq)
        local[known] = perm[pos[known]]
        local[new] = n_id.numel() + torch.arange(int(new.sum()), device=seeds.device)
        rows.append(local[inv])
        cols.append(frontier[tgt])
        frontier = local[new]
        n_id = torch.cat([n_id, uniq[new]])
        counts.append(int(new.sum()))
        edge_counts.append(int(tgt.numel()))
    ei = torch.stack([torch.cat(rows), torch.cat(cols)]) if rows else torch.zeros(2, 0, dtype=torch.long)
    return SampledSubgraph(n_id=n_id, edge_index=ei, num_sampled_nodes=counts, num_sampled_edges=edge_counts)


def pyg_sampling_available() -> bool:
    """Whether PyG's neighbour sampler has a backend (pyg-lib or torch-sparse)."""
    import torch_geometric.typing as tgt

    return bool(getattr(tgt, "WITH_PYG_LIB", False) or getattr(tgt, "WITH_TORCH_SPARSE", False))


def resolve_sampler(name: str) -> str:
    """``auto`` -> ``pyg`` when pyg-lib/torch-sparse are installed, else ``native``."""
    if name not in SAMPLERS:
        raise ValueError(f"train.sampler must be one of {SAMPLERS}, got {name!r}")
    if name == "auto":
        return "pyg" if pyg_sampling_available() else "native"
    if name == "pyg" and not pyg_sampling_available():
        raise RuntimeError("train.sampler=pyg needs pyg-lib or torch-sparse built for your torch; "
                           "use --set train.sampler=native (no compiled extension needed)")
    return name


def _pyg_subgraph(data: Data, num_neighbors: Sequence[int]) -> Callable[[Tensor], SampledSubgraph]:
    import warnings

    from torch_geometric.sampler import NeighborSampler, NodeSamplerInput

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "without pyg-lib is deprecated"
        sampler = NeighborSampler(Data(edge_index=data.edge_index, num_nodes=data.num_nodes),
                                  list(num_neighbors))

    def run(seeds: Tensor) -> SampledSubgraph:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = sampler.sample_from_nodes(NodeSamplerInput(input_id=None, node=seeds))
        edges = list(out.num_sampled_edges) if out.num_sampled_edges else None
        return SampledSubgraph(n_id=out.node, edge_index=torch.stack([out.row, out.col]),
                               num_sampled_nodes=list(out.num_sampled_nodes or []), num_sampled_edges=edges)

    return run


def subgraph_sampler(data: Data, num_neighbors: Sequence[int], sampler: str = "auto",
                     generator: Optional[torch.Generator] = None) -> Callable[[Tensor], SampledSubgraph]:
    """``seeds -> SampledSubgraph`` for ``data`` with the chosen backend (CSR built once).

    The ``pyg`` backend draws from torch's global RNG (seed it); ``native`` from ``generator``.
    """
    if resolve_sampler(sampler) == "pyg":
        return _pyg_subgraph(data, num_neighbors)
    csr = to_csr(data.edge_index, int(data.num_nodes))
    return lambda seeds: sample_subgraph(csr, seeds, num_neighbors, generator)


def global_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Full-graph in-degree ``[N]`` float (self loops excluded): IsoC-VGAE's degree target."""
    from graphemb.nn.graph_ops import node_degree

    return node_degree(edge_index, num_nodes)


_GRAPH_KEYS = {"edge_index", "edge_attr", "edge_weight", "train_mask", "val_mask", "test_mask", "num_nodes"}


def subgraph_batch(data: Data, sub: SampledSubgraph, num_seeds: int, degree: Tensor,
                   pos: Optional[Tensor] = None, neg: Optional[Tensor] = None) -> Data:
    """The ``Data`` of one seed mini-batch: node attributes of ``data`` gathered at
    ``sub.n_id`` plus the :class:`~graphemb.models.base.NodeBatch` fields (module docstring).

    Args:
        num_seeds: the first ``num_seeds`` nodes of ``sub.n_id`` are the seeds.
        degree: full-graph degree ``[N]`` (:func:`global_degree`).
        pos, neg: local seed pairs for pair losses.
    """
    n = int(data.num_nodes)
    out = Data(edge_index=sub.edge_index, num_nodes=sub.n_id.numel())
    for k in data.keys():
        v = data[k]
        if k not in _GRAPH_KEYS and isinstance(v, Tensor) and v.dim() >= 1 and v.size(0) == n:
            out[k] = v[sub.n_id]
    out.n_id = sub.n_id
    out.seed_mask = torch.arange(sub.n_id.numel(), device=sub.n_id.device) < num_seeds
    out.global_degree = degree[sub.n_id]
    out.global_num_nodes = n
    if sub.num_sampled_edges is not None and len(sub.num_sampled_edges) == len(sub.num_sampled_nodes) - 1:
        out.num_sampled_nodes, out.num_sampled_edges = list(sub.num_sampled_nodes), list(sub.num_sampled_edges)
    if pos is not None:
        out.pos_edge_index, out.neg_edge_index = pos, neg
    return out


def seed_batches(data: Data, num_neighbors: Sequence[int], batch_size: int, seed_kind: str = "nodes",
                 sampler: str = "auto", generator: Optional[torch.Generator] = None,
                 world: Optional["World"] = None) -> Callable[[], Iterable[Data]]:
    """A function yielding one epoch of sampled subgraphs (see module docstring).

    ``seed_kind="nodes"``: every node once per epoch, shuffled, ``batch_size`` seeds per batch.
    ``seed_kind="edges"``: every undirected edge once per epoch, ``batch_size`` positive edges and
    as many uniform random non-self pairs per batch (not filtered against the edges: a
    collision has probability about ``avg_degree / N``).
    ``world`` (:class:`graphemb.training.distributed.World`): this rank's share of global batches
    of ``batch_size x world.size`` seeds (:func:`~graphemb.training.distributed.share`);
    ``generator`` must then be seeded alike on every rank (the shuffle and the negatives are
    drawn from it in full); neighbours come from a per-rank generator seeded next to it.
    """
    if batch_size < 1:
        raise ValueError(f"train.batch_size must be >= 1, got {batch_size}")
    if seed_kind not in ("nodes", "edges"):
        raise ValueError(f"seed_kind must be 'nodes' or 'edges', got {seed_kind!r}")
    from graphemb.training.distributed import SINGLE, share

    world = world if world is not None else SINGLE
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    n = int(data.num_nodes)
    g_nbr = g if world.size == 1 else torch.Generator().manual_seed(g.initial_seed() + 1 + world.rank)
    sample = subgraph_sampler(data, num_neighbors, sampler, g_nbr)
    deg = global_degree(data.edge_index, n)
    ei = data.edge_index
    pairs = ei[:, ei[0] < ei[1]] if seed_kind == "edges" else None

    def make(seeds: Tensor, pos: Optional[Tensor] = None, neg: Optional[Tensor] = None) -> Data:
        return subgraph_batch(data, sample(seeds), seeds.numel(), deg, pos, neg)

    def epoch() -> Iterable[Data]:
        step = batch_size * world.size  # a global batch; this rank trains on its share
        if seed_kind == "nodes":
            perm = torch.randperm(n, generator=g)
            for s in range(0, n, step):
                b = perm[s:s + step]
                yield make(b[share(b.numel(), world)])
            return
        if pairs.size(1) == 0:
            raise ValueError("seed_kind='edges' needs a graph with edges")
        perm = torch.randperm(pairs.size(1), generator=g)
        for s in range(0, pairs.size(1), step):
            cols = perm[s:s + step]
            m = cols.numel()
            u = torch.randint(0, n, (m,), generator=g)
            v = (u + torch.randint(1, max(n, 2), (m,), generator=g)) % n  # never u itself
            mine = share(m, world)
            pos, neg = pairs[:, cols[mine]], torch.stack([u, v])[:, mine]
            k = mine.numel()
            seeds, inv = torch.unique(torch.cat([pos, neg], 1), return_inverse=True)
            yield make(seeds, inv[:, :k], inv[:, k:])

    return epoch
