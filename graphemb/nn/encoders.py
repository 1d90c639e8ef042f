"""GNN encoder stacks that return every layer's output ``h^1 .. h^L``.

The Inv-GNN decoder of IsoC-VGAE (arXiv 2312.05519) reconstructs every layer, so encoders here
return the whole list rather than only ``h^L``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, List, Optional

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv

from graphemb.config import check
from graphemb.nn.graph_ops import gcn_operator
from graphemb.nn.mlp import MLP
from graphemb.nn.norm import NORMS, PAIR_NORM_MODES, make_norm, norm_takes_batch, resolve_act

if TYPE_CHECKING:
    from graphemb.nn.graph_ops import GraphOps, SparseOperator

CONVS = ("gcn", "gin", "sage", "gat")
GAT_INITS = ("pyg", "dgl")


@dataclass
class EncoderConfig:
    """Hyperparameters of :class:`GNNEncoder` (YAML / ``--set encoder.x=...`` fill this).

    Attributes:
        conv: ``"gcn"`` (Kipf & Welling 2017), ``"gin"`` (Xu et al. 2019), ``"sage"`` (Hamilton
            et al. 2017) or ``"gat"`` (Velickovic et al. 2018). Default ``"gcn"``.
        hidden_channels: width of every layer (default ``512``, the IsoC-VGAE setting).
        num_layers: number of message-passing layers ``L`` (default ``2``).
        out_channels: width of the last layer; ``None`` (default) = ``hidden_channels``.
        norm: ``None`` (default), ``"batch"``, ``"layer"`` (graph mode) or ``"pair"``.
        dropout: dropout after every hidden layer's activation (default ``0.0``).
        act: activation name (default ``"relu"``), see :func:`graphemb.nn.norm.resolve_act`.
        act_last: whether the last layer also gets norm / act / dropout. Default ``False``: the
            IsoC-VGAE encoder's last layer is linear (no norm, no activation), so ``h^L`` is the
            raw output of ``GNN_L``; GAE uses the same. Set ``True`` when another layer follows
            the encoder (VGAE's mu/logstd heads do this themselves).
        heads: attention heads for ``"gat"`` (concatenated; each layer width must divide).
        bias: bias in the convolutions (default ``True``; the official IsoC-VGAE GCN has none).
        gin_mlp_layers: linear layers in each GIN MLP (default ``2``; official IsoC-VGAE: ``3``).
        gin_train_eps: learn GIN's ``eps`` (default ``False``).
        gin_eps: GIN's (initial) ``eps`` in ``(1 + eps) x_i + sum_j x_j`` (default ``0.0``).
            ``1.0`` is a sum over neighbours *and* a self loop: what THUDM/GraphMAE's GIN computes
            on graphs to which its loader adds self loops (``add_self_loop``).
        sage_aggr: GraphSAGE aggregation (default ``"mean"``).
        pair_norm_scale: PairNorm scale ``s`` (default ``1.0``).
        pair_norm_mode: PairNorm mode ``"pn"`` (default, PyG), ``"pn-si"`` or ``"pn-scs"`` (the
            official IsoC-VGAE graph code), see :class:`graphemb.nn.norm.PairNorm`.
        pair_norm_per_graph: PairNorm statistics per graph (default ``True``) or over the whole
            mini-batch (``False``, the official code).
        gat_uniform_init: ``"gat"`` only: initialise the attention vectors ``a_src``/``a_dst``
            of every GATConv to zero (they stay trainable), so every layer starts as the mean
            over the neighbourhood (self loop included) and training learns departures from
            it. Default ``False`` (PyG's Glorot init). Why: over wide inputs (e.g. 576
            z-scored dims) Glorot attention logits are large and random, and with few labels
            (k-shot) a GAT never unlearns that random neighbour selection (MAGB 3-shot, see
            ``experiments/mag/RESULTS.md``). Re-applied by :meth:`GNNEncoder.reset_parameters`.
        gat_attention_dropout: ``"gat"`` only: dropout on the attention coefficients
            (GATConv ``dropout``; default ``0.0``).
        gat_init: ``"gat"`` only: ``"pyg"`` (default, PyG's GATConv: Glorot-uniform weights
            and attention vectors) or ``"dgl"`` (DGL's GATConv, which THUDM/GraphMAE and
            GraphMAE2 copy: Xavier-normal with the ReLU gain ``sqrt(2)`` on the weights and
            attention vectors, zero bias). Applied before ``gat_uniform_init``; re-applied by
            :meth:`GNNEncoder.reset_parameters`.
        dropout_position: ``"after"`` (default): dropout after each post-processed layer's
            activation; ``"before"``: dropout on every layer's *input* (``x`` included, the last
            layer's output never), as GraphMAE's ``feat_drop`` and MaskGAE's encoder do.
    """

    conv: str = field(default="gcn", metadata=check(choices=CONVS))
    hidden_channels: int = field(default=512, metadata=check(gt=0))
    num_layers: int = field(default=2, metadata=check(ge=1))
    out_channels: Optional[int] = field(default=None, metadata=check(gt=0))
    norm: Optional[str] = None
    dropout: float = field(default=0.0, metadata=check(ge=0, lt=1))
    act: str = "relu"
    act_last: bool = False
    heads: int = field(default=1, metadata=check(ge=1))
    bias: bool = True
    gin_mlp_layers: int = field(default=2, metadata=check(ge=1))
    gin_train_eps: bool = False
    gin_eps: float = 0.0
    sage_aggr: str = "mean"
    pair_norm_scale: float = field(default=1.0, metadata=check(gt=0))
    pair_norm_mode: str = "pn"
    pair_norm_per_graph: bool = True
    gat_uniform_init: bool = False
    gat_attention_dropout: float = field(default=0.0, metadata=check(ge=0, lt=1))
    gat_init: str = field(default="pyg", metadata=check(choices=GAT_INITS))
    dropout_position: str = field(default="after", metadata=check(choices=("after", "before")))

    def validate(self) -> None:
        if self.conv not in CONVS:
            raise ValueError(f"unknown encoder conv {self.conv!r}; choose one of {CONVS}")
        if self.norm not in NORMS:
            raise ValueError(f"unknown encoder norm {self.norm!r}; choose one of {NORMS}")
        if str(self.pair_norm_mode).lower().replace("_", "-") not in PAIR_NORM_MODES:
            raise ValueError(f"unknown encoder pair_norm_mode {self.pair_norm_mode!r}; choose one of {PAIR_NORM_MODES}")
        if self.num_layers < 1:
            raise ValueError(f"encoder num_layers must be >= 1, got {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"encoder dropout must be in [0, 1), got {self.dropout}")
        if self.dropout_position not in ("after", "before"):
            raise ValueError(f"encoder dropout_position must be 'after' or 'before', got {self.dropout_position!r}")
        if not 0.0 <= self.gat_attention_dropout < 1.0:
            raise ValueError(f"encoder gat_attention_dropout must be in [0, 1), got {self.gat_attention_dropout}")
        if self.gat_init not in GAT_INITS:
            raise ValueError(f"unknown encoder gat_init {self.gat_init!r}; choose one of {GAT_INITS}")
        if self.conv == "gat":
            for w in {self.hidden_channels, self.out_channels or self.hidden_channels}:
                if w % self.heads:
                    raise ValueError(f"gat width {w} is not divisible by heads={self.heads}; "
                                     "change hidden_channels/out_channels or heads")
        resolve_act(self.act)


@dataclass
class Stage:
    """One message-passing layer for chunked inference: ``post(conv(h, edge_index))``; ``post``
    acts on each node alone (eval-mode norm, activation)."""

    conv: nn.Module
    post: Callable[[Tensor], Tensor]


def _make_conv(cfg: EncoderConfig, in_channels: int, out_channels: int) -> nn.Module:
    if cfg.conv == "gcn":
        return GCNConv(in_channels, out_channels, bias=cfg.bias)
    if cfg.conv == "gin":
        mlp = MLP(in_channels, out_channels, out_channels, num_layers=cfg.gin_mlp_layers,
                  act=cfg.act, norm="batch", bias_last=cfg.bias)
        return GINConv(mlp, eps=float(cfg.gin_eps), train_eps=cfg.gin_train_eps)
    if cfg.conv == "sage":
        return SAGEConv(in_channels, out_channels, aggr=cfg.sage_aggr, bias=cfg.bias)
    conv = GATConv(in_channels, out_channels // cfg.heads, heads=cfg.heads, concat=True, bias=cfg.bias,
                   dropout=cfg.gat_attention_dropout)
    _init_gat(cfg, conv)
    return conv


def _gcn_ops(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain ``GCNConv`` (normalised, self loops added, not improved),
    whose propagation :attr:`GraphOps.gcn` is."""
    return (isinstance(conv, GCNConv) and conv.normalize and conv.add_self_loops and not conv.improved
            and not conv.cached)


def gcn_with_ops(conv: GCNConv, h: Tensor, gcn: "SparseOperator", features: Optional["SparseOperator"] = None
                 ) -> Tensor:
    """``conv(h, edge_index)`` with the propagation matrix ``gcn`` of that graph
    (:func:`~graphemb.nn.graph_ops.gcn_operator`; same parameters, same result up to float
    rounding); ``features``: ``h`` as a sparse operator, so ``h W`` is a sparse product."""
    lin = features.mm(conv.lin.weight.t()) if features is not None else conv.lin(h)
    out = gcn.mm(lin)
    return out if conv.bias is None else out + conv.bias


def _init_gat(cfg: EncoderConfig, conv: nn.Module) -> None:
    """Re-initialise a GATConv as ``cfg.gat_init`` says (``"pyg"``: keep PyG's init), then zero
    its attention vectors when ``cfg.gat_uniform_init`` (uniform attention)."""
    if cfg.conv != "gat":
        return
    if cfg.gat_init == "dgl":  # dgl.nn.GATConv.reset_parameters
        gain = nn.init.calculate_gain("relu")
        for lin in (getattr(conv, n, None) for n in ("lin", "lin_src", "lin_dst")):
            if lin is not None:
                nn.init.xavier_normal_(lin.weight, gain=gain)
        for name in ("att_src", "att_dst"):
            nn.init.xavier_normal_(getattr(conv, name), gain=gain)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
    if cfg.gat_uniform_init:
        for name in ("att_src", "att_dst"):
            nn.init.zeros_(getattr(conv, name))


class GNNEncoder(nn.Module):
    r"""A stack of ``L`` message-passing layers returning every layer's output.

    ``h^0 = x``, ``h^l = post_l(GNN_l(h^{l-1}, A))`` where ``post_l`` is
    ``norm -> act -> dropout`` for hidden layers (and for the last one only if ``act_last``).
    Each layer gets its own activation module (no shared, late-bound lambdas).

    Args:
        in_channels: input feature width.
        cfg: :class:`EncoderConfig`.

    Shapes:
        ``x [N, in_channels]``, ``edge_index [2, E]``, ``batch [N]`` (optional graph id of
        each node, used by graph-wise norms) -> list of ``L`` tensors ``[N, layer_channels[l]]``.
    """

    def __init__(self, in_channels: int, cfg: Optional[EncoderConfig] = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else EncoderConfig()
        cfg.validate()
        self.cfg = cfg
        self.in_channels = in_channels
        widths = [cfg.hidden_channels] * (cfg.num_layers - 1) + [cfg.out_channels or cfg.hidden_channels]
        self._widths = widths
        ins = [in_channels] + widths[:-1]
        self.convs = nn.ModuleList(_make_conv(cfg, i, o) for i, o in zip(ins, widths))
        self._post = [l < cfg.num_layers - 1 or cfg.act_last for l in range(cfg.num_layers)]
        self.norms = nn.ModuleList(
            make_norm(cfg.norm, w, graph_level=True, pair_norm_scale=cfg.pair_norm_scale,
                      pair_norm_mode=cfg.pair_norm_mode, pair_norm_per_graph=cfg.pair_norm_per_graph)
            if post else nn.Identity()
            for w, post in zip(widths, self._post)
        )
        self.acts = nn.ModuleList(resolve_act(cfg.act) if post else nn.Identity()
                                  for post in self._post)
        self._norm_batch = [norm_takes_batch(n) for n in self.norms]

    @property
    def layer_channels(self) -> List[int]:
        """Width of each returned layer ``h^1 .. h^L``."""
        return list(self._widths)

    @property
    def out_channels(self) -> int:
        """Width of ``h^L``."""
        return self._widths[-1]

    @property
    def num_layers(self) -> int:
        return len(self._widths)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        for conv in self.convs:
            _init_gat(self.cfg, conv)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                ops: Optional["GraphOps"] = None) -> List[Tensor]:
        """Every layer's output. ``ops``: the graph's :class:`~graphemb.nn.graph_ops.GraphOps`
        (full batch on that graph): GCN layers then use its precomputed propagation matrix, and
        the first one its sparse features when it has them. Without ``ops`` (a new graph at each
        step: mini-batches, dropped or masked edges) the GCN layers build that matrix once per
        call and share it: one CSR product per layer instead of PyG's gather-scatter, 0.19x its
        CPU time on Amazon-Computers, building included (``experiments/bench_speed.py
        --propagation``)."""
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"encoder expects node features [N, {self.in_channels}], got "
                             f"{tuple(x.shape)}; build it with in_channels = dataset num_features")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must have shape [2, E], got {tuple(edge_index.shape)}")
        out: List[Tensor] = []
        h = x
        before = self.cfg.dropout_position == "before"
        if ops is not None:
            ops.check(x, edge_index)
        # sparse features only where the first layer's input is exactly x (no input dropout)
        features = ops.features_of(x) if ops is not None and not (before and self.cfg.dropout > 0) else None
        gcn = ops.gcn if ops is not None else None
        for conv, norm, act, post, nb in zip(self.convs, self.norms, self.acts, self._post, self._norm_batch):
            if before:
                h = F.dropout(h, self.cfg.dropout, training=self.training)
            if _gcn_ops(conv):
                if gcn is None:
                    gcn = gcn_operator(edge_index, x.size(0), x.dtype)
                h = gcn_with_ops(conv, h, gcn, features)
            else:
                h = conv(h, edge_index)
            features = None
            if post:
                h = norm(h, batch) if nb else norm(h)
                h = act(h)
                if not before:
                    h = F.dropout(h, self.cfg.dropout, training=self.training)
            out.append(h)
        return out

    def stages(self) -> List["Stage"]:
        """The encoder as a list of message-passing stages (for layer-wise inference, see
        :func:`graphemb.training.inference.embed_nodes_layerwise`): stage ``l`` computes
        ``post_l(conv_l(h^{l-1}))`` with ``post_l`` a per-node function in eval mode."""
        out: List[Stage] = []
        for conv, norm, act, post, nb in zip(self.convs, self.norms, self.acts, self._post, self._norm_batch):
            if post and nb:
                raise ValueError(f"norm={self.cfg.norm!r} normalises over the whole graph; layer-wise "
                                 "inference needs a per-node norm (None or 'batch')")

            def after(h: Tensor, norm=norm, act=act, post=post) -> Tensor:
                return act(norm(h)) if post else h
            out.append(Stage(conv, after))
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.layer_channels}, "
                f"conv={self.cfg.conv!r}, norm={self.cfg.norm!r})")
