"""Behaviour of the self-supervised zoo (GraphMAE, GraphMAE2, MaskGAE, BGRL, DGI): checks a
wrong implementation fails (loss on the right nodes/edges, hand-computed values, EMA targets)."""
from __future__ import annotations

import math

import pytest
import torch
from model_cases import tiny_graph

from graphemb.models import (
    MODELS,
    BGRLConfig,
    DGIConfig,
    GraphMAE2Config,
    GraphMAEConfig,
    MaskGAEConfig,
    sce_loss,
)
from graphemb.augment import mask_node_features
from graphemb.nn import EncoderConfig


def _make(name, cfg, f=5, seed=0):
    torch.manual_seed(seed)
    return MODELS.get(name).from_config(f, cfg)


def test_sce_loss_hand_computed():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([[1.0, 1.0], [0.0, 5.0]])  # cos = 1/sqrt(2) and 1
    expected = ((1 - 1 / math.sqrt(2)) ** 3 + 0.0) / 2
    assert float(sce_loss(x, y, gamma=3)) == pytest.approx(expected)
    assert float(sce_loss(x, y, gamma=1)) == pytest.approx((1 - 1 / math.sqrt(2)) / 2)


def test_mask_node_features_token_and_noise_counts():
    torch.manual_seed(0)
    x = torch.arange(1.0, 41.0).view(20, 2)
    token = torch.tensor([[100.0, -100.0]])
    m = mask_node_features(x, token, mask_rate=0.5, replace_rate=0.2)  # 10 masked: 8 token, 2 noise
    assert m.mask_nodes.numel() == 10 and m.keep_nodes.numel() == 10
    assert m.token_nodes.numel() == 8 and m.noise_nodes.numel() == 2
    assert set(m.token_nodes.tolist()) | set(m.noise_nodes.tolist()) == set(m.mask_nodes.tolist())
    assert torch.equal(m.x[m.token_nodes], token.expand(8, -1))  # zeroed, then + token
    assert torch.equal(m.x[m.keep_nodes], x[m.keep_nodes])
    rows = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in rows for r in m.x[m.noise_nodes].tolist())  # some node's real features


def _graphmae_cfg(**kw):
    return GraphMAEConfig(encoder=EncoderConfig(conv="gat", hidden_channels=8, heads=2, act="prelu", act_last=True),
                          replace_rate=0.0, **kw)


def test_graphmae_loss_only_on_masked_nodes_and_matches_sce():
    model = _make("graphmae", _graphmae_cfg(gamma=2.0)).train()
    d = tiny_graph(n=10, f=5)
    out = model(d.x, d.edge_index)
    idx = out.extras["mask_nodes"]
    assert idx.numel() == 5
    loss = model.loss(out, d.x, d.edge_index).total
    recon = out.extras["recon"]
    assert float(loss) == pytest.approx(float(sce_loss(recon[idx], d.x[idx], 2.0)), rel=1e-6)
    keep = torch.ones(10, dtype=torch.bool)
    keep[idx] = False
    changed = recon.detach().clone()
    changed[keep] = 123.0  # unmasked reconstructions do not count
    out.extras["recon"] = changed
    assert float(model.loss(out, d.x, d.edge_index).total) == pytest.approx(float(loss), rel=1e-6)
    changed[idx[0]] = -d.x[idx[0]]  # a masked one does
    assert float(model.loss(out, d.x, d.edge_index).total) != pytest.approx(float(loss), rel=1e-6)


def test_graphmae_encoder_sees_the_mask_token_not_the_features():
    model = _make("graphmae", _graphmae_cfg()).train()
    d = tiny_graph(n=10, f=5)
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        model.enc_mask_token.fill_(7.0)
    out = model(d.x, d.edge_index)
    idx = out.extras["mask_nodes"]
    assert torch.equal(seen[0][idx], torch.full((idx.numel(), 5), 7.0))
    model.eval()
    model(d.x, d.edge_index)
    assert torch.equal(seen[1], d.x)  # no masking at embedding time


def _ema_check(model, online, target, momentum_at_step):
    t0 = [p.detach().clone() for p in target.parameters()]
    o = [p.detach().clone() for p in online.parameters()]
    model.after_step(0, 10)
    m = momentum_at_step
    for a, b, t in zip(t0, o, target.parameters()):
        assert torch.allclose(t, m * a + (1 - m) * b, atol=1e-6)


def test_graphmae2_target_has_no_gradient_and_follows_ema():
    cfg = GraphMAE2Config(encoder=EncoderConfig(conv="gat", hidden_channels=8, heads=2, act="prelu", act_last=True),
                          projector_channels=6, momentum=0.5)
    model = _make("graphmae2", cfg).train()
    d = tiny_graph(n=10, f=5)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    out = model(d.x, d.edge_index)
    model.loss(out, d.x, d.edge_index).total.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.target_encoder.parameters())
    assert out.extras["latent_target"].shape[0] == 10 - out.extras["mask_nodes"].numel()  # kept nodes
    opt.step()  # online moves away from the target
    _ema_check(model, model.encoder, model.target_encoder, 0.5)
    _ema_check(model, model.projector, model.target_projector, 0.5)


def test_bgrl_target_no_gradient_cosine_momentum():
    cfg = BGRLConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, norm="batch", act="prelu",
                                           act_last=True), predictor_channels=6, momentum=0.9)
    model = _make("bgrl", cfg).train()
    d = tiny_graph(n=10, f=5)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.loss(model(d.x, d.edge_index), d.x, d.edge_index).total.backward()
    assert all(p.grad is None for p in model.target_encoder.parameters())
    opt.step()
    _ema_check(model, model.encoder, model.target_encoder, 0.9)  # step 0: the base momentum
    t = [p.detach().clone() for p in model.target_encoder.parameters()]
    model.after_step(10, 10)  # the schedule reaches 1: the target stops moving
    assert all(torch.equal(a, b) for a, b in zip(t, model.target_encoder.parameters()))


def test_bgrl_loss_is_two_minus_cross_view_cosines():
    cfg = BGRLConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, act_last=True), predictor_channels=6)
    model = _make("bgrl", cfg).train()
    d = tiny_graph(n=10, f=5)
    out = model(d.x, d.edge_index)
    e = out.extras
    cos = torch.nn.functional.cosine_similarity
    expected = 2 - cos(e["q1"], e["y2"]).mean() - cos(e["q2"], e["y1"]).mean()
    assert float(model.loss(out, d.x, d.edge_index).total) == pytest.approx(float(expected), rel=1e-6)


def _pairs(ei):
    return {(min(u, v), max(u, v)) for u, v in ei.t().tolist()}


@pytest.mark.parametrize("mask", ["path", "edge"])
def test_maskgae_never_sees_a_target_edge(mask):
    cfg = MaskGAEConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, act_last=True), mask=mask,
                        decoder_channels=6)
    model = _make("maskgae", cfg).train()
    d = tiny_graph(n=12, f=5)
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    for _ in range(5):
        out = model(d.x, d.edge_index)
        masked, visible = _pairs(out.extras["masked"]), _pairs(seen[-1])
        assert masked and not masked & visible
        assert masked | visible == _pairs(d.edge_index)


def _maskgae_degree_case(**cfg):
    """A trained-mode MaskGAE pass on a tiny graph: the model, the graph, its output, and the
    degree loss computed by hand from ``deg`` (filled by the caller from the targets)."""
    model = _make("maskgae", MaskGAEConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, act_last=True),
                                           decoder_channels=6, alpha=1.0, **cfg)).train()
    d = tiny_graph(n=12, f=5)
    out = model(d.x, d.edge_index)
    pred = model.degree_decoder(out.extras["h"]).view(-1)
    return model, d, out, lambda deg: float(((pred - deg) ** 2).mean())


def test_maskgae_degree_target_and_embedding():
    model, d, out, expected = _maskgae_degree_case(mask="edge")
    pos = out.extras["masked"]
    deg = torch.zeros(12)
    for u, v in pos.t().tolist():
        deg[u] += 1
        deg[v] += 1
    loss = model.loss(out, d.x, d.edge_index)
    assert loss.parts["degree"] == pytest.approx(expected(deg), rel=1e-5)
    z = model.embed(d.x, d.edge_index)
    assert z.shape == (12, 8 + 4)  # every layer concatenated
    assert torch.allclose(z.norm(dim=1), torch.ones(12), atol=1e-5)


def test_maskgae_directed_hiding_degree_target_is_in_degree():
    """``hide="directed"`` (the official bookkeeping): positives are directed walked edges and the
    degree target is their targets' in-degree (``degree(masked_edges[1])`` in the official code)."""
    model, d, out, expected = _maskgae_degree_case(hide="directed")
    pos = out.extras["masked"]
    deg = torch.zeros(12)
    for v in pos[1].tolist():
        deg[v] += 1
    assert model.loss(out, d.x, d.edge_index).parts["degree"] == pytest.approx(expected(deg), rel=1e-5)
    assert _pairs(out.extras["visible"]) | _pairs(pos) == _pairs(d.edge_index)


def test_dgi_loss_is_pyg_deep_graph_infomax():
    model = _make("dgi", DGIConfig(encoder=EncoderConfig(hidden_channels=6, num_layers=1, act="prelu",
                                                         act_last=True))).train()
    d = tiny_graph(n=10, f=5)
    out = model(d.x, d.edge_index)
    s, w = out.extras["summary"], model.dgi.weight
    assert torch.allclose(s, torch.sigmoid(out.z.mean(0)))
    pos = torch.sigmoid(out.z @ (w @ s))
    neg = torch.sigmoid(out.extras["neg_z"] @ (w @ s))
    expected = -torch.log(pos + 1e-15).mean() - torch.log(1 - neg + 1e-15).mean()
    assert float(model.loss(out, d.x, d.edge_index).total) == pytest.approx(float(expected), rel=1e-5)
    assert not torch.allclose(out.extras["neg_z"], out.z)  # corrupted patches differ


# --- seed mini-batches (issue 9 §2): losses on the seeds, draws inside the batch ---------------
from graphemb.models.base import NodeBatch  # noqa: E402
from graphemb.training.sampling import global_degree  # noqa: E402


def _full_nb(d, seeds, pos=None, neg=None, key=5):
    n = d.num_nodes
    return NodeBatch(seed_mask=torch.isin(torch.arange(n), torch.tensor(seeds)), degree=global_degree(d.edge_index, n),
                     num_nodes=n, n_id=torch.arange(n), pos_edge_index=pos, neg_edge_index=neg, key=key)


def test_graphmae_seed_batch_scores_the_masked_seeds_only():
    model = _make("graphmae", _graphmae_cfg(gamma=1.0, mask_rate=0.5)).train()
    d = tiny_graph(n=12, f=5)
    nb = _full_nb(d, [0, 1, 2, 3, 4, 5])
    out = model(d.x, d.edge_index, nb=nb)
    idx = out.extras["mask_nodes"]
    assert torch.equal(idx, torch.nonzero(nb.draws().nodes(12) < 0.5).view(-1))  # keyed Bernoulli mask
    on = idx[idx < 6]
    assert on.numel() and on.numel() < idx.numel()  # masked seeds and masked non-seeds both exist
    loss = model.loss(out, d.x, d.edge_index, nb=nb).total
    assert float(loss) == pytest.approx(float(sce_loss(out.extras["recon"][on], d.x[on], 1.0)), rel=1e-6)
    changed = out.extras["recon"].detach().clone()
    changed[idx[idx >= 6]] = 50.0  # masked nodes outside the seeds do not count
    out.extras["recon"] = changed
    assert float(model.loss(out, d.x, d.edge_index, nb=nb).total) == pytest.approx(float(loss), rel=1e-6)


def test_maskgae_seed_batch_hides_its_targets_and_counts_hidden_degree():
    cfg = MaskGAEConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, act_last=True), mask="edge",
                        p=0.5, decoder_channels=6, decoder_dropout=0.0, alpha=1.0)
    model = _make("maskgae", cfg).train()
    assert model.seed_kind == "edges"
    d = tiny_graph(n=12, f=5)
    pos, neg = torch.tensor([[0, 3], [1, 4]]), torch.tensor([[0, 7], [9, 2]])  # edges 0-1, 3-4
    nb = _full_nb(d, [0, 1, 3, 4, 7, 9, 2], pos, neg)
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    out = model(d.x, d.edge_index, nb=nb)
    visible = _pairs(seen[0])
    assert not visible & {(0, 1), (3, 4)}  # targets never reach the encoder, in either direction
    assert torch.equal(out.extras["masked"], pos)
    # Full fan-out: the hidden degree of a node is the number of its graph edges not visible.
    hidden = _pairs(d.edge_index) - visible
    deg = torch.zeros(12)
    for u, v in hidden:
        deg[u] += 1
        deg[v] += 1
    seeds = nb.seed_mask
    pred = model.degree_decoder(out.extras["h"]).view(-1)
    loss = model.loss(out, d.x, d.edge_index, nb=nb)
    assert loss.parts["degree"] == pytest.approx(float(((pred - deg)[seeds] ** 2).mean()), rel=1e-5)
    h = out.extras["h"]
    score = lambda p: model.score_edges(h, p)  # noqa: E731
    rec = -torch.nn.functional.logsigmoid(score(pos)).mean() - torch.nn.functional.logsigmoid(-score(neg)).mean()
    assert loss.parts["recon"] == pytest.approx(float(rec), rel=1e-5)


def test_dgi_seed_batch_corrupts_with_seed_rows_and_reads_out_the_seeds():
    model = _make("dgi", DGIConfig(encoder=EncoderConfig(hidden_channels=6, num_layers=1, act="prelu",
                                                         act_last=True))).train()
    d = tiny_graph(n=10, f=5)
    seeds = [1, 4, 6]
    nb = _full_nb(d, seeds)
    seen = []
    model.dgi.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    out = model(d.x, d.edge_index, nb=nb)
    rows = {tuple(r) for r in d.x[seeds].tolist()}
    assert all(tuple(r) in rows for r in seen[-1].tolist())  # every corrupted row is some seed's
    s, w, m = out.extras["summary"], model.dgi.weight, nb.seed_mask
    assert torch.allclose(s, torch.sigmoid(out.z[m].mean(0)))
    pos = torch.sigmoid(out.z[m] @ (w @ s))
    neg = torch.sigmoid(out.extras["neg_z"][m] @ (w @ s))
    expected = -torch.log(pos + 1e-15).mean() - torch.log(1 - neg + 1e-15).mean()
    assert float(model.loss(out, d.x, d.edge_index, nb=nb).total) == pytest.approx(float(expected), rel=1e-5)


def test_bgrl_seed_batch_views_differ_and_loss_is_over_seeds():
    cfg = BGRLConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, act_last=True), predictor_channels=6,
                     drop_edge_p_1=0.5, drop_edge_p_2=0.5)
    model = _make("bgrl", cfg).train()
    d = tiny_graph(n=10, f=5)
    nb = _full_nb(d, [2, 3, 8])
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    out = model(d.x, d.edge_index, nb=nb)
    assert _pairs(seen[0]) != _pairs(seen[1]) or seen[0].size(1) != seen[1].size(1)  # two different views
    e, m = out.extras, nb.seed_mask
    cos = torch.nn.functional.cosine_similarity
    expected = 2 - cos(e["q1"][m], e["y2"][m]).mean() - cos(e["q2"][m], e["y1"][m]).mean()
    assert float(model.loss(out, d.x, d.edge_index, nb=nb).total) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("name", ["graphmae", "graphmae2", "maskgae", "bgrl", "dgi"])
def test_zoo_models_train_on_sampled_seed_batches(name):
    from graphemb import api

    run = api.train(name, "synthetic", task="node", overrides=[
        "train.epochs=2", "train.progress=false", "model.encoder.hidden_channels=8", "train.num_neighbors=[3, 2]",
        "train.batch_size=16", "train.sampler=native", "data.options={num_nodes: 48, feature_dim: 6}"]
        + (["model.projector_channels=6"] if name == "graphmae2" else []))
    assert run.embeddings.shape[0] == 48 and torch.isfinite(run.embeddings).all()
    assert all(math.isfinite(h["loss"]) for h in run.train_result.history)
