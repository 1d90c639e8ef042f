"""The trimmed encoder pass over hop-ordered sampled subgraphs (graphemb.nn.sampled)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from graphemb.data.synthetic import make_sbm
from graphemb.models import MODELS
from graphemb.models.base import NodeBatch
from graphemb.nn import EncoderConfig, GNNEncoder
from graphemb.nn.sampled import HopLayout, encode_sampled
from graphemb.training.sampling import global_degree, sample_subgraph, subgraph_batch, to_csr


def _batch(fanout=(4, 3), n=400, seeds=16, f=6):
    data = make_sbm(num_nodes=n, avg_degree=8, feature_dim=f, num_classes=3, seed=0)
    sub = sample_subgraph(to_csr(data.edge_index, n), torch.arange(0, n, n // seeds)[:seeds], list(fanout),
                          torch.Generator().manual_seed(0))
    return data, sub, subgraph_batch(data, sub, seeds, global_degree(data.edge_index, n))


def test_sampler_orders_edges_by_the_hop_of_their_target():
    _, sub, b = _batch()
    lay = NodeBatch.from_data(b).layout
    assert lay.nodes == tuple(sub.num_sampled_nodes) and sum(lay.edges) == sub.edge_index.size(1)
    for h in range(lay.hops):  # block h of the edge list = the edges into the hop-h nodes
        dst = sub.edge_index[1, lay.edges_into(h - 1):lay.edges_into(h)]
        assert bool((dst >= lay.nodes_within(h - 1)).all() and (dst < lay.nodes_within(h)).all())


@pytest.mark.parametrize("conv", ["gcn", "sage", "gin", "gat"])
@pytest.mark.parametrize("reach", [0, 1])
def test_trimmed_rows_equal_the_full_pass_over_the_subgraph(conv, reach):
    _, sub, b = _batch()
    lay = NodeBatch.from_data(b).layout
    torch.manual_seed(0)
    enc = GNNEncoder(6, EncoderConfig(conv=conv, hidden_channels=8, num_layers=2, norm="batch", heads=2,
                                      act_last=True)).eval()
    full = enc(b.x, b.edge_index)
    part = encode_sampled(enc, b.x, b.edge_index, lay, reach=reach)
    for l, (f, p) in enumerate(zip(full, part), start=1):
        rows = lay.nodes_within(reach + 2 - l)
        assert p.shape == (rows, 8) and rows < b.num_nodes or reach + 2 - l >= lay.hops
        assert torch.allclose(p, f[:p.size(0)], atol=1e-5), (conv, l)
    assert part[-1].size(0) == lay.nodes_within(reach) < b.num_nodes  # the last layer really is trimmed


def test_isoc_vgae_trimmed_step_is_the_untrimmed_step_and_reads_few_rows():
    """The sampled IsoC-VGAE step with the hop layout (encoder trimmed, neighbourhood means over
    the seeds' in-edges only) gives the loss and gradients of the same step over the whole
    subgraph (full fan-out, one hop more than the encoder reads, so that both normalise GCN by
    the true degrees); h^2 is computed at the seeds only, h^1 within one hop."""
    _, _, b = _batch(fanout=(-1, -1, -1), n=2000, seeds=4)
    cfg = MODELS.get("isoc-vgae").Config()
    cfg = dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, hidden_channels=8))
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(6, cfg)
    nb = NodeBatch.from_data(b)

    def run(nb):
        model.train()
        for m in model.children():
            m.eval()
        model.zero_grad()
        out = model(b.x, b.edge_index, nb=nb)
        loss = model.loss(out, b.x, b.edge_index, nb=nb)
        loss.total.backward()
        return out, loss.total.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    out_t, l_t, g_t = run(nb)
    out_u, l_u, g_u = run(dataclasses.replace(nb, layout=None))
    assert [h.size(0) for h in out_t.layers] == [nb.layout.nodes_within(1), nb.layout.num_seeds]
    assert all(h.size(0) == b.num_nodes for h in out_u.layers)
    assert torch.allclose(l_t, l_u, rtol=1e-5)
    for k in g_u:
        assert torch.allclose(g_t[k], g_u[k], rtol=1e-4, atol=1e-6), k


def test_a_layout_that_does_not_fit_the_subgraph_is_refused():
    _, _, b = _batch()
    enc = GNNEncoder(6, EncoderConfig(hidden_channels=8))
    with pytest.raises(ValueError, match="HopLayout"):
        encode_sampled(enc, b.x, b.edge_index[:, :-1], NodeBatch.from_data(b).layout)
    with pytest.raises(ValueError, match="edge count per expanded hop"):
        HopLayout.of([3, 4], [1, 2])


def _gcn(layers=2, act_last=False):
    torch.manual_seed(0)
    return GNNEncoder(6, EncoderConfig(conv="gcn", hidden_channels=8, num_layers=layers, norm="batch",
                                       act_last=act_last)).eval()


def test_full_graph_degrees_make_a_full_fanout_batch_of_L_hops_the_full_graph_pass():
    """With the full graph's degrees, L hops at full fan-out give the full graph's h^L at the
    seeds; the subgraph's own normalisation (outermost nodes of degree 0) does not."""
    data, sub, b = _batch(fanout=(-1, -1))
    lay = NodeBatch.from_data(b).layout
    enc = _gcn()
    truth = enc(data.x, data.edge_index)[-1][sub.n_id[:lay.num_seeds]]
    fixed = encode_sampled(enc, b.x, b.edge_index, lay, degree=b.global_degree)[-1]
    assert torch.allclose(fixed, truth, atol=1e-5)
    assert not torch.allclose(encode_sampled(enc, b.x, b.edge_index, lay)[-1], truth, atol=1e-3)


def test_sampled_gcn_layer_is_an_unbiased_estimate_of_the_full_graphs():
    data = make_sbm(num_nodes=200, avg_degree=12, feature_dim=6, num_classes=3, seed=1)
    csr, deg = to_csr(data.edge_index, 200), global_degree(data.edge_index, 200)
    enc = _gcn(layers=1)
    seeds = torch.arange(0, 200, 10)
    truth = enc(data.x, data.edge_index)[-1][seeds]
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([encode_sampled(enc, b.x, b.edge_index, NodeBatch.from_data(b).layout, degree=b.global_degree)[-1]
                         for b in (subgraph_batch(data, sample_subgraph(csr, seeds, [3], g), seeds.numel(), deg)
                                   for _ in range(400))])
    err = (draws.mean(0) - truth).abs()
    se = draws.std(0) / 20  # standard error of the mean of 400 draws
    assert bool((err <= 5 * se + 1e-6).all()) and float(draws.std(0).mean()) > 0.01  # really random
