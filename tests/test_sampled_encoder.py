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
    subgraph; h^2 is computed at the seeds only, h^1 within one hop."""
    _, _, b = _batch(fanout=(5, 3))
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
