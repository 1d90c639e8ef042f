"""Paper presets of the zoo resolve to the official configs, per dataset; validation-edge
checkpoint selection through the API (MaskGAE's protocol)."""
from __future__ import annotations

import pytest
import torch

from graphemb import api
from graphemb.config import build_run_config


def test_graphmae_presets_per_dataset():
    cora = build_run_config("graphmae", dataset="Cora", task="node", preset="paper")
    assert (cora.model.encoder.heads, cora.model.encoder.hidden_channels, cora.model.gamma) == (4, 512, 3.0)
    assert (cora.train.epochs, cora.train.weight_decay, cora.train.lr_schedule) == (1500, 2e-4, "cosine")
    cs = build_run_config("graphmae", dataset="CiteSeer", task="node", preset="paper")
    assert (cs.model.encoder.heads, cs.model.gamma, cs.model.replace_rate, cs.train.epochs) == (2, 1.0, 0.1, 300)
    assert cs.train.weight_decay == 2e-5
    mutag = build_run_config("graphmae", dataset="MUTAG", task="graph", preset="paper")
    assert (mutag.model.encoder.hidden_channels, mutag.model.encoder.num_layers, mutag.train.epochs) == (32, 5, 20)
    assert (mutag.model.decoder, mutag.task.graph_pool, mutag.model.mask_rate) == ("gin", "sum", 0.75)
    prot = build_run_config("graphmae", dataset="PROTEINS", task="graph", preset="paper")
    assert (prot.task.graph_pool, prot.model.encoder.num_layers) == ("max", 3)
    # featureless TU sets: GraphMAE's degree one-hot up to 400; Planetoid rows stay raw (see presets.py)
    assert cora.data.options == {} and cs.data.options == {}
    assert build_run_config("graphmae", dataset="IMDB-BINARY", task="graph", preset="paper").data.options == \
        {"degree_cap": 400}
    assert mutag.data.options == {} and prot.data.options == {}
    assert build_run_config("graphmae", dataset="Amazon-Computers", task="node", preset="paper").data.options == {}
    # an override still wins over the dataset preset
    o = build_run_config("graphmae", dataset="CiteSeer", task="node", preset="paper", overrides=["train.epochs=7"])
    assert o.train.epochs == 7


def test_bgrl_and_maskgae_presets():
    from graphemb.models.maskgae import MaskGAEConfig
    comp = build_run_config("bgrl", dataset="Amazon-Computers", task="node", preset="paper")
    assert (comp.model.encoder.hidden_channels, comp.model.encoder.out_channels, comp.train.lr) == (256, 128, 5e-4)
    assert (comp.train.warmup_epochs, comp.train.epochs) == (1000, 10000)
    cs = build_run_config("bgrl", dataset="Coauthor-CS", task="node", preset="paper")
    assert (cs.model.encoder.hidden_channels, cs.train.lr, cs.model.drop_feat_p_2) == (512, 1e-5, 0.4)
    node = build_run_config("maskgae", dataset="Cora", task="node", preset="paper")
    assert (node.train.select_by, node.task.link_val_ratio, node.model.alpha) == ("val", 0.1, 0.004)
    link = build_run_config("maskgae", dataset="Cora", task="link", preset="paper")
    assert (link.model.alpha, link.task.link_val_ratio, link.train.select_by) == (0.003, 0.05, "val")
    assert (link.model.encoder.num_layers, link.model.encoder.out_channels, link.model.decoder_channels,
            link.model.walk_length, link.model.start) == (1, 128, 64, 2, "edge")
    assert build_run_config("maskgae", dataset="Cora", task="node", preset="paper").model.start == "node"
    for task in ("node", "link"):  # official bookkeeping in `paper`, both directions hidden in `default`
        assert build_run_config("maskgae", dataset="Cora", task=task, preset="paper").model.hide == "directed"
        assert build_run_config("maskgae", dataset="Cora", task=task, preset="default").model.hide == "pair"
    with pytest.raises(ValueError, match="path masking only"):
        MaskGAEConfig(mask="edge", hide="directed").augmentor()


def test_graphmae2_citeseer_preset_is_the_official_config():
    """THUDM/GraphMAE2 configs/citeseer.yaml, merged over the Cora preset."""
    c = build_run_config("graphmae2", dataset="CiteSeer", task="node", preset="paper")
    assert (c.model.encoder.heads, c.model.encoder.hidden_channels, c.model.replace_rate, c.model.gamma,
            c.model.momentum, c.model.lam) == (4, 1024, 0.0, 1.0, 1.0, 0.1)
    assert (c.train.lr, c.train.weight_decay, c.train.epochs, c.train.lr_schedule) == (5e-4, 1e-4, 500, "cosine")
    cora = build_run_config("graphmae2", dataset="Cora", task="node", preset="paper")
    assert (cora.model.encoder.heads, cora.model.momentum, cora.train.epochs) == (8, 0.0, 2000)


def _small_maskgae():
    return ["model.encoder.hidden_channels=8", "model.encoder.out_channels=4", "model.decoder_channels=4",
            "train.epochs=4", "train.val_every=1", "train.select_by=val"]


def test_maskgae_link_val_selection_restores_best_auc(tmp_path):
    run = api.train("maskgae", "synthetic", task="link", preset="paper", seed=0,
                    overrides=_small_maskgae() + ["data.options={num_nodes: 60}"])
    res = run.train_result
    scores = [h["val_score"] for h in res.history]
    assert res.best_val_epoch == 1 + max(range(len(scores)), key=scores.__getitem__)
    assert res.best_val_score == pytest.approx(max(scores))
    # the restored model scores exactly the best validation AUC again
    from sklearn.metrics import roc_auc_score

    s, d = run.split, run.split.train_data
    pos, neg = (run.model.link_scores(d.x, d.edge_index, e) for e in (s.val_pos, s.val_neg))
    auc = roc_auc_score([1] * pos.numel() + [0] * neg.numel(), torch.cat([pos, neg]).numpy())
    assert auc == pytest.approx(res.best_val_score)


@pytest.mark.parametrize("preset,pretrain", [("default", "train_edges"), ("paper", "full")])
def test_maskgae_node_task_pretrain_graph_and_full_graph_embeddings(preset, pretrain):
    """``task.node_pretrain``: graphemb's default trains on the link split's training edges; the
    paper preset trains on every edge (MaskGAE ``--full_data``). Both embed the full graph and
    both keep the validation edges to select checkpoints."""
    over = _small_maskgae() + ["data.options={num_nodes: 60}"]
    cfg = build_run_config("maskgae", dataset="synthetic", task="node", preset=preset, overrides=over)
    assert cfg.task.node_pretrain == pretrain
    run = api.train("maskgae", "synthetic", task="node", preset=preset, seed=0, overrides=over)
    full = run.dataset.data
    train_input, split = api.prepare_training_input(run.config, run.dataset)
    assert split is not None and split.val_pos.size(1) > 0
    assert split.train_data.edge_index.size(1) < full.edge_index.size(1)
    want = full if pretrain == "full" else split.train_data
    assert torch.equal(train_input.edge_index, want.edge_index)
    assert torch.allclose(run.embeddings, run.model.embed(full.x, full.edge_index))


def test_maskgae_path_start_reaches_the_augmentor():
    """``model.start`` picks the path-masking roots: ``edge`` (official link script) walks from
    the sources of a ``p`` share of the edges, ``node`` from ``round(p N)`` sampled nodes. On a
    star whose edges all leave the hub, at ``p = 0.5`` an edge-started draw masks nothing only
    when no edge is chosen (1/8), a node-started one whenever the hub is not a root (1/2)."""
    from graphemb.models.maskgae import MaskGAEConfig
    assert MaskGAEConfig().augmentor().start == "node"
    ei = torch.tensor([[0, 0, 0], [1, 2, 3]])  # hub 0 -> leaves, one direction only
    x = torch.ones(4, 1)
    torch.manual_seed(0)
    empty = {}
    for start in ("edge", "node"):
        aug = MaskGAEConfig(start=start, p=0.5, walk_length=1).augmentor()
        assert aug.start == start
        empty[start] = sum(aug(x, ei).masked_edges.size(1) == 0 for _ in range(200))
    assert 5 <= empty["edge"] <= 50 and 70 <= empty["node"] <= 130
    with pytest.raises(ValueError, match="start"):
        MaskGAEConfig(start="root").augmentor()
