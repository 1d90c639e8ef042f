"""Config resolution: defaults -> preset -> YAML -> --set, strict keys, saved round trip."""
from __future__ import annotations

import pytest

from graphemb.config import ConfigError, build_run_config, parse_override, run_config_from_dict, save_yaml


def test_parse_override_types():
    assert parse_override("train.lr=5e-6") == {"train": {"lr": 5e-6}}
    assert parse_override("train.epochs=3") == {"train": {"epochs": 3}}
    assert parse_override("model.encoder.norm=null") == {"model": {"encoder": {"norm": None}}}
    assert parse_override("train.num_neighbors=[10, 5]") == {"train": {"num_neighbors": [10, 5]}}
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("train.lr")


def test_layering_order(tmp_path):
    cfg = build_run_config("isoc-vgae", dataset="Cora", task="node", preset="paper")
    # paper preset over the model defaults
    assert cfg.train.lr == 5e-6 and cfg.train.epochs == 30 and cfg.train.weight_decay == 3e-4
    assert cfg.model.lr_degree == 1e-2 and cfg.model.encoder.hidden_channels == 512
    # YAML over preset, --set over YAML
    f = tmp_path / "c.yaml"
    save_yaml({"model": {"name": "isoc-vgae", "encoder": {"hidden_channels": 64}}, "train": {"epochs": 7},
               "preset": "paper"}, f)
    cfg = build_run_config(config_file=f, overrides=["train.epochs=9"])
    assert cfg.model.encoder.hidden_channels == 64
    assert cfg.model.encoder.conv == "gcn"  # untouched keys keep the model's defaults
    assert cfg.train.epochs == 9 and cfg.train.lr == 5e-6


def test_graph_level_preset_differs():
    cfg = build_run_config("isoc-vgae", dataset="MUTAG", task="graph", preset="paper")
    assert cfg.model.encoder.conv == "gin" and cfg.model.encoder.norm == "pair"
    assert cfg.model.encoder.dropout == 0.5 and cfg.train.batch_size == 64


def test_unknown_keys_and_values_are_named():
    with pytest.raises(ConfigError, match="hidden_chanels"):
        build_run_config("isoc-vgae", overrides=["model.encoder.hidden_chanels=3"])
    with pytest.raises(ConfigError, match="expected an integer"):
        build_run_config("isoc-vgae", overrides=["train.epochs=many"])
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build_run_config("nope")
    with pytest.raises(KeyError, match="unknown preset"):
        build_run_config("isoc-vgae", preset="fastest")
    with pytest.raises(ConfigError, match="unknown task"):
        build_run_config("isoc-vgae", task="edge")


def test_saved_config_round_trip():
    cfg = build_run_config("vgae", dataset="Cora", task="link", overrides=["train.epochs=11"])
    again = run_config_from_dict(cfg.to_dict())
    assert again == cfg
