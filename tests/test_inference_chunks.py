"""Layer-wise inference (graphemb.training.inference): chunks bounded in nodes and in edges."""
from __future__ import annotations

import pytest
import torch

from graphemb.data.synthetic import make_sbm
from graphemb.models import MODELS, GAEConfig
from graphemb.nn import EncoderConfig
from graphemb.training import inference
from graphemb.training.sampling import to_csr


def test_node_ranges_cover_the_nodes_within_both_bounds():
    d = make_sbm(num_nodes=300, avg_degree=6, feature_dim=2, seed=0, degree_exponent=2.5)  # a few hubs
    rowptr = to_csr(d.edge_index, 300).rowptr
    ranges = list(inference._node_ranges(rowptr, 300, chunk=40, max_edges=15))
    assert ranges[0][0] == 0 and ranges[-1][1] == 300 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    for s, e in ranges:
        edges = int(rowptr[e] - rowptr[s])
        assert e - s <= 40 and (edges <= 15 or e - s == 1)  # a hub over the bound gets a range alone
    assert any(int(rowptr[e] - rowptr[s]) > 15 for s, e in ranges)  # the hub case did occur


@pytest.mark.parametrize("conv", ["gat", "gcn"])
def test_edge_bounded_chunks_give_the_full_batch_embedding(conv, monkeypatch):
    monkeypatch.setattr(inference, "MAX_CHUNK_EDGES", 17)
    d = make_sbm(num_nodes=120, avg_degree=5, feature_dim=6, seed=3)
    torch.manual_seed(0)
    model = MODELS.get("gae").from_config(6, GAEConfig(encoder=EncoderConfig(
        conv=conv, hidden_channels=8, num_layers=2, heads=2 if conv == "gat" else 1, norm="batch")))
    full = model.embed(d.x, d.edge_index)
    assert torch.allclose(inference.embed_nodes_layerwise(model, d, chunk_size=1000), full, rtol=1e-4, atol=1e-5)
