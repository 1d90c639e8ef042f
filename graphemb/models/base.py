"""The contract every self-supervised embedding model follows.

A model is composed (never subclassed from a data source): ``Model(encoder, decoder, ...)``.
The trainer, the evaluators, the CLI and the test template rely only on this contract:

* ``forward(x, edge_index, batch=None) -> ModelOutput`` — one stochastic pass (training mode).
* ``loss(out, x, edge_index, batch=None, nb=None) -> LossOutput`` — the training objective of
  that pass. ``nb`` (a :class:`NodeBatch`) is given for seed mini-batches of one large graph:
  the loss is then the full-graph objective's estimate on the seeds (see :class:`NodeBatch`).
  A model whose ``loss`` has no ``nb`` parameter refuses seed mini-batches with a clear error.
* ``seed_kind`` (class attribute): ``"nodes"`` (default) or ``"edges"`` for losses over node
  pairs; tells the sampler whether to draw seed nodes or seed edges.
* ``embed(x, edge_index, batch=None) -> Tensor [N, d]`` — deterministic node embeddings
  (eval mode, no sampling); graph embeddings are pooled from these by ``graphemb.nn.readout``.
* ``param_groups(lr) -> list[dict]`` — optimiser groups (IsoC-VGAE trains degree heads faster).
* ``after_step(step, total_steps)`` — called by the trainer after every optimiser step (0-based
  ``step`` of ``total_steps``); EMA target networks update here (BGRL, GraphMAE2). No-op default.
* ``Config`` (a dataclass) and ``from_config(in_channels, cfg)`` — the one source of truth for
  hyperparameters; YAML files and ``--set`` overrides fill this dataclass.

Nothing is stashed on the module between calls: everything a loss needs travels in the
``ModelOutput`` returned by ``forward``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional

import torch
from torch import Tensor, nn

from graphemb.registry import Registry

if TYPE_CHECKING:
    from graphemb.augment.draws import KeyedDraws
    from graphemb.nn.sampled import HopLayout


@dataclass
class ModelOutput:
    """What one forward pass returns.

    Attributes:
        z: node embeddings used downstream, ``[N, d]``.
        layers: every encoder layer's output ``h^1 .. h^L`` (``layers[-1]`` is ``h^L``).
        extras: model-specific tensors the loss needs (``mu``, ``logstd``, per-layer decoder
            means, ...), keyed by name.
    """

    z: Tensor
    layers: List[Tensor] = field(default_factory=list)
    extras: Dict[str, Any] = field(default_factory=dict)


@dataclass
class NodeBatch:
    """What a seed mini-batch of one large graph adds to ``(x, edge_index)`` of its subgraph.

    The subgraph holds the seeds and their sampled neighbourhoods; only the seeds' embeddings
    are computed from (up to the fan-out) complete neighbourhoods, so a model's loss must:

    * average its node terms over ``seed_mask`` only (:meth:`seed_mean`);
    * take node statistics of the full graph from here, never from the subgraph: ``degree``
      (full-graph degree, self loops excluded) and ``num_nodes`` (``N`` of the full graph);
    * for pair losses (``seed_kind = "edges"``): score ``pos_edge_index`` against
      ``neg_edge_index`` (local ids; their endpoints are the seeds) instead of ``edge_index``;
    * aggregate over the sampled in-neighbours ``edge_index[0] -> edge_index[1]`` (a sampled
      subgraph is directed towards the seeds);
    * draw the objective's random choices (masks, augmentations, corruptions, noise) from
      :meth:`draws` (:func:`draws_of`), keyed on global ids: a node is then masked the same way
      in every subgraph that holds it, which is what makes the batch the full graph's step
      restricted to the seeds. Dropout in submodules is a regulariser and may use torch's RNG.

    Built by the trainer from the batch (:meth:`from_data`); the same object over the full
    graph (``seed_mask`` any subset, ``degree`` = the graph's degree) gives the full-batch loss
    restricted to those seeds, which the per-model test template compares against.

    ``layout`` (:class:`graphemb.nn.sampled.HopLayout`, set by the samplers): the subgraph's
    nodes are ordered by hop, seeds first, and its edges by the hop of their target, so a model
    may compute each layer only where the loss reads it (:func:`graphemb.nn.sampled.encode_sampled`;
    the seeds are then the first ``layout.num_seeds`` rows). ``None``: no such order is known.

    Shapes: ``seed_mask [n]`` bool, ``degree [n]`` float, ``n_id [n]`` long, pair tensors
    ``[2, P]``; ``key`` the step's 32-bit random key (drawn from torch's RNG by :meth:`from_data`).
    """

    seed_mask: Tensor
    degree: Tensor
    num_nodes: int
    n_id: Optional[Tensor] = None
    pos_edge_index: Optional[Tensor] = None
    neg_edge_index: Optional[Tensor] = None
    key: int = 0
    layout: Optional["HopLayout"] = None

    @property
    def num_seeds(self) -> int:
        return int(self.seed_mask.sum())

    def seed_mean(self, t: Tensor) -> Tensor:
        """Mean of a per-node tensor ``[n, ...]`` over the seeds (all trailing dims averaged)."""
        return t[self.seed_mask].mean()

    def draws(self, stream: int = 0) -> "KeyedDraws":
        """Counter-based random numbers of this step keyed on global node ids, sub-stream
        ``stream`` (:class:`graphemb.augment.draws.KeyedDraws`; "random rows" come from the seeds)."""
        from graphemb.augment.draws import KeyedDraws

        n_id = self.n_id if self.n_id is not None else torch.arange(self.seed_mask.numel(),
                                                                    device=self.seed_mask.device)
        return KeyedDraws(n_id, self.key, pool=torch.nonzero(self.seed_mask).view(-1)).fork(stream)

    @classmethod
    def from_data(cls, data: Any) -> Optional["NodeBatch"]:
        """The :class:`NodeBatch` of a sampled ``Data`` (``graphemb.training.sampling``), or
        ``None`` for a full graph / a batch of graphs."""
        if getattr(data, "seed_mask", None) is None:
            return None
        layout = None
        if getattr(data, "num_sampled_edges", None) is not None:
            from graphemb.nn.sampled import HopLayout

            layout = HopLayout.of(data.num_sampled_nodes, data.num_sampled_edges)
        return cls(layout=layout, seed_mask=data.seed_mask, degree=data.global_degree, num_nodes=int(data.global_num_nodes),
                   n_id=getattr(data, "n_id", None), pos_edge_index=getattr(data, "pos_edge_index", None),
                   neg_edge_index=getattr(data, "neg_edge_index", None),
                   key=int(torch.randint(0, 2**32, (), dtype=torch.long)))


def on_seeds(t: Tensor, nb: Optional[NodeBatch]) -> Tensor:
    """Rows of a per-node tensor the loss reads: all of them full batch, the seeds' with ``nb``."""
    return t if nb is None else t[nb.seed_mask]


def seed_subset(idx: Tensor, nb: Optional[NodeBatch]) -> Tensor:
    """The entries of a node index ``idx [M]`` (e.g. masked nodes) the loss reads: all full
    batch, the seeds among them with ``nb``."""
    return idx if nb is None else idx[nb.seed_mask[idx]]


def draws_of(nb: Optional[NodeBatch], stream: int = 0):
    """Where a pass's random numbers come from: torch's RNG full batch, ``nb.draws`` in a seed
    mini-batch (see :class:`NodeBatch`)."""
    from graphemb.augment.draws import GLOBAL

    return GLOBAL if nb is None else nb.draws(stream)


def accepts_node_batch(model: Any) -> bool:
    """Whether ``model.loss`` takes the ``nb`` argument of the seed mini-batch contract."""
    import inspect

    return "nb" in inspect.signature(model.loss).parameters


@dataclass
class LossOutput:
    """A scalar loss to back-propagate and its named parts (as floats, for logging)."""

    total: Tensor
    parts: Dict[str, float] = field(default_factory=dict)


class EmbeddingModel(nn.Module):
    """Base class that fixes the contract above (see module docstring)."""

    Config: ClassVar[type]
    seed_kind: ClassVar[str] = "nodes"

    @classmethod
    def from_config(cls, in_channels: int, cfg: Any) -> "EmbeddingModel":  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None) -> LossOutput:  # pragma: no cover
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        was_training = self.training
        self.eval()
        try:
            return self.forward(x, edge_index, batch).z.detach()
        finally:
            self.train(was_training)

    def inference_stages(self) -> List[Any]:
        """Message-passing stages whose composition is :meth:`embed` in eval mode, for
        layer-wise inference over node chunks (``graphemb.training.inference``). Default: the
        encoder's (``embed = h^L``); override when the embedding adds layers (VGAE's mu head)."""
        return self.encoder.stages()

    def combine_stage_outputs(self, outputs: List[Tensor]) -> Tensor:
        """The embedding from the outputs of :meth:`inference_stages` (one ``[N, d_l]`` tensor
        per stage, in order), for layer-wise inference. Default: the last stage's output;
        override when :meth:`embed` reads several layers (MaskGAE concatenates them)."""
        return outputs[-1]

    def after_step(self, step: int, total_steps: int) -> None:
        """Hook after each optimiser step (EMA target updates); nothing by default."""

    def param_groups(self, lr: float) -> List[Dict[str, Any]]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]


MODELS: Registry[type] = Registry("model")
