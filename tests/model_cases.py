"""Shared test template for every registered model (as PyKEEN's ``tests/cases.py``).

Subclass :class:`ModelCase` in ``tests/test_models.py`` with ``name`` (the ``MODELS`` key) and
``small_config()``; the meta-test there fails when a registered model has no case.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch_geometric.data import Batch, Data

from graphemb.models import MODELS, EmbeddingModel, LossOutput, ModelOutput


def tiny_graph(n: int = 8, f: int = 5, seed: int = 0) -> Data:
    """A ring plus one chord, random features; undirected, no self-loops."""
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    dst = (src + 1) % n
    ei = torch.stack([torch.cat([src, dst, torch.tensor([0, n // 2])]),
                      torch.cat([dst, src, torch.tensor([n // 2, 0])])])
    return Data(x=torch.randn(n, f, generator=g), edge_index=ei)


class ModelCase:
    """Shared checks; subclasses set ``name`` and override :meth:`small_config`."""

    name: ClassVar[str]
    in_channels: ClassVar[int] = 5

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
