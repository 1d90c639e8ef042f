"""IsoC-VGAE: isomorphic-consistent variational graph auto-encoder with an Inv-GNN decoder.

Paper: "Isomorphic-Consistent Variational Graph Auto-Encoders for Multi-Level Graph
Representation Learning", arXiv 2312.05519; official code github.com/upperr/IsoC-VGAE.

Encoder ``h^0 = x``, ``h^l = GNN_l(h^{l-1}, A)`` (l = 1..L). The Inv-GNN decoder walks
top-down, l = L..1::

    mu^l       = f_self,l(h^l) + g_l(z^{l+1})        (no g at the top layer l = L)
    log sig^l  = f_std,l(h^l)
    z^l        = mu^l + eps * exp(log sig^l)         (z^l has the width of h^{l-1})

and per layer: self loss ``MSE(h^{l-1}, z^l)``; neighbourhood loss
``KL(N(mu^l, sig^l^2) || N(m^{l-1}, I))`` with ``m^{l-1}_v`` the mean of ``h^{l-1}`` over
``{v} ∪ N(v)``; degree loss ``MSE(ReLU(f_deg,l(h^l)), deg)``.
Total ``= lam_self * mean_l(self) + lam_neighbor * mean_l(KL) + lam_degree * mean_l(degree)``.

Matches the official code in: MLP sizes (f_self, f_std, g: 3 linear layers of width ``d_l``
with BatchNorm, output bias off; f_deg: 4 linear layers), targets not detached, KL averaged
over nodes *and* dimensions, the degree target (number of neighbours, self-loops excluded),
the sampling ``z = mu + eps * exp(logstd)``, ``lambda = (1, 0.1, 1)`` and the degree heads'
own learning rate (1e-2). Deliberate differences: neighbourhood means are one scatter op
instead of a Python loop over nodes; the encoder's hidden activation is really applied (the
official late-binding lambda makes every layer linear); ``logstd`` is clamped at 10 (as PyG's
VGAE) to keep ``exp`` finite; in eval mode the decoder uses ``z^l = mu^l`` (no sampling).

Embeddings are taken in eval mode, after training (dropout off, BatchNorm with its running
statistics; :meth:`IsoCVGAE.embed`). This differs from the official scripts, which keep
``h^L`` of the train-mode forward pass that computed the best epoch's loss (dropout on,
BatchNorm with that pass's batch statistics, weights from before that epoch's update).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import remove_self_loops, scatter

from graphemb.augment import mask_node_features
from graphemb.config import check
from graphemb.models.base import MODELS, EmbeddingModel, LossOutput, ModelOutput, NodeBatch, draws_of
from graphemb.models.gae import check_config
from graphemb.nn.encoders import EncoderConfig, GNNEncoder
from graphemb.nn.mlp import MLP

if TYPE_CHECKING:
    from graphemb.nn.graph_ops import GraphOps

MAX_LOGSTD = 10.0


# --------------------------------------------------------------------------- pure pieces
def neighbourhood_mean(h: Tensor, edge_index: Tensor, num_nodes: Optional[int] = None,
                       degree: Optional[Tensor] = None) -> Tensor:
    r"""Mean of ``h`` over each node's closed neighbourhood: :math:`m_v = \frac{1}{|N(v)|+1}
    (h_v + \sum_{u \in N(v)} h_u)`, with ``N(v) = {u : (u, v) in edge_index}`` (in-neighbours;
    for the undirected graphs of this library the same as out-neighbours).

    One scatter over the edge list with exactly one self-loop per node (existing self-loops
    are replaced; parallel edges count with multiplicity). Works unchanged on a mini-batch of
    graphs (a disconnected union). Memory ``O(E * d)``.

    With ``degree`` (the full-graph degree ``|N(v)|``, for a sampled subgraph whose
    ``edge_index`` holds a uniform sample ``S(v)`` of each seed's neighbours) it returns
    :math:`\hat m_v = (h_v + |N(v)| \cdot \mathrm{mean}_{u \in S(v)} h_u) / (|N(v)| + 1)`,
    an unbiased estimate of ``m_v`` (a uniform sample's mean is unbiased for the neighbour mean),
    exact when ``S(v) = N(v)``.

    ``num_nodes`` smaller than ``h.size(0)``: the means of the first ``num_nodes`` rows only
    (``edge_index`` then holds only edges into them; sources may be any row of ``h``), e.g. the
    seeds of a sampled subgraph, whose in-edges come first.

    Shapes: ``h [N, d]``, ``edge_index [2, E]``, ``degree [n]`` -> ``[n, d]`` (``n = num_nodes``).
    """
    n = h.size(0) if num_nodes is None else num_nodes
    ei, _ = remove_self_loops(edge_index)
    shape = (-1,) + (1,) * (h.dim() - 1)
    total = scatter(h[ei[0]], ei[1], dim=0, dim_size=n, reduce="sum")
    count = torch.bincount(ei[1], minlength=n).to(h.dtype).view(shape)
    if degree is None:  # the self term added directly: no edge list with self loops is built
        return (h[:n] + total) / (count + 1)
    d = degree.to(h.dtype).view(shape)
    return (h[:n] + d * total / count.clamp(min=1)) / (d + 1)  # nothing sampled: total = 0


def gaussian_kl_to_unit_var(mu: Tensor, logstd: Tensor, m: Tensor, reduction: str = "mean",
                            std: Optional[Tensor] = None) -> Tensor:
    r""":math:`KL(N(\mu, \sigma^2) \| N(m, 1)) = \tfrac12(\sigma^2 + (\mu - m)^2 - 1 - 2\log\sigma)`
    element-wise.

    Args:
        reduction: ``"mean"`` (default; over nodes and dimensions, as the official code),
            ``"sum"`` or ``"none"`` (``[N, d]``).
        std: ``exp(logstd)`` when the caller has it. The ``"mean"`` reduction is then computed
            term by term, :math:`\tfrac12(\|\sigma\|^2/n + \mathrm{MSE}(\mu, m) - 1 - 2\,
            \mathrm{mean}(\log\sigma))`, three fused passes over ``[N, d]`` instead of nine
            (forward and backward), the same value up to float rounding.
    """
    if reduction == "mean" and std is not None:
        n = mu.numel()
        return 0.5 * (torch.linalg.vector_norm(std).pow(2) / n + F.mse_loss(mu, m) - 1.0 - 2 * logstd.mean())
    kl = 0.5 * (torch.exp(2 * logstd) + (mu - m).pow(2) - 1.0 - 2 * logstd)
    if reduction == "mean":
        return kl.mean()
    if reduction == "sum":
        return kl.sum()
    if reduction == "none":
        return kl
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def degree_target(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Number of neighbours of each node (entries with the node as target, self-loops
    excluded; isolated nodes 0), as float ``[N]`` — the official ``adj_t.sum(0)``."""
    from graphemb.nn.graph_ops import node_degree

    return node_degree(edge_index, num_nodes)


# --------------------------------------------------------------------------- decoder
@dataclass
class DecoderLayer:
    """What the Inv-GNN decoder produced at layer ``level`` (``l``; reconstructs ``h^{l-1}``).

    ``mu``, ``logstd``, ``z``: ``[N, d_{l-1}]``; ``degree``: ``[N]`` (after ReLU); ``std``:
    ``exp(logstd)``.
    """

    level: int
    mu: Tensor
    logstd: Tensor
    z: Tensor
    degree: Tensor
    std: Optional[Tensor] = None


class InvGNNDecoder(nn.Module):
    r"""Inv-GNN decoder of IsoC-VGAE, top-down over l = L..1 (see module docstring).

    Args:
        channels: ``[d_0, d_1, ..., d_L]``, the widths of ``h^0 = x .. h^L``.
        mlp_layers: linear layers of f_self, f_std and g (default ``3``; hidden width ``d_l``).
        degree_mlp_layers: linear layers of f_deg (default ``4``).
        norm: norm inside the MLPs (default ``"batch"``, as the official code; or ``None``).
        act: MLP activation (default ``"relu"``).

    ``forward(layers)`` takes ``[h^1 .. h^L]`` and returns ``L`` :class:`DecoderLayer` records in
    visiting order (``records[0]`` is l = L). Samples ``eps`` only in training mode.
    Parameters: ``f_self[l-1]``, ``f_std[l-1]``, ``f_deg[l-1]`` for l = 1..L; ``g[l-1]`` for
    l = 1..L-1 (``g_l``: ``d_l -> d_{l-1}``, consumes ``z^{l+1}``).
    """

    def __init__(self, channels: Sequence[int], mlp_layers: int = 3, degree_mlp_layers: int = 4,
                 norm: Optional[str] = "batch", act: str = "relu") -> None:
        super().__init__()
        channels = list(channels)
        if len(channels) < 2:
            raise ValueError(f"channels must list d_0..d_L (at least two widths), got {channels}")
        self.channels = channels
        L = len(channels) - 1

        def mlp(d_in: int, d_out: int, layers: int) -> MLP:
            return MLP(d_in, d_in, d_out, num_layers=layers, act=act, norm=norm, bias_last=False)

        self.f_self = nn.ModuleList(mlp(channels[l], channels[l - 1], mlp_layers) for l in range(1, L + 1))
        self.f_std = nn.ModuleList(mlp(channels[l], channels[l - 1], mlp_layers) for l in range(1, L + 1))
        self.g = nn.ModuleList(mlp(channels[l], channels[l - 1], mlp_layers) for l in range(1, L))
        self.f_deg = nn.ModuleList(mlp(channels[l], 1, degree_mlp_layers) for l in range(1, L + 1))

    @property
    def num_layers(self) -> int:
        return len(self.channels) - 1

    def forward(self, layers: Sequence[Tensor]) -> List[DecoderLayer]:
        L = self.num_layers
        if len(layers) != L:
            raise ValueError(f"decoder built for {L} layers got {len(layers)}; the encoder's "
                             "num_layers must match the decoder's channels")
        records: List[DecoderLayer] = []
        z_above: Optional[Tensor] = None
        for l in range(L, 0, -1):
            h = layers[l - 1]
            mu = self.f_self[l - 1](h)
            if z_above is not None:
                mu = mu + self.g[l - 1](z_above)
            logstd = self.f_std[l - 1](h).clamp(max=MAX_LOGSTD)
            std = logstd.exp()
            z = torch.addcmul(mu, torch.randn_like(mu), std) if self.training else mu  # mu + eps * std
            deg = F.relu(self.f_deg[l - 1](h)).squeeze(-1)
            records.append(DecoderLayer(level=l, mu=mu, logstd=logstd, z=z, degree=deg, std=std))
            z_above = z
        return records


# --------------------------------------------------------------------------- model
@dataclass
class IsoCVGAEConfig:
    """IsoC-VGAE hyperparameters; defaults follow the official node/link scripts.

    Attributes:
        encoder: default 2 x 512 GCN without bias, BatchNorm on the hidden layer, no dropout,
            linear last layer (``train_node.py`` / ``train_link.py``). The official graph
            script uses GIN (3-layer MLPs), PairNorm and dropout 0.5.
        lam_self, lam_neighbor, lam_degree: loss weights, default ``(1, 0.1, 1)``.
        lr_degree: learning rate of the degree heads f_deg (default ``1e-2``), see
            :meth:`IsoCVGAE.param_groups`; the official scripts use ``5e-6`` for the rest.
        decoder_mlp_layers: linear layers of f_self / f_std / g (default ``3``).
        degree_mlp_layers: linear layers of f_deg (default ``4``).
        decoder_norm: norm inside decoder MLPs (default ``"batch"``).
        detach_targets: stop gradients through the reconstruction targets ``h^{l-1}`` and
            their neighbourhood means (default ``False``, as the official code).
        mask_rate: graphemb extension, not in the paper (default ``0.0``, off): in training the
            encoder reads the input features with this share of the nodes replaced by a
            learnable ``[MASK]`` token (GraphMAE's masking,
            :func:`graphemb.augment.mask_node_features`), while the first decoder layer still
            reconstructs the unmasked ``x``, its neighbourhood means and the degrees. Embeddings
            are always taken on unmasked features.
    """

    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(conv="gcn", hidden_channels=512, num_layers=2,
                                              norm="batch", bias=False, act_last=False)
    )
    lam_self: float = field(default=1.0, metadata=check(ge=0))
    lam_neighbor: float = field(default=0.1, metadata=check(ge=0))
    lam_degree: float = field(default=1.0, metadata=check(ge=0))
    lr_degree: float = field(default=1e-2, metadata=check(gt=0))
    decoder_mlp_layers: int = field(default=3, metadata=check(ge=1))
    degree_mlp_layers: int = field(default=4, metadata=check(ge=1))
    decoder_norm: Optional[str] = "batch"
    detach_targets: bool = False
    mask_rate: float = field(default=0.0, metadata=check(ge=0, lt=1))


class IsoCVGAE(EmbeddingModel):
    r"""IsoC-VGAE (arXiv 2312.05519): GNN encoder + Inv-GNN decoder (see module docstring).

    Node embedding ``z = h^L`` (deterministic given the encoder); graph embeddings pool it
    (``graphemb.nn.readout.graph_readout``, sum as the official code). One graph and a
    mini-batch of graphs (``batch`` vector) go through the same code.

    Args:
        encoder: a :class:`GNNEncoder` (``layer_channels`` gives ``d_1..d_L``).
        decoder: an :class:`InvGNNDecoder` with ``channels = [d_0, d_1, .., d_L]``.
        lam_self, lam_neighbor, lam_degree, lr_degree, detach_targets, mask_rate: see
            :class:`IsoCVGAEConfig` (``enc_mask_token`` ``[1, F]`` exists only when
            ``mask_rate > 0``).

    ``extras["decoder"]``: list of :class:`DecoderLayer`, top-down (l = L first).
    """

    Config: ClassVar[type] = IsoCVGAEConfig

    def __init__(self, encoder: GNNEncoder, decoder: InvGNNDecoder, lam_self: float = 1.0,
                 lam_neighbor: float = 0.1, lam_degree: float = 1.0, lr_degree: float = 1e-2,
                 detach_targets: bool = False, mask_rate: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= mask_rate < 1.0:
            raise ValueError(f"isoc-vgae mask_rate must be in [0, 1), got {mask_rate}; 0 turns input masking off")
        expected = [encoder.in_channels] + list(encoder.layer_channels)
        if list(decoder.channels) != expected:
            raise ValueError(f"decoder channels {decoder.channels} do not match the encoder's "
                             f"[in, d_1..d_L] = {expected}; build InvGNNDecoder({expected})")
        self.encoder = encoder
        self.decoder = decoder
        self.lam_self, self.lam_neighbor, self.lam_degree = lam_self, lam_neighbor, lam_degree
        self.lr_degree = lr_degree
        self.detach_targets = detach_targets
        self.mask_rate = mask_rate
        if mask_rate > 0:
            self.enc_mask_token = nn.Parameter(torch.zeros(1, encoder.in_channels))

    @classmethod
    def from_config(cls, in_channels: int, cfg: Optional[IsoCVGAEConfig] = None) -> "IsoCVGAE":
        cfg = cfg if cfg is not None else IsoCVGAEConfig()
        check_config(cls, cfg)
        encoder = GNNEncoder(in_channels, cfg.encoder)
        decoder = InvGNNDecoder([in_channels] + encoder.layer_channels, mlp_layers=cfg.decoder_mlp_layers,
                                degree_mlp_layers=cfg.degree_mlp_layers, norm=cfg.decoder_norm,
                                act=cfg.encoder.act)
        return cls(encoder, decoder, lam_self=cfg.lam_self, lam_neighbor=cfg.lam_neighbor,
                   lam_degree=cfg.lam_degree, lr_degree=cfg.lr_degree, detach_targets=cfg.detach_targets,
                   mask_rate=cfg.mask_rate)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                nb: Optional[NodeBatch] = None, ops: Optional["GraphOps"] = None) -> ModelOutput:
        """Encoder over the whole (sub)graph; with a seed mini-batch ``nb`` the decoder runs on
        the seeds only (``extras["on_seeds"]``), the only nodes the loss reads. When ``nb`` has a
        hop layout (a sampled subgraph), layer ``l`` is computed only within ``L - l`` hops of
        the seeds (:func:`graphemb.nn.sampled.encode_sampled`, GCN with the full graph's
        degrees): ``h^L`` at the seeds, ``h^{l}`` where the seeds' neighbourhood means of the
        targets read it; ``layers[l]`` then holds a prefix of the subgraph's rows (seeds first).
        ``ops``: the graph's precomputed :class:`~graphemb.nn.graph_ops.GraphOps` (full batch;
        same result). With ``mask_rate > 0`` the encoder reads masked features in training
        (the loss still reconstructs the unmasked ``x`` it is given)."""
        on_seeds = nb is not None
        if self.training and self.mask_rate > 0:
            x = mask_node_features(x, self.enc_mask_token, self.mask_rate, 0.0, draws_of(nb)).x
        if on_seeds and nb.layout is not None:
            from graphemb.nn.sampled import encode_sampled

            layers = encode_sampled(self.encoder, x, edge_index, nb.layout, degree=nb.degree)
            s = nb.layout.num_seeds
            records = self.decoder([h[:s] for h in layers])
        else:
            layers = self.encoder(x, edge_index, batch, ops=ops)
            records = self.decoder([h[nb.seed_mask] for h in layers] if on_seeds else layers)
        return ModelOutput(z=layers[-1], layers=layers, extras={"decoder": records, "on_seeds": on_seeds})

    @torch.no_grad()
    def embed(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        """``h^L`` in eval mode (the decoder is not run)."""
        was_training = self.training
        self.eval()
        try:
            return self.encoder(x, edge_index, batch)[-1].detach()
        finally:
            self.train(was_training)

    def loss(self, out: ModelOutput, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
             nb: Optional[NodeBatch] = None, ops: Optional["GraphOps"] = None) -> LossOutput:
        """Full batch: means over all nodes (degree targets and neighbourhood means from
        ``ops`` when given, else from ``edge_index``). Seed mini-batch ``nb``: means over the
        seeds, the degree target is the full-graph degree ``nb.degree`` and the neighbourhood
        means are the unbiased sampled estimate of :func:`neighbourhood_mean` (exact at full
        fan-out)."""
        n = x.size(0)
        hs = [x] + list(out.layers)
        if nb is None and ops is not None:
            ops.check(x, edge_index)
            deg = ops.degree.to(x.dtype)
        elif nb is None:
            deg = degree_target(edge_index, n).to(x.dtype)
        else:
            deg = nb.degree.to(x.dtype)[nb.seed_mask]
        self_l, kl_l, deg_l = [], [], []
        for rec in out.extras["decoder"]:
            target = hs[rec.level - 1]
            if self.detach_targets and target.requires_grad:
                target = target.detach()
            if nb is None:
                m = ops.neighbourhood_mean(target) if ops is not None else neighbourhood_mean(target, edge_index, n)
                self_l.append(F.mse_loss(rec.z, target))
                kl_l.append(gaussian_kl_to_unit_var(rec.mu, rec.logstd, m, std=rec.std))
                deg_l.append(F.mse_loss(rec.degree, deg))
                continue
            if nb.layout is not None and out.extras.get("on_seeds"):  # seeds = first rows, edges into them first
                s = nb.layout.num_seeds
                m = neighbourhood_mean(target, edge_index[:, :nb.layout.edges_into(0)], s, degree=nb.degree[:s])
                self_l.append(F.mse_loss(rec.z, target[:s]))
                kl_l.append(gaussian_kl_to_unit_var(rec.mu, rec.logstd, m))
                deg_l.append(F.mse_loss(rec.degree, deg))
                continue
            m = neighbourhood_mean(target, edge_index, n, degree=nb.degree)[nb.seed_mask]
            sel = (lambda t: t) if out.extras.get("on_seeds") else (lambda t: t[nb.seed_mask])
            self_l.append(F.mse_loss(sel(rec.z), target[nb.seed_mask]))
            kl_l.append(gaussian_kl_to_unit_var(sel(rec.mu), sel(rec.logstd), m))
            deg_l.append(F.mse_loss(sel(rec.degree), deg))
        s, k, d = (torch.stack(v).mean() for v in (self_l, kl_l, deg_l))
        total = self.lam_self * s + self.lam_neighbor * k + self.lam_degree * d
        return LossOutput(total=total, parts={"self": float(s.detach()), "neighbor": float(k.detach()),
                                              "degree": float(d.detach())})

    def param_groups(self, lr: float, lr_degree: Optional[float] = None) -> List[Dict[str, Any]]:
        """Two optimiser groups: everything but the degree heads at ``lr``; the degree heads
        ``decoder.f_deg`` at ``lr_degree`` (default: the model's ``lr_degree``, 1e-2)."""
        deg_ids = {id(p) for p in self.decoder.f_deg.parameters()}
        base = [p for p in self.parameters() if p.requires_grad and id(p) not in deg_ids]
        degp = [p for p in self.decoder.f_deg.parameters() if p.requires_grad]
        return [{"params": base, "lr": lr, "name": "base"},
                {"params": degp, "lr": self.lr_degree if lr_degree is None else lr_degree, "name": "degree"}]


MODELS.register("isoc-vgae", IsoCVGAE)
