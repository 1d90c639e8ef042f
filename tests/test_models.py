"""One test case per registered model (template in tests/model_cases.py) and a meta-test."""
from __future__ import annotations

import pytest
from model_cases import ModelCase

from graphemb.models import MODELS, GAEConfig, IsoCVGAEConfig, VGAEConfig
from graphemb.nn import EncoderConfig


class TestGAE(ModelCase):
    name = "gae"

    def small_config(self):
        return GAEConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, num_layers=2))


class TestVGAE(ModelCase):
    name = "vgae"

    def small_config(self):
        return VGAEConfig(encoder=EncoderConfig(hidden_channels=8, num_layers=1, act_last=True), latent_channels=4)


class TestIsoCVGAE(ModelCase):
    name = "isoc-vgae"

    def small_config(self):
        return IsoCVGAEConfig(encoder=EncoderConfig(hidden_channels=8, num_layers=2, norm="batch", bias=False))


class TestIsoCVGAEGraphSetting(ModelCase):
    """The official graph-level setting: GIN, PairNorm, dropout."""

    name = "isoc-vgae"

    def small_config(self):
        return IsoCVGAEConfig(encoder=EncoderConfig(conv="gin", hidden_channels=8, num_layers=3, norm="pair",
                                                    dropout=0.5, gin_mlp_layers=3, bias=False))


def test_from_config_rejects_another_models_config():
    with pytest.raises(TypeError, match="expects a IsoCVGAEConfig, got VGAEConfig"):
        MODELS.get("isoc-vgae").from_config(5, VGAEConfig())


def _all_cases(cls=ModelCase):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_cases(sub)


def test_every_registered_model_trains_on_seed_batches():
    """The seed mini-batch contract (graphemb.models.base.NodeBatch) holds for every model:
    each takes ``nb`` and so runs the per-model equivalence check of the template."""
    from graphemb.models.base import accepts_node_batch

    refusing = sorted(n for n in MODELS.names() if not accepts_node_batch(MODELS.get(n)))
    assert not refusing, f"models whose loss takes no `nb` (seed mini-batches): {refusing}"


def test_every_registered_model_has_a_case():
    covered = {c.name for c in _all_cases()}
    missing = sorted(set(MODELS.names()) - covered)
    assert not missing, f"registered models without a test case in tests/test_models.py: {missing}"


# --- self-supervised model zoo (issue 8); behaviour tests in tests/test_models_zoo.py ------------
from graphemb.models import BGRLConfig, DGIConfig, GraphMAE2Config, GraphMAEConfig, MaskGAEConfig  # noqa: E402


class TestGraphMAE(ModelCase):
    name = "graphmae"

    def small_config(self):
        return GraphMAEConfig(encoder=EncoderConfig(conv="gat", hidden_channels=8, heads=2, act="prelu",
                                                    act_last=True, dropout=0.2, dropout_position="before"),
                              replace_rate=0.25)


class TestGraphMAEGraphLevel(ModelCase):
    name = "graphmae"

    def small_config(self):
        return GraphMAEConfig(encoder=EncoderConfig(conv="gin", hidden_channels=8, num_layers=2, norm="batch",
                                                    act="prelu", act_last=True), decoder="gin", gamma=2.0)


class TestGraphMAE2(ModelCase):
    name = "graphmae2"

    def small_config(self):
        return GraphMAE2Config(encoder=EncoderConfig(conv="gat", hidden_channels=8, heads=2, act="prelu",
                                                     act_last=True), projector_channels=6, remask="random",
                               num_remask=2, momentum=0.9)


class TestMaskGAE(ModelCase):
    name = "maskgae"
    seed_batch_hops = 7  # receptive field 2, +1 GCN normalisation, +3 walk length, +1

    def small_config(self):
        return MaskGAEConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, norm="batch", act="elu",
                                                   act_last=True, dropout=0.5, dropout_position="before"),
                             decoder_channels=6)


class TestMaskGAEEdge(ModelCase):
    name = "maskgae"

    def small_config(self):
        return MaskGAEConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, act_last=True),
                             mask="edge", decoder_channels=6, l2_normalize=False)


class TestBGRL(ModelCase):
    name = "bgrl"

    def small_config(self):
        return BGRLConfig(encoder=EncoderConfig(hidden_channels=8, out_channels=4, norm="batch", act="prelu",
                                                act_last=True), predictor_channels=6)


class TestDGI(ModelCase):
    name = "dgi"

    def small_config(self):
        return DGIConfig(encoder=EncoderConfig(hidden_channels=8, num_layers=1, act="prelu", act_last=True))
