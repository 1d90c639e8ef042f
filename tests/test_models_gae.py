"""GAE / VGAE: decoder, batch-aware negatives, VGAE extras and KL, training lowers recon loss."""
from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence
from torch_geometric.data import Batch, Data
from torch_geometric.utils import stochastic_blockmodel_graph

from graphemb.models import GAE, VGAE, GAEConfig, InnerProductDecoder, VGAEConfig
from graphemb.models.gae import recon_loss, sample_negatives
from graphemb.nn import EncoderConfig, GNNEncoder


def test_inner_product_decoder_hand_computed():
    z = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]])
    ei = torch.tensor([[0, 1], [1, 2]])
    dec = InnerProductDecoder()
    assert torch.equal(dec(z, ei, sigmoid=False), torch.tensor([1.0, -0.5]))
    assert torch.allclose(dec(z, ei), torch.sigmoid(torch.tensor([1.0, -0.5])))
    full = dec.forward_all(z, sigmoid=False)
    assert full.shape == (3, 3) and full[0, 1] == 1.0 and full[2, 2] == 0.25


def test_batched_negatives_stay_inside_graphs():
    torch.manual_seed(0)
    ring = lambda n: torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])  # noqa: E731
    b = Batch.from_data_list([Data(edge_index=ring(5), num_nodes=5), Data(edge_index=ring(6), num_nodes=6)])
    neg = sample_negatives(b.edge_index, b.num_nodes, b.batch)
    assert neg.numel() > 0 and torch.equal(b.batch[neg[0]], b.batch[neg[1]])


def test_recon_loss_matches_bce():
    z = torch.tensor([[1.0, 0.0], [0.5, 0.5], [-1.0, 2.0]])
    pos, neg = torch.tensor([[0], [1]]), torch.tensor([[0], [2]])
    # pos score 0.5, neg score -1.0
    expected = -torch.log(torch.sigmoid(torch.tensor(0.5))) - torch.log(1 - torch.sigmoid(torch.tensor(-1.0)))
    assert torch.allclose(recon_loss(InnerProductDecoder(), z, pos, neg), expected)


def test_vgae_extras_and_kl():
    torch.manual_seed(0)
    model = VGAE.from_config(4, VGAEConfig(encoder=EncoderConfig(hidden_channels=8, num_layers=1, act_last=True),
                                           latent_channels=3)).train()
    x, ei = torch.randn(5, 4), torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 1, 4]])
    out = model(x, ei)
    assert set(out.extras) == {"z", "mu", "logstd"} and out.z is out.extras["z"]
    assert not torch.allclose(out.z, out.extras["mu"])  # sampled in training
    mu, logstd = out.extras["mu"], out.extras["logstd"]
    ref = kl_divergence(Normal(mu, logstd.exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1).mean()
    assert torch.allclose(VGAE.kl_loss(mu, logstd), ref, atol=1e-5)
    assert torch.equal(model.embed(x, ei), model.eval()(x, ei).extras["mu"])
    # default kl weight 1/N: total = recon + kl / 5 (recon resampled, so compare through parts)
    torch.manual_seed(1)
    loss = model.train().loss(out, x, ei)
    assert torch.allclose(loss.total, torch.tensor(loss.parts["recon"] + loss.parts["kl"] / 5), atol=1e-5)


def test_edge_free_graph_is_a_clear_error():
    model = GAE(GNNEncoder(3, EncoderConfig(hidden_channels=4, num_layers=1)))
    x, ei = torch.randn(4, 3), torch.empty(2, 0, dtype=torch.long)
    with pytest.raises(ValueError, match="has none"):
        model.loss(model(x, ei), x, ei)


def _sbm():
    torch.manual_seed(0)
    ei = stochastic_blockmodel_graph([15, 15], torch.tensor([[0.5, 0.02], [0.02, 0.5]]))
    x = torch.eye(30)
    neg = sample_negatives(ei, 30)
    return x, ei, neg


@pytest.mark.parametrize("name", ["gae", "vgae"])
def test_recon_loss_decreases_on_sbm(name):
    x, ei, neg = _sbm()
    torch.manual_seed(0)
    if name == "gae":
        model = GAE.from_config(30, GAEConfig(encoder=EncoderConfig(hidden_channels=16, out_channels=8)))
    else:
        model = VGAE.from_config(30, VGAEConfig(encoder=EncoderConfig(hidden_channels=16, num_layers=1,
                                                                      act_last=True), latent_channels=8))

    def fixed_recon() -> float:
        return float(recon_loss(model.decoder, model.embed(x, ei), ei, neg))

    before = fixed_recon()
    opt = torch.optim.Adam(model.param_groups(0.05))
    model.train()
    for _ in range(30):
        opt.zero_grad()
        model.loss(model(x, ei), x, ei).total.backward()
        opt.step()
    after = fixed_recon()
    assert after < 0.8 * before, (before, after)
