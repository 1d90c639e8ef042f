"""Where the random numbers of an augmentation come from.

:class:`GlobalDraws` (the default) reads torch's global RNG exactly as the augmentors always
did, so full-batch training is unchanged. :class:`KeyedDraws` is a counter-based generator for
seed mini-batches of one large graph: every number is a hash of a per-step ``key`` and the
*global* id of the node (edge, feature column) it is for, so a node is masked, a pair dropped,
a walk stepped the same way whichever subgraph holds it. This is what makes a mini-batch step
with full fan-out equal the full-graph step restricted to its seeds (the per-model test in
``tests/model_cases.py``), and it costs ``O(n)`` per batch, never ``O(N)``.

Keyed draws differ from global ones in two documented ways: a ``p`` share of the nodes is a
Bernoulli(``p``) draw per node (not exactly ``int(p n)``), and "the features of a random node"
(GraphMAE's noise, DGI's corruption) are those of a uniformly drawn *seed* of the batch, the
only rows both a mini-batch and the full graph hold.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

_M32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """``(x * c) mod 2^32`` for ``0 <= x < 2^32`` without int64 overflow (16-bit halves)."""
    return (((((x >> 16) * c) & 0xFFFF) << 16) + (x & 0xFFFF) * c) & _M32


def mix32(x: Tensor) -> Tensor:
    """A bijective 32-bit integer hash (Wellons' ``lowbias32``), elementwise on int64 in [0, 2^32)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _mix32_int(x: int) -> int:
    """:func:`mix32` of one Python int."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def _hash_ids(key: int, ids: Tensor) -> Tensor:
    """32-bit hash of ``(key, id)`` for int64 ``ids >= 0`` (both halves of each id enter)."""
    ids = ids.long()
    h = mix32((ids & _M32) ^ key)
    return mix32(h ^ (ids >> 32))


def _to_uniform(h: Tensor) -> Tensor:
    """Float32 in ``(0, 1)`` from 32-bit hashes (24 bits of resolution, never 0 or 1)."""
    return ((h >> 8).to(torch.float32) + 0.5) / float(1 << 24)


class GlobalDraws:
    """Draws from torch's global RNG (seed it); ``fork`` returns the same source."""

    keyed = False

    def fork(self, stream: int) -> "GlobalDraws":
        return self

    def nodes(self, n: int, device: Optional[torch.device] = None) -> Tensor:
        """One uniform per node, ``[n]``."""
        return torch.rand(n, device=device)

    def edges(self, edge_index: Tensor) -> Tensor:
        """One uniform per directed edge, ``[E]``."""
        return torch.rand(edge_index.size(1), device=edge_index.device)

    def pairs(self, pair_keys: Tensor) -> Tensor:
        """One uniform per undirected pair, both directions alike; ``pair_keys [E]`` =
        ``min * n + max`` in local ids."""
        uniq, inv = torch.unique(pair_keys, return_inverse=True)
        return torch.rand(uniq.numel(), device=pair_keys.device)[inv]

    def columns(self, f: int, device: Optional[torch.device] = None) -> Tensor:
        """One uniform per feature column, ``[f]``."""
        return torch.rand(f, device=device)

    def walkers(self, start: Tensor, step: int) -> Tensor:
        """One uniform per random walker at ``step``, ``[W]``."""
        return torch.rand(start.numel(), device=start.device)

    def normal_like(self, t: Tensor) -> Tensor:
        """Standard normal noise shaped like the per-node tensor ``t [n, d]``."""
        return torch.randn_like(t)

    def rank(self, n: int, device: Optional[torch.device] = None) -> Tensor:
        """The order in which neighbour lists are kept (identity: local ids)."""
        return torch.arange(n, device=device)

    def source_rows(self, nodes: Tensor, n: int) -> Tensor:
        """For each of ``nodes`` (local ids) the local row to copy features from ("a random
        node"): here the first ``len(nodes)`` of a uniform permutation of the ``n`` rows."""
        return torch.randperm(n, device=nodes.device)[: nodes.numel()]


GLOBAL = GlobalDraws()


class KeyedDraws(GlobalDraws):
    """Counter-based draws keyed on global ids (see the module docstring).

    Args:
        n_id: global id of every local node, ``[n]``.
        key: the step's 32-bit key (draw a fresh one per optimiser step).
        pool: local ids that :meth:`source_rows` copies from (the seeds), any order.
    """

    keyed = True

    def __init__(self, n_id: Tensor, key: int, pool: Optional[Tensor] = None) -> None:
        self.n_id, self.key = n_id, int(key) & _M32
        self.pool = pool if pool is not None else torch.arange(n_id.numel(), device=n_id.device)

    def fork(self, stream: int) -> "KeyedDraws":
        """An independent source for sub-stream ``stream`` (a view, a re-mask, a replica)."""
        return KeyedDraws(self.n_id, _mix32_int(self.key ^ _mix32_int(stream + 0x632BE5AB)), self.pool)

    def _at(self, ids: Tensor) -> Tensor:
        return _to_uniform(_hash_ids(self.key, ids))

    def nodes(self, n: int, device: Optional[torch.device] = None) -> Tensor:
        return self._at(self.n_id[:n])

    def edges(self, edge_index: Tensor) -> Tensor:
        return self.edges_global(self.n_id[edge_index[0]], self.n_id[edge_index[1]])

    def edges_global(self, src: Tensor, dst: Tensor) -> Tensor:
        """One uniform per ``(src, dst)`` pair of global ids."""
        return _to_uniform(_hash_ids(int(self.key), dst) ^ _hash_ids(self.key ^ 0x9E3779B9, src))

    def pairs(self, pair_keys: Tensor) -> Tensor:
        n = self.n_id.numel()
        lo, hi = self.n_id[pair_keys // n], self.n_id[pair_keys % n]
        return self.fork(3000).edges_global(torch.minimum(lo, hi), torch.maximum(lo, hi))

    def columns(self, f: int, device: Optional[torch.device] = None) -> Tensor:
        return self._at(torch.arange(f, device=self.n_id.device))

    def walkers(self, start: Tensor, step: int) -> Tensor:
        return self.fork(1000 + step)._at(self.n_id[start])

    def normal_like(self, t: Tensor) -> Tensor:
        """Box-Muller from two keyed uniforms per ``(node, column)``."""
        d = t.size(1)
        ids = self.n_id[: t.size(0), None] * d + torch.arange(d, device=t.device)
        u1, u2 = self.fork(4000)._at(ids), self.fork(4001)._at(ids)
        return (torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * torch.pi * u2)).to(t.dtype)

    def rank(self, n: int, device: Optional[torch.device] = None) -> Tensor:
        r = torch.empty(n, dtype=torch.long, device=self.n_id.device)
        r[torch.argsort(self.n_id[:n])] = torch.arange(n, device=self.n_id.device)
        return r

    def source_rows(self, nodes: Tensor, n: int) -> Tensor:
        """A pool row (seed) drawn uniformly for each of ``nodes``, keyed on the node: the same
        global source node in any subgraph holding the pool."""
        pool = self.pool[torch.argsort(self.n_id[self.pool])]  # order by global id
        u = self.fork(2000)._at(self.n_id[nodes])
        return pool[(u * pool.numel()).long().clamp(max=pool.numel() - 1)]
