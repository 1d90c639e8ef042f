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


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("override, key, rule", [
    ("train.epochs=0", "train.epochs", "> 0"),
    ("train.epochs=-5", "train.epochs", "> 0"),
    ("train.lr=0", "train.lr", "> 0"),
    ("train.lr=-1e-3", "train.lr", "> 0"),
    ("train.patience=-1", "train.patience", ">= 0"),
    ("train.batch_size=0", "train.batch_size", "> 0"),
    ("train.weight_decay=-0.1", "train.weight_decay", ">= 0"),
    ("train.checkpoint_every=-1", "train.checkpoint_every", ">= 0"),
    ("train.grad_clip=0", "train.grad_clip", "> 0"),
    ("train.num_neighbors=[10, -2]", "train.num_neighbors[1]", ">= -1"),
    ("model.encoder.hidden_channels=0", "model.encoder.hidden_channels", "> 0"),
    ("model.encoder.hidden_channels=-8", "model.encoder.hidden_channels", "> 0"),
    ("model.encoder.num_layers=0", "model.encoder.num_layers", ">= 1"),
    ("model.encoder.dropout=1.0", "model.encoder.dropout", ">= 0 and < 1"),
    ("model.encoder.dropout=-0.1", "model.encoder.dropout", ">= 0 and < 1"),
    ("model.encoder.conv=gcm", "model.encoder.conv", "one of"),
    ("model.lam_neighbor=-0.1", "model.lam_neighbor", ">= 0"),
    ("model.lr_degree=0", "model.lr_degree", "> 0"),
    ("task.link_val_ratio=0", "task.link_val_ratio", "> 0 and < 1"),
    ("task.link_test_ratio=1.0", "task.link_test_ratio", "> 0 and < 1"),
    ("task.graph_pool=median", "task.graph_pool", "one of"),
])
def test_invalid_values_name_the_key(override, key, rule):
    with pytest.raises(ConfigError) as err:
        build_run_config("isoc-vgae", dataset="Cora", overrides=[override])
    msg = str(err.value)
    assert msg.startswith(f"{key} must be") and rule in msg, msg


def test_rules_hold_for_every_model_and_cross_field_rules_name_the_section():
    from graphemb.models import MODELS

    for name in MODELS.names():
        cfg = build_run_config(name)  # every default is valid
        with pytest.raises(ConfigError, match=r"^train\.epochs must be > 0"):
            build_run_config(name, overrides=["train.epochs=0"])
        assert cfg.train.epochs > 0
    with pytest.raises(ConfigError, match=r"^task: link_val_ratio \+ link_test_ratio must be < 1"):
        build_run_config("gae", overrides=["task.link_val_ratio=0.5", "task.link_test_ratio=0.5"])
    with pytest.raises(ConfigError, match=r"^train: num_neighbors must hold counts > 0"):
        build_run_config("gae", overrides=["train.num_neighbors=[5, 0]"])
    with pytest.raises(ConfigError, match=r"^model\.encoder: gat width 10 is not divisible by heads=4"):
        build_run_config("gae", overrides=["model.encoder.conv=gat", "model.encoder.heads=4",
                                           "model.encoder.hidden_channels=10"])


def test_every_way_of_building_a_run_config_is_validated():
    from dataclasses import replace

    from graphemb.config import TrainConfig
    from graphemb.training.trainer import fit

    cfg = build_run_config("vgae", dataset="Cora")
    with pytest.raises(ConfigError, match=r"^train\.epochs must be > 0, got 0"):
        replace(cfg, train=replace(cfg.train, epochs=0))  # what reproduce does per seed
    bad = cfg.to_dict()
    bad["model"]["encoder"]["dropout"] = 1.5
    with pytest.raises(ConfigError, match=r"^model\.encoder\.dropout must be >= 0 and < 1, got 1.5"):
        run_config_from_dict(bad)  # an edited config.yaml
    with pytest.raises(ConfigError, match=r"^train\.lr must be > 0"):
        fit(None, None, TrainConfig(lr=0.0))  # checked before the model or data are touched


def test_check_metadata_is_generic():
    """A new model's Config gets validation from field metadata and a validate() method alone."""
    from dataclasses import dataclass, field

    from graphemb.config import check, validate

    @dataclass
    class Inner:
        rate: float = field(default=0.5, metadata=check(ge=0, lt=1))
        mode: str = field(default="a", metadata=check(choices=("a", "b")))
        sizes: list = field(default_factory=lambda: [1, 2], metadata=check(gt=0, each=True))
        width: int = None  # type: ignore[assignment]  # None is never checked

    @dataclass
    class NewConfig:
        inner: Inner = field(default_factory=Inner)
        lo: int = 1
        hi: int = 2

        def validate(self):
            if self.lo >= self.hi:
                raise ValueError(f"lo must be < hi, got {self.lo} >= {self.hi}")

    validate(NewConfig(), "model")
    with pytest.raises(ConfigError, match=r"^model\.inner\.rate must be >= 0 and < 1, got 1"):
        validate(NewConfig(inner=Inner(rate=1)), "model")
    with pytest.raises(ConfigError, match=r"^model\.inner\.mode must be one of \['a', 'b'\], got 'c'"):
        validate(NewConfig(inner=Inner(mode="c")), "model")
    with pytest.raises(ConfigError, match=r"^model\.inner\.sizes\[1\] must be > 0, got 0"):
        validate(NewConfig(inner=Inner(sizes=[3, 0])), "model")
    with pytest.raises(ConfigError, match=r"^model\.inner\.rate must be a number >= 0 and < 1, got 'x'"):
        validate(NewConfig(inner=Inner(rate="x")), "model")
    with pytest.raises(ConfigError, match=r"^model: lo must be < hi, got 3 >= 2"):
        validate(NewConfig(lo=3), "model")


@pytest.mark.parametrize("command", ["train", "reproduce"])
def test_cli_config_errors_exit_2_before_anything_runs(command, tmp_path, capsys, monkeypatch):
    from graphemb import api
    from graphemb.cli.main import main

    def no_data(*a, **k):
        raise AssertionError("data were loaded before the config was validated")

    monkeypatch.setattr(api, "load_data", no_data)
    out = ["--out", str(tmp_path / "run")] if command == "train" else []
    code = main([command, "gae", "--dataset", "synthetic", "--set", "model.encoder.hidden_channels=0", *out])
    assert code == 2
    assert "model.encoder.hidden_channels must be > 0, got 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
