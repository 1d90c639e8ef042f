"""graphemb.nn: encoders (every layer returned, really nonlinear), norms, MLP, readouts."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphemb.nn import MLP, EncoderConfig, GNNEncoder, graph_readout, link_readout, node_readout, resolve_act


def _graph(n: int = 6, f: int = 4, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n - 1)
    ei = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)  # a path
    return Data(x=torch.randn(n, f, generator=g), edge_index=ei)


@pytest.mark.parametrize("conv", ["gcn", "gin", "sage", "gat"])
def test_encoder_returns_every_layer(conv):
    torch.manual_seed(0)
    cfg = EncoderConfig(conv=conv, hidden_channels=8, out_channels=6, num_layers=3, heads=2)
    enc = GNNEncoder(4, cfg)
    d = _graph()
    hs = enc(d.x, d.edge_index)
    assert [h.shape for h in hs] == [(6, 8), (6, 8), (6, 6)]
    assert enc.layer_channels == [8, 8, 6] and enc.out_channels == 6 and enc.num_layers == 3
    # hidden layers pass through ReLU, the last one (act_last=False) does not
    assert all((h >= 0).all() for h in hs[:-1])
    assert (hs[-1] < 0).any()


def test_act_last_applies_activation_to_last_layer():
    torch.manual_seed(0)
    d = _graph()
    enc = GNNEncoder(4, EncoderConfig(hidden_channels=8, num_layers=2, act_last=True))
    assert (enc(d.x, d.edge_index)[-1] >= 0).all()


def test_encoder_is_nonlinear():
    """Without bias, a linear encoder is odd: f(x) + f(-x) = 0. ReLU hidden layers break that
    (the official IsoC-VGAE code loses its ReLU and would pass the control, not the check)."""
    d = _graph(n=8, f=5)
    for act, nonlinear in (("relu", True), ("identity", False)):
        torch.manual_seed(0)
        enc = GNNEncoder(5, EncoderConfig(hidden_channels=16, num_layers=2, bias=False, act=act))
        s = enc(d.x, d.edge_index)[-1] + enc(-d.x, d.edge_index)[-1]
        scale = enc(d.x, d.edge_index)[-1].abs().mean()
        if nonlinear:
            assert s.abs().mean() > 0.1 * scale
        else:
            assert torch.allclose(s, torch.zeros_like(s), atol=1e-5)
    # one fresh activation module per layer, never a shared one
    enc = GNNEncoder(5, EncoderConfig(hidden_channels=4, num_layers=3, act_last=True))
    assert len({id(a) for a in enc.acts}) == 3


@pytest.mark.parametrize("norm", ["pair", "layer"])
def test_graphwise_norms_use_batch(norm):
    """PairNorm / graph-mode LayerNorm normalise per graph: a batch of two graphs equals each
    graph encoded alone (a norm ignoring `batch` would mix the two graphs' statistics)."""
    torch.manual_seed(0)
    enc = GNNEncoder(4, EncoderConfig(hidden_channels=8, num_layers=2, norm=norm)).eval()
    g1, g2 = _graph(5, seed=1), _graph(7, seed=2)
    g2.x = g2.x * 5 + 3
    b = Batch.from_data_list([g1, g2])
    hb = enc(b.x, b.edge_index, b.batch)[0]
    h1, h2 = enc(g1.x, g1.edge_index)[0], enc(g2.x, g2.edge_index)[0]
    assert torch.allclose(hb, torch.cat([h1, h2]), atol=1e-5)
    hb_nobatch = enc(b.x, b.edge_index)[0]
    assert not torch.allclose(hb_nobatch, torch.cat([h1, h2]), atol=1e-3)


def test_encoder_dropout_only_in_training():
    torch.manual_seed(0)
    d = _graph()
    enc = GNNEncoder(4, EncoderConfig(hidden_channels=32, num_layers=2, dropout=0.5, norm="batch"))
    enc.train()
    assert not torch.equal(enc(d.x, d.edge_index)[-1], enc(d.x, d.edge_index)[-1])
    enc.eval()
    assert torch.equal(enc(d.x, d.edge_index)[-1], enc(d.x, d.edge_index)[-1])


def test_encoder_errors_name_the_fix():
    with pytest.raises(ValueError, match="unknown encoder conv"):
        GNNEncoder(4, EncoderConfig(conv="gnc"))
    with pytest.raises(ValueError, match="divisible by heads"):
        GNNEncoder(4, EncoderConfig(conv="gat", hidden_channels=10, heads=3))
    with pytest.raises(ValueError, match="unknown encoder norm"):
        GNNEncoder(4, EncoderConfig(norm="group"))
    with pytest.raises(ValueError, match="in_channels"):
        d = _graph(f=3)
        GNNEncoder(4, EncoderConfig(hidden_channels=4))(d.x, d.edge_index)
    with pytest.raises(ValueError, match="unknown activation"):
        resolve_act("relux")
    assert resolve_act("Leaky_ReLU") is not resolve_act("leaky-relu")


def test_gat_uniform_init_and_attention_dropout():
    """gat_uniform_init: every GATConv starts with attention 1/deg (self loop included) over
    each node's neighbourhood, also after reset_parameters; without it, attention is not uniform.
    gat_attention_dropout reaches GATConv (only active in training)."""
    ei = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])  # star around node 0
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)) * 10
    deg = torch.tensor([4.0, 2.0, 2.0, 2.0])  # in-degree with the self loop GATConv adds
    uniform = lambda a, e: torch.allclose(a, (1.0 / deg[e[1]]).unsqueeze(1).expand_as(a), atol=1e-6)  # noqa: E731
    for flag in (True, False):
        torch.manual_seed(0)
        enc = GNNEncoder(6, EncoderConfig(conv="gat", hidden_channels=8, num_layers=2, heads=2, gat_uniform_init=flag))
        for _ in range(2):
            h = x
            for conv in enc.convs:
                h_next, (e, a) = conv(h, ei, return_attention_weights=True)
                assert uniform(a, e) == flag
                h = h_next
            enc.reset_parameters()
        assert all(c.att_src.requires_grad for c in enc.convs)  # still learned
    enc = GNNEncoder(6, EncoderConfig(conv="gat", hidden_channels=8, heads=2, gat_attention_dropout=0.5))
    assert [c.dropout for c in enc.convs] == [0.5, 0.5]
    with pytest.raises(ValueError, match="gat_attention_dropout"):
        GNNEncoder(6, EncoderConfig(conv="gat", hidden_channels=8, heads=2, gat_attention_dropout=1.0))


def test_gin_eps_one_is_a_self_loop():
    """gin_eps=1: (2 x_i + sum_j x_j), i.e. GIN with eps 0 on the graph plus self loops (what
    GraphMAE's loader feeds its GIN); eps survives reset_parameters and stays fixed."""
    from torch_geometric.utils import add_self_loops

    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    cfg = dict(conv="gin", hidden_channels=5, num_layers=2, norm=None)
    torch.manual_seed(0)
    one = GNNEncoder(4, EncoderConfig(**cfg, gin_eps=1.0)).eval()
    torch.manual_seed(0)
    zero = GNNEncoder(4, EncoderConfig(**cfg)).eval()
    looped = add_self_loops(ei, num_nodes=3)[0]
    assert torch.allclose(one(x, ei)[-1], zero(x, looped)[-1], atol=1e-6)
    assert not torch.allclose(one(x, ei)[-1], zero(x, ei)[-1], atol=1e-3)
    one.reset_parameters()
    assert all(float(c.eps) == 1.0 and not c.eps.requires_grad for c in one.convs)


def test_gat_init_dgl():
    """gat_init="dgl": Xavier-normal weights and attention vectors with gain sqrt(2) (std
    sqrt(2) * sqrt(2 / (fan_in + fan_out)); PyG's Glorot-uniform has std sqrt(2 / (fan_in +
    fan_out))), zero bias, also after reset_parameters; it composes with gat_uniform_init."""
    def stds(enc):
        c = enc.convs[0]
        return c.lin.weight.std().item(), c.att_src.std().item()

    # lin weight [H*F, in] = [1024, 1000]; att_src [1, H, F] = [1, 4, 256]: fans H*F and F
    w_glorot, a_dgl = (2 / (1000 + 1024)) ** 0.5, 2 ** 0.5 * (2 / (1024 + 256)) ** 0.5
    cfg = dict(conv="gat", hidden_channels=1024, num_layers=1, heads=4)
    torch.manual_seed(0)
    pyg = GNNEncoder(1000, EncoderConfig(**cfg))
    assert stds(pyg)[0] == pytest.approx(w_glorot, rel=0.02)
    torch.manual_seed(0)
    dgl = GNNEncoder(1000, EncoderConfig(**cfg, gat_init="dgl"))
    for _ in range(2):
        w, a = stds(dgl)
        assert w == pytest.approx(2 ** 0.5 * w_glorot, rel=0.02) and a == pytest.approx(a_dgl, rel=0.1)
        assert dgl.convs[0].lin.weight.mean().abs() < 1e-3 and not dgl.convs[0].bias.any()
        dgl.convs[0].lin.weight.data.zero_()
        dgl.reset_parameters()
    both = GNNEncoder(1000, EncoderConfig(**cfg, gat_init="dgl", gat_uniform_init=True))
    assert not both.convs[0].att_src.any() and stds(both)[0] == pytest.approx(2 ** 0.5 * w_glorot, rel=0.02)
    with pytest.raises(ValueError, match="gat_init"):
        GNNEncoder(6, EncoderConfig(conv="gat", hidden_channels=8, heads=2, gat_init="glorot"))


def test_mlp():
    torch.manual_seed(0)
    lin = MLP(3, 99, 2, num_layers=1)
    x = torch.randn(5, 3)
    assert torch.allclose(lin(2 * x) - lin(torch.zeros(1, 3)), 2 * (lin(x) - lin(torch.zeros(1, 3))), atol=1e-6)
    m = MLP(3, 8, 2, num_layers=3, norm="batch", bias_last=False)
    assert len(m.lins) == 3 and m.lins[-1].bias is None and m(x).shape == (5, 2)
    m = MLP(3, 8, 2, input_dropout=0.99).train()
    torch.manual_seed(1)
    assert torch.allclose(m(x), m(torch.zeros_like(x)))  # every input dropped
    with pytest.raises(ValueError, match="num_layers"):
        MLP(3, 8, 2, num_layers=0)


def test_node_readout():
    a, b = torch.ones(3, 2), torch.zeros(3, 1)
    assert node_readout([a, b]) is b
    assert torch.equal(node_readout([a, b], "concat"), torch.tensor([[1.0, 1, 0]] * 3))
    with pytest.raises(ValueError, match="unknown node readout"):
        node_readout([a], "sum")


def test_link_readout_hand_computed():
    z = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 5.0]])
    pairs = torch.tensor([[0, 2], [1, 0]])
    assert torch.equal(link_readout(z, pairs), torch.tensor([[3.0, -2.0], [0.0, 10.0]]))
    assert torch.equal(link_readout(z, pairs, "concat"), torch.tensor([[1.0, 2, 3, -1], [0, 5, 1, 2]]))
    assert torch.equal(link_readout(z, pairs, "l1"), torch.tensor([[2.0, 3.0], [1.0, 3.0]]))
    assert torch.equal(link_readout(z, pairs, "l2"), torch.tensor([[4.0, 9.0], [1.0, 9.0]]))
    with pytest.raises(ValueError, match="pairs must have shape"):
        link_readout(z, torch.tensor([[0, 1], [1, 2], [2, 0]]))


def test_graph_readout_hand_computed():
    h1 = torch.tensor([[1.0], [2.0], [3.0], [10.0]])
    h2 = torch.tensor([[0.0], [1.0], [0.0], [-4.0]])
    batch = torch.tensor([0, 0, 0, 1])
    assert torch.equal(graph_readout([h1, h2], batch, "sum"), torch.tensor([[1.0], [-4.0]]))
    assert torch.equal(graph_readout(h1, batch, "mean"), torch.tensor([[2.0], [10.0]]))
    assert torch.equal(graph_readout(h1, batch, "max"), torch.tensor([[3.0], [10.0]]))
    assert torch.equal(graph_readout([h1, h2], batch, "sum", mode="concat"), torch.tensor([[6.0, 1.0], [10.0, -4.0]]))
    assert torch.equal(graph_readout(h1, None, "sum"), torch.tensor([[16.0]]))
    assert graph_readout(h1, batch, "sum", num_graphs=3).shape == (3, 1)
