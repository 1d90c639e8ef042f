"""IsoC-VGAE pieces with hand-computed expectations; Inv-GNN decoder order; gradients."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence
from torch_geometric.data import Batch, Data

from graphemb.models import (
    InvGNNDecoder,
    IsoCVGAE,
    IsoCVGAEConfig,
    degree_target,
    gaussian_kl_to_unit_var,
    neighbourhood_mean,
)
from graphemb.nn import EncoderConfig, GNNEncoder


def _undirected(pairs):
    e = torch.tensor(pairs).t()
    return torch.cat([e, e.flip(0)], 1)


PATH4 = _undirected([[0, 1], [1, 2], [2, 3]])


def test_neighbourhood_mean_includes_self_on_a_path():
    h = torch.tensor([[1.0, 0.0], [2.0, 3.0], [4.0, 0.0], [8.0, 6.0]])
    expected = torch.tensor([[3 / 2, 3 / 2], [7 / 3, 1.0], [14 / 3, 3.0], [6.0, 3.0]])
    assert torch.allclose(neighbourhood_mean(h, PATH4, 4), expected)
    # an existing self-loop is not counted twice; an isolated node is its own mean
    with_loop = torch.cat([PATH4, torch.tensor([[1], [1]])], 1)
    assert torch.allclose(neighbourhood_mean(h, with_loop), expected)
    h5 = torch.cat([h, torch.tensor([[-1.0, 2.0]])])
    assert torch.allclose(neighbourhood_mean(h5, PATH4, 5)[4], torch.tensor([-1.0, 2.0]))


def test_neighbourhood_mean_batch_equals_graphs_alone():
    g1 = Data(x=torch.randn(4, 3), edge_index=PATH4)
    g2 = Data(x=torch.randn(5, 3), edge_index=_undirected([[0, 1], [0, 2], [0, 3], [3, 4]]))
    b = Batch.from_data_list([g1, g2])
    got = neighbourhood_mean(b.x, b.edge_index, b.num_nodes)
    alone = torch.cat([neighbourhood_mean(g.x, g.edge_index, g.num_nodes) for g in (g1, g2)])
    assert torch.allclose(got, alone)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logstd, m = (torch.randn(6, 3, generator=g) for _ in range(3))
    ref = kl_divergence(Normal(mu, logstd.exp()), Normal(m, torch.ones_like(m)))
    assert torch.allclose(gaussian_kl_to_unit_var(mu, logstd, m, "none"), ref, atol=1e-6)
    assert torch.allclose(gaussian_kl_to_unit_var(mu, logstd, m), ref.mean(), atol=1e-6)
    assert torch.allclose(gaussian_kl_to_unit_var(mu, logstd, m, "sum"), ref.sum(), atol=1e-5)
    assert gaussian_kl_to_unit_var(m, torch.zeros_like(m), m) == 0
    with pytest.raises(ValueError, match="reduction"):
        gaussian_kl_to_unit_var(mu, logstd, m, "avg")


def test_degree_target_hand_computed():
    ei = _undirected([[0, 1], [1, 2], [1, 3]])
    ei = torch.cat([ei, torch.tensor([[2], [2]])], 1)  # a self-loop is not a neighbour
    assert torch.equal(degree_target(ei, 5), torch.tensor([1.0, 3.0, 1.0, 1.0, 0.0]))


def _model(num_layers=3, widths=(6, 5, 4), seed=0, **kw) -> IsoCVGAE:
    torch.manual_seed(seed)
    enc = GNNEncoder(7, EncoderConfig(hidden_channels=widths[0], num_layers=num_layers, out_channels=widths[-1],
                                      norm="batch"))
    dec = InvGNNDecoder([7] + enc.layer_channels)
    return IsoCVGAE(enc, dec, **kw)


def _data(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = _undirected([[i, i + 1] for i in range(n - 2)] + [[0, 4]])  # node n-1 isolated
    return torch.randn(n, 7, generator=g), ei


def test_decoder_is_top_down_and_g_consumes_the_layer_above():
    model = _model(num_layers=3, widths=(6, 6, 4)).train()
    x, ei = _data()
    visited, g_inputs = [], {}
    for l, f in enumerate(model.decoder.f_self, start=1):
        f.register_forward_hook(lambda m, i, o, l=l: visited.append(l))
    for l, g in enumerate(model.decoder.g, start=1):
        g.register_forward_hook(lambda m, i, o, l=l: g_inputs.__setitem__(l, i[0]))
    out = model(x, ei)
    recs = out.extras["decoder"]
    assert visited == [3, 2, 1] and [r.level for r in recs] == [3, 2, 1]
    by_level = {r.level: r for r in recs}
    assert set(g_inputs) == {1, 2}
    for l in (1, 2):
        assert g_inputs[l] is by_level[l + 1].z
    # z^l has the width of h^{l-1}: [x, h^1, h^2] = [7, 6, 6]
    assert [by_level[l].z.shape[1] for l in (1, 2, 3)] == [7, 6, 6]
    assert all(r.degree.shape == (10,) and (r.degree >= 0).all() for r in recs)


def test_loss_terms_match_the_definition():
    model = _model(lam_self=1.0, lam_neighbor=0.0, lam_degree=0.0).train()
    x, ei = _data()
    out = model(x, ei)
    hs = [x] + out.layers
    recs = {r.level: r for r in out.extras["decoder"]}
    self_ref = torch.stack([F.mse_loss(recs[l].z, hs[l - 1]) for l in (1, 2, 3)]).mean()
    assert torch.allclose(model.loss(out, x, ei).total, self_ref)
    deg = torch.tensor([2.0, 2, 2, 2, 3, 2, 2, 2, 1, 0])  # path 0..8 plus chord 0-4, node 9 isolated
    deg_ref = torch.stack([F.mse_loss(recs[l].degree, deg) for l in (1, 2, 3)]).mean()
    model.lam_self, model.lam_degree = 0.0, 2.0
    assert torch.allclose(model.loss(out, x, ei).total, 2.0 * deg_ref)


# 4 nodes: 0-1, 1-2, 1-3, 2-3 (both directions) and a self-loop on node 2, which is neither a
# neighbour nor a second copy of the node itself.
SQUARE4 = torch.cat([_undirected([[0, 1], [1, 2], [1, 3], [2, 3]]), torch.tensor([[2], [2]])], 1)
# Closed-neighbourhood averaging operator ({v} ∪ N(v)), rows: {0,1}, {0,1,2,3}, {1,2,3}, {1,2,3}.
SQUARE4_MEAN = torch.tensor([[1 / 2, 1 / 2, 0, 0], [1 / 4, 1 / 4, 1 / 4, 1 / 4],
                             [0, 1 / 3, 1 / 3, 1 / 3], [0, 1 / 3, 1 / 3, 1 / 3]])
SQUARE4_DEGREE = torch.tensor([1.0, 3.0, 2.0, 2.0])  # neighbours, the self-loop not counted


def test_full_loss_with_neighbourhood_term_by_hand():
    """The whole objective with every weight non-zero on a 4-node graph, step by step from the
    model's own outputs (official code: ``kl_normal(mean_posterior, log_std, h_mean)``, the mean
    over the node and its neighbours, degree = neighbours). Guards against the KL taking the
    sample ``z`` instead of ``mu``, against dropping the neighbourhood mean (KL to ``h`` itself),
    and against counting self-loops in the degree target."""
    torch.manual_seed(0)
    enc = GNNEncoder(3, EncoderConfig(hidden_channels=5, num_layers=2, out_channels=4, norm="batch"))
    lam = dict(lam_self=0.5, lam_neighbor=2.0, lam_degree=0.25)
    model = IsoCVGAE(enc, InvGNNDecoder([3, 5, 4]), **lam).train()
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    out = model(x, SQUARE4)
    hs = [x] + out.layers
    self_terms, kl_terms, deg_terms, wrong = [], [], [], {"kl_of_z": [], "kl_to_h": [], "deg_with_loop": []}
    for rec in out.extras["decoder"]:  # l = 2, then l = 1
        h = hs[rec.level - 1]  # the layer this decoder level reconstructs
        m = SQUARE4_MEAN @ h
        var = torch.exp(2 * rec.logstd)
        self_terms.append(((rec.z - h) ** 2).mean())
        kl_terms.append((0.5 * (var + (rec.mu - m) ** 2 - 1 - 2 * rec.logstd)).mean())
        deg_terms.append(((rec.degree - SQUARE4_DEGREE) ** 2).mean())
        wrong["kl_of_z"].append((0.5 * (var + (rec.z - m) ** 2 - 1 - 2 * rec.logstd)).mean())
        wrong["kl_to_h"].append((0.5 * (var + (rec.mu - h) ** 2 - 1 - 2 * rec.logstd)).mean())
        wrong["deg_with_loop"].append(((rec.degree - SQUARE4_DEGREE - torch.tensor([0, 0, 1.0, 0])) ** 2).mean())
    s, k, d = (sum(t).detach() / 2 for t in (self_terms, kl_terms, deg_terms))
    expected = 0.5 * s + 2.0 * k + 0.25 * d

    got = model.loss(out, x, SQUARE4)
    torch.testing.assert_close(got.total, expected, rtol=1e-5, atol=1e-6)
    assert got.parts == pytest.approx({"self": s.item(), "neighbor": k.item(), "degree": d.item()}, rel=1e-5)
    # the graph and the sample are such that each wrong definition moves the total clearly
    for name, alt in wrong.items():
        alt_k = sum(alt) / 2 if name != "deg_with_loop" else k
        alt_d = sum(alt) / 2 if name == "deg_with_loop" else d
        assert abs(float(0.5 * s + 2.0 * alt_k + 0.25 * alt_d - expected)) > 1e-3, name


def test_gradients_reach_every_parameter_group():
    model = _model().train()
    x, ei = _data()
    model.loss(model(x, ei), x, ei).total.backward()
    groups = {"encoder": model.encoder, "f_self": model.decoder.f_self, "f_std": model.decoder.f_std,
              "g": model.decoder.g, "f_deg": model.decoder.f_deg}
    for name, mod in groups.items():
        grads = [p.grad for p in mod.parameters()]
        assert grads and all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_param_groups_give_degree_heads_their_own_lr():
    model = _model(lr_degree=1e-2)
    base, deg = model.param_groups(5e-6)
    assert base["lr"] == 5e-6 and deg["lr"] == 1e-2
    assert {id(p) for p in deg["params"]} == {id(p) for p in model.decoder.f_deg.parameters()}
    assert model.param_groups(1e-3, lr_degree=0.5)[1]["lr"] == 0.5


def test_embed_deterministic_forward_stochastic():
    model = _model().train()
    x, ei = _data()
    z1, z2 = (model(x, ei).extras["decoder"][0].z for _ in range(2))
    assert not torch.allclose(z1, z2)
    assert torch.equal(model.embed(x, ei), model.embed(x, ei))
    model.eval()
    rec = model(x, ei).extras["decoder"][0]
    assert torch.equal(rec.z, rec.mu)
    assert torch.equal(model(x, ei).z, model.embed(x, ei))


def test_detach_targets_stops_gradient_through_targets():
    x, ei = _data()
    for detach in (False, True):
        model = _model(lam_self=1.0, lam_neighbor=0.0, lam_degree=0.0, detach_targets=detach).train()
        # freeze the decoder's path to the encoder: only the targets could carry gradient
        out = model(x, ei)
        for r in out.extras["decoder"]:
            r.z = r.z.detach()
        model.loss(out, x, ei).total.backward()
        g = [p.grad for p in model.encoder.parameters()]
        has_grad = any(gr is not None and float(gr.abs().sum()) > 0 for gr in g)
        assert has_grad is (not detach)


def test_input_masking_feeds_the_encoder_masked_rows_and_reconstructs_the_unmasked_x():
    """mask_rate (graphemb extension): in training the encoder reads x with int(rate N) rows set
    to the [MASK] token (GraphMAE's masking, same RNG draw); the loss's layer-1 targets stay the
    unmasked x; eval-mode embeddings never mask; mask_rate 0 adds no parameter."""
    from graphemb.augment import mask_node_features

    assert not hasattr(_model(), "enc_mask_token")
    x, ei = _data()
    model = _model(mask_rate=0.5).train()
    with torch.no_grad():
        model.enc_mask_token.fill_(3.0)
    torch.manual_seed(7)
    out = model(x, ei)
    torch.manual_seed(7)
    m = mask_node_features(x, model.enc_mask_token, 0.5)
    assert m.mask_nodes.numel() == 5 and torch.all(m.x[m.mask_nodes] == 3.0)
    want = model.encoder(m.x, ei)
    for got, exp in zip(out.layers, want):
        assert torch.allclose(got, exp, atol=1e-6)
    # the self term of layer 1 reconstructs the unmasked x, not the encoder's masked input
    rec1 = next(r for r in out.extras["decoder"] if r.level == 1)
    loss = model.loss(out, x, ei)
    assert loss.parts["self"] == pytest.approx(float(torch.stack(
        [F.mse_loss(r.z, ([x] + list(out.layers))[r.level - 1]) for r in out.extras["decoder"]]).mean()), rel=1e-5)
    assert float(F.mse_loss(rec1.z, x)) != pytest.approx(float(F.mse_loss(rec1.z, m.x)))
    # embeddings: eval mode, unmasked features
    assert torch.allclose(model.embed(x, ei), model.eval().encoder(x, ei)[-1])
    with pytest.raises(ValueError, match="mask_rate must be in"):
        _model(mask_rate=1.0)


def test_mismatched_decoder_is_rejected_with_the_fix():
    enc = GNNEncoder(7, EncoderConfig(hidden_channels=6, num_layers=2))
    with pytest.raises(ValueError, match=r"InvGNNDecoder\(\[7, 6, 6\]\)"):
        IsoCVGAE(enc, InvGNNDecoder([7, 6]))


def test_from_config_defaults_are_the_official_node_setting():
    cfg = IsoCVGAEConfig()
    assert (cfg.lam_self, cfg.lam_neighbor, cfg.lam_degree, cfg.lr_degree) == (1.0, 0.1, 1.0, 1e-2)
    model = IsoCVGAE.from_config(7, cfg)
    assert model.encoder.layer_channels == [512, 512] and model.decoder.channels == [7, 512, 512]
    assert model.decoder.f_self[0].lins[-1].out_features == 7 and len(model.decoder.f_deg[0].lins) == 4
