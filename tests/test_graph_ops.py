"""Per-graph precomputed operators (graphemb.nn.graph_ops): the cached full-batch path gives the
losses and gradients of the per-step path, on hand-built graphs."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import GCNConv

from graphemb.config import TrainConfig
from graphemb.data.synthetic import make_sbm
from graphemb.models import MODELS, InvGNNDecoder, IsoCVGAE, IsoCVGAEConfig, gaussian_kl_to_unit_var
from graphemb.nn import EncoderConfig, GNNEncoder
from graphemb.nn import graph_ops as go
from graphemb.nn.graph_ops import GraphOps, SparseOperator
from graphemb.training import trainer
from graphemb.training.sampling import step_loss


def _undirected(pairs):
    e = torch.tensor(pairs).t()
    return torch.cat([e, e.flip(0)], 1)


# 5 nodes: 0-1, 1-2, 1-3, 2-3, a self loop on 2, a parallel copy of 0->1, node 4 isolated
GRAPH = torch.cat([_undirected([[0, 1], [1, 2], [1, 3], [2, 3]]), torch.tensor([[2, 0], [2, 1]])], 1)


def test_mean_operator_and_degree_by_hand():
    ops = GraphOps.build(torch.eye(5), GRAPH)
    # closed neighbourhood, the self loop replaced by one, the parallel edge 0->1 counted twice
    expected = torch.tensor([[1 / 2, 1 / 2, 0, 0, 0], [2 / 5, 1 / 5, 1 / 5, 1 / 5, 0],
                             [0, 1 / 3, 1 / 3, 1 / 3, 0], [0, 1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 0, 0, 1]])
    assert torch.allclose(ops.mean.matrix.to_dense(), expected)
    assert torch.allclose(ops.mean.transpose.to_dense(), expected.t())
    assert torch.equal(ops.degree, torch.tensor([1.0, 4.0, 2.0, 2.0, 0.0]))
    assert torch.allclose(ops.x_mean, expected)  # x = I: the cached mean of the features


def test_gcn_operator_is_gcnconv_propagation():
    torch.manual_seed(0)
    conv = GCNConv(3, 2)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(5, 3)
    ops = GraphOps.build(x, GRAPH)
    from graphemb.nn.encoders import gcn_with_ops

    assert torch.allclose(gcn_with_ops(conv, x, ops.gcn), conv(x, GRAPH), atol=1e-6)


def test_sparse_operator_gradient_is_the_transpose_product():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, generator=g) * (torch.rand(4, 3, generator=g) < 0.5)
    h = torch.randn(3, 2, generator=g, requires_grad=True)
    h2 = h.detach().clone().requires_grad_()
    dy = torch.randn(4, 2, generator=g)
    SparseOperator.from_dense(a).mm(h).backward(dy)
    (a @ h2).backward(dy)
    assert torch.allclose(h.grad, h2.grad, atol=1e-6)


def _isoc(in_ch=6, seed=0):
    torch.manual_seed(seed)
    enc = GNNEncoder(in_ch, EncoderConfig(hidden_channels=5, num_layers=2, out_channels=4, norm="batch", bias=True))
    return IsoCVGAE(enc, InvGNNDecoder([in_ch] + enc.layer_channels))


def _loss_and_grads(model, x, ei, ops):
    torch.manual_seed(1)  # the decoder's eps
    model.zero_grad(set_to_none=True)
    out = model(x, ei, ops=ops)
    loss = model.loss(out, x, ei, ops=ops)
    loss.total.backward()
    return loss.total.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.parametrize("sparse_below", [0.0, 1.0])  # dense features, then sparse features
def test_isoc_vgae_with_ops_equals_per_step_path(sparse_below):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 6, generator=g) * (torch.rand(5, 6, generator=g) < 0.3)  # sparse-ish features
    model = _isoc().train()
    ops = GraphOps.build(x, GRAPH, sparse_below=sparse_below)
    assert (ops.features is not None) == (sparse_below > 0)
    ref_loss, ref = _loss_and_grads(model, x, GRAPH, None)
    loss, got = _loss_and_grads(model, x, GRAPH, ops)
    assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.allclose(got[k], ref[k], rtol=1e-4, atol=1e-5), k


@pytest.mark.parametrize("sparse_below", [0.0, 1.0])
def test_dgi_with_ops_equals_per_step_path(sparse_below):
    """DGI's positive and corrupted passes both use the graph's GCN operator; the shuffled rows
    are another tensor, so only the positive pass may use the sparse features."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 6, generator=g) * (torch.rand(5, 6, generator=g) < 0.3)
    torch.manual_seed(0)
    model = MODELS.get("dgi").from_config(6, MODELS.get("dgi").Config(
        encoder=EncoderConfig(conv="gcn", hidden_channels=4, num_layers=1, act="prelu", act_last=True))).train()
    assert trainer.accepts_graph_ops(model)
    ops = GraphOps.build(x, GRAPH, sparse_below=sparse_below)
    ref_loss, ref = _loss_and_grads(model, x, GRAPH, None)
    loss, got = _loss_and_grads(model, x, GRAPH, ops)
    assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for k in ref:
        assert torch.allclose(got[k], ref[k], rtol=1e-4, atol=1e-5), k


def test_encoder_without_ops_equals_pygs_gcnconv(monkeypatch):
    """The per-call GCN operator reproduces PyG's GCNConv on what gcn_norm treats specially: an
    existing self loop (kept, not doubled), a parallel edge (counted twice), a one-way edge and
    an isolated node; outputs and every gradient."""
    import graphemb.nn.encoders as enc_mod

    ei = torch.tensor([[0, 1, 0, 1, 2, 2, 3, 1], [1, 0, 1, 0, 2, 3, 2, 3]])  # 5: isolated
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g)
    torch.manual_seed(0)
    enc = GNNEncoder(4, EncoderConfig(conv="gcn", hidden_channels=5, num_layers=2, out_channels=3, act="relu"))

    def run():
        enc.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        out = enc(xi, ei)
        (out[0].sum() + (out[-1] ** 2).sum()).backward()
        return [h.detach() for h in out], xi.grad, {k: p.grad.clone() for k, p in enc.named_parameters()}

    got = run()
    monkeypatch.setattr(enc_mod, "_gcn_ops", lambda conv: False)  # PyG's own propagate
    ref = run()
    for a, b in zip(got[0], ref[0]):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(got[1], ref[1], atol=1e-6)
    for k in ref[2]:
        assert torch.allclose(got[2][k], ref[2][k], atol=1e-5), k


def test_sparse_features_equal_dense_features_on_cora_density():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 30, generator=g) < 0.013).float()  # Cora's 1.3 % non-zeros
    ei = _undirected([[i, (i + 1) % 40] for i in range(40)] + [[0, 20]])
    model = _isoc(in_ch=30).train()
    assert go.feature_density(x) < go.SPARSE_FEATURES_BELOW
    dense_loss, dense = _loss_and_grads(model, x, ei, GraphOps.build(x, ei, sparse_below=0.0))
    sparse_ops = GraphOps.build(x, ei)
    assert sparse_ops.features is not None
    sparse_loss, sparse = _loss_and_grads(model, x, ei, sparse_ops)
    assert torch.allclose(sparse_loss, dense_loss, rtol=1e-6)
    for k in dense:
        assert torch.allclose(sparse[k], dense[k], rtol=1e-4, atol=1e-5), k  # bias before BatchNorm: grad ~0


def test_features_of_another_tensor_are_not_used():
    x = torch.randn(5, 6)
    ops = GraphOps.build(x, GRAPH, sparse_below=1.0)
    other = x + 1.0  # same shape, different values: the cached pieces must not stand in for it
    assert ops.features_of(other) is None
    assert torch.allclose(ops.neighbourhood_mean(other), ops.mean.matrix.to_dense() @ other, atol=1e-6)


def test_ops_of_another_graph_are_refused():
    x = torch.randn(5, 6)
    ops = GraphOps.build(x, GRAPH)
    model = _isoc()
    with pytest.raises(ValueError, match="GraphOps built for a graph of 5 nodes"):
        model(torch.randn(4, 6), GRAPH[:, :4], ops=ops)


def test_fused_kl_mean_equals_elementwise():
    g = torch.Generator().manual_seed(0)
    mu, logstd, m = (torch.randn(7, 3, generator=g) for _ in range(3))
    assert torch.allclose(gaussian_kl_to_unit_var(mu, logstd, m, std=logstd.exp()),
                          gaussian_kl_to_unit_var(mu, logstd, m), atol=1e-6)


def test_fit_builds_the_operators_once_and_matches_the_uncached_run(monkeypatch):
    d = make_sbm(num_nodes=40, feature_dim=6, seed=0)
    calls = []
    build = GraphOps.build.__func__
    monkeypatch.setattr(GraphOps, "build", classmethod(lambda cls, *a, **k: calls.append(1) or build(cls, *a, **k)))

    def run(graph_ops):
        torch.manual_seed(0)
        model = MODELS.get("isoc-vgae").from_config(6, IsoCVGAEConfig(encoder=EncoderConfig(hidden_channels=8)))
        res = trainer.fit(model, d, TrainConfig(epochs=4, lr=1e-3, progress=False, graph_ops=graph_ops))
        return [h["loss"] for h in res.history]

    cached = run(True)
    assert len(calls) == 1  # once per graph, not once per step
    plain = run(False)
    assert len(calls) == 1
    assert cached == pytest.approx(plain, rel=1e-5)


def test_step_loss_passes_ops_only_to_models_that_take_them():
    d = make_sbm(num_nodes=20, feature_dim=4, seed=0)
    gae = MODELS.get("gae").from_config(4, MODELS.get("gae").Config())
    assert not trainer.accepts_graph_ops(gae)
    assert trainer.graph_ops_for(gae, d, TrainConfig()) is None
    isoc = MODELS.get("isoc-vgae").from_config(4, IsoCVGAEConfig(encoder=EncoderConfig(hidden_channels=8)))
    ops = trainer.graph_ops_for(isoc, d, TrainConfig())
    assert isinstance(ops, GraphOps)
    assert trainer.graph_ops_for(isoc, d, TrainConfig(num_neighbors=[2])) is None  # a new subgraph every step
    assert torch.isfinite(step_loss(isoc, d, None, ops=ops).total)
