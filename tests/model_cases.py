"""Shared test template for every registered model (as PyKEEN's ``tests/cases.py``).

Subclass :class:`ModelCase` in ``tests/test_models.py`` with ``name`` (the ``MODELS`` key) and
``small_config()``; the meta-test there fails when a registered model has no case.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch_geometric.data import Batch, Data

from graphemb.models import MODELS, EmbeddingModel, LossOutput, ModelOutput
from graphemb.models.base import accepts_node_batch
from graphemb.training.sampling import global_degree, sample_subgraph, step_loss, subgraph_batch, to_csr


def tiny_graph(n: int = 8, f: int = 5, seed: int = 0) -> Data:
    """A ring plus one chord, random features; undirected, no self-loops."""
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    dst = (src + 1) % n
    ei = torch.stack([torch.cat([src, dst, torch.tensor([0, n // 2])]),
                      torch.cat([dst, src, torch.tensor([n // 2, 0])])])
    return Data(x=torch.randn(n, f, generator=g), edge_index=ei)


def ring_graph(n: int = 80, f: int = 5, seed: int = 0) -> Data:
    """A ring with two chords (diameter ~ n / 4), random features: sampled neighbourhoods of a
    few seeds are much smaller than the graph."""
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    extra = torch.tensor([[0, n // 2], [5, n // 3]])  # chords 0-40, 5-26
    a = torch.cat([src, extra[:, 0]])
    b = torch.cat([(src + 1) % n, extra[:, 1]])
    return Data(x=torch.randn(n, f, generator=g), edge_index=torch.stack([torch.cat([a, b]), torch.cat([b, a])]),
                num_nodes=n)


class ModelCase:
    """Shared checks; subclasses set ``name`` and override :meth:`small_config`."""

    name: ClassVar[str]
    in_channels: ClassVar[int] = 5
    seed_batch_hops: ClassVar[int] = 5
    """Hops of the full fan-out subgraph in the seed-batch test: more than the loss's receptive
    field plus one (GCN normalisation reads the degree of the outermost nodes), plus the walk
    length for path masking."""

    def small_config(self) -> Any:
        raise NotImplementedError

    def make(self, seed: int = 0) -> EmbeddingModel:
        torch.manual_seed(seed)
        return MODELS.get(self.name).from_config(self.in_channels, self.small_config())

    def test_registered(self):
        cls = MODELS.get(self.name)
        assert issubclass(cls, EmbeddingModel)
        assert isinstance(cls.Config(), cls.Config)  # defaults construct
        assert hasattr(self.small_config(), "encoder")

    def test_forward_loss_backward(self):
        model = self.make().train()
        d = tiny_graph(f=self.in_channels)
        out = model(d.x, d.edge_index)
        assert isinstance(out, ModelOutput)
        assert out.z.dim() == 2 and out.z.size(0) == d.num_nodes
        assert len(out.layers) == model.encoder.num_layers
        loss = model.loss(out, d.x, d.edge_index)
        assert isinstance(loss, LossOutput) and loss.total.dim() == 0
        assert torch.isfinite(loss.total) and all(map(lambda v: v == v, loss.parts.values()))
        loss.total.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, f"no gradient for {missing}"

    def test_embed_deterministic_and_shape(self):
        model = self.make().train()
        d = tiny_graph(f=self.in_channels)
        e1, e2 = model.embed(d.x, d.edge_index), model.embed(d.x, d.edge_index)
        assert torch.equal(e1, e2) and not e1.requires_grad
        assert e1.shape == (d.num_nodes, model(d.x, d.edge_index).z.size(1))
        assert model.training  # embed restores the mode

    def test_state_dict_round_trip(self, tmp_path):
        model = self.make(seed=0)
        d = tiny_graph(f=self.in_channels)
        model.train()
        for _ in range(2):  # move BatchNorm running stats away from their init
            model.loss(model(d.x, d.edge_index), d.x, d.edge_index).total.backward()
        path = tmp_path / "model.pt"
        torch.save(model.state_dict(), path)
        other = self.make(seed=1)
        assert not torch.allclose(other.embed(d.x, d.edge_index), model.embed(d.x, d.edge_index))
        other.load_state_dict(torch.load(path, weights_only=True))
        assert torch.equal(other.embed(d.x, d.edge_index), model.embed(d.x, d.edge_index))

    def test_mini_batch_of_graphs(self):
        model = self.make().train()
        b = Batch.from_data_list([tiny_graph(6, self.in_channels, 1), tiny_graph(9, self.in_channels, 2)])
        out = model(b.x, b.edge_index, b.batch)
        loss = model.loss(out, b.x, b.edge_index, b.batch)
        assert torch.isfinite(loss.total)
        loss.total.backward()
        assert model.embed(b.x, b.edge_index, b.batch).shape[0] == 15

    def test_param_groups_cover_parameters_once(self):
        model = self.make()
        groups = model.param_groups(1e-3)
        ids = [id(p) for g in groups for p in g["params"]]
        assert len(ids) == len(set(ids))
        assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
        assert all("lr" in g for g in groups)
        opt = torch.optim.Adam(groups)  # the groups are valid optimiser input
        assert len(opt.param_groups) == len(groups)

    def test_nothing_stashed_on_modules(self):
        model = self.make().train()
        d = tiny_graph(f=self.in_channels)
        before = {n: set(vars(m)) for n, m in model.named_modules()}
        model.loss(model(d.x, d.edge_index), d.x, d.edge_index).total.backward()
        model.embed(d.x, d.edge_index)
        after = {n: set(vars(m)) for n, m in model.named_modules()}
        assert before == after

    def seed_batch_config(self) -> Any:
        """:meth:`small_config` with graph-wise norms (PairNorm, graph LayerNorm) removed: they
        normalise over the nodes of the (sub)graph, so a sampled subgraph cannot match them."""
        cfg = self.small_config()
        if cfg.encoder.norm in ("pair", "layer"):
            cfg = dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, norm=None))
        return cfg

    def test_seed_batch_matches_full_batch_on_the_seeds(self):
        """Seed mini-batch contract (graphemb.models.base.NodeBatch): with full fan-out, the loss
        and gradients of a sampled subgraph equal the full-graph loss restricted to the seeds.
        The model runs its training objective (masks, augmentations, corruption, noise: all from
        the batch's keyed draws, the same step key for both passes) with its submodules in eval
        mode (no dropout, BatchNorm running statistics), so the passes compare number for number."""
        torch.manual_seed(0)
        model = MODELS.get(self.name).from_config(self.in_channels, self.seed_batch_config())
        d = ring_graph(f=self.in_channels)
        n = d.num_nodes
        assert accepts_node_batch(model)
        g = torch.Generator().manual_seed(1)
        pos = neg = None
        if model.seed_kind == "edges":
            pos = torch.tensor([[3, 61], [4, 60]])  # two graph edges (3-4, 61-60)
            neg = torch.tensor([[3, 62], [12, 66]])
            seeds = torch.unique(torch.cat([pos, neg], 1))
        else:
            seeds = torch.tensor([3, 4, 12, 62])
        deg = global_degree(d.edge_index, n)
        # One hop more than any model's receptive field here: GCN normalisation needs the
        # degree of the outermost nodes it reads, which only their own in-edges give.
        sub = sample_subgraph(to_csr(d.edge_index, n), seeds, [-1] * self.seed_batch_hops, g)
        assert sub.n_id.numel() < n  # the batch really is a subgraph
        local = None
        if pos is not None:
            local = {int(v): i for i, v in enumerate(sub.n_id[:seeds.numel()])}
            relabel = lambda p: p.clone().apply_(lambda v: local[v])  # noqa: E731 (tiny)
        mini = subgraph_batch(d, sub, seeds.numel(), deg,
                              None if pos is None else relabel(pos), None if neg is None else relabel(neg))
        full = subgraph_batch(d, type(sub)(torch.arange(n), d.edge_index, [n]), 0, deg, pos, neg)
        full.seed_mask = torch.isin(torch.arange(n), seeds)

        def loss_and_grads(batch):
            model.train()
            for m in model.children():
                m.eval()
            model.zero_grad()
            torch.manual_seed(2)  # the same step key (NodeBatch.key) for both passes
            loss = step_loss(model, batch)
            loss.total.backward()
            return loss.total.detach(), {k: p.grad.clone() for k, p in model.named_parameters()
                                         if p.grad is not None}

        l_mini, g_mini = loss_and_grads(mini)
        l_full, g_full = loss_and_grads(full)
        assert torch.allclose(l_mini, l_full, rtol=1e-5, atol=1e-6), (float(l_mini), float(l_full))
        assert g_mini.keys() == g_full.keys() and any(v.abs().sum() > 0 for v in g_full.values())
        for k in g_full:
            assert torch.allclose(g_mini[k], g_full[k], rtol=1e-4, atol=1e-6), k
        if pos is not None:
            return  # a pair loss reads only its pairs
        # The seeds matter: the same loss over all nodes is a different number.
        everyone = subgraph_batch(d, type(sub)(torch.arange(n), d.edge_index, [n]), n, deg, pos, neg)
        torch.manual_seed(2)
        assert not torch.allclose(step_loss(model, everyone).total.detach(), l_full)

    def test_layerwise_inference_matches_full_batch_embedding(self):
        """Chunked layer-wise embedding (graphemb.training.inference) gives the numbers of
        ``model.embed`` on the whole graph."""
        from graphemb.training.inference import embed_nodes_layerwise

        torch.manual_seed(0)
        model = MODELS.get(self.name).from_config(self.in_channels, self.seed_batch_config())
        d = ring_graph(f=self.in_channels)
        model.train()
        for _ in range(2):  # move BatchNorm running stats away from their init
            model.loss(model(d.x, d.edge_index), d.x, d.edge_index).total.backward()
        full = model.embed(d.x, d.edge_index)
        chunked = embed_nodes_layerwise(model, d, chunk_size=7)
        assert chunked.shape == full.shape
        assert torch.allclose(chunked, full, rtol=1e-4, atol=1e-5), float((chunked - full).abs().max())
