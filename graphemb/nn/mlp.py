"""A small multi-layer perceptron shared by decoders, probes and predictors."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from graphemb.nn.norm import make_norm, resolve_act


class MLP(nn.Module):
    r"""``num_layers`` linear layers with ``norm -> act -> dropout`` between them.

    ``Linear -> [norm] -> act -> dropout -> ... -> Linear``; the output layer is linear (no norm,
    no activation), so the module returns logits / unconstrained values.

    Args:
        in_channels: input width.
        hidden_channels: width of every hidden layer.
        out_channels: output width.
        num_layers: number of ``Linear`` layers (``1`` = a linear map, default ``2``).
        dropout: dropout after every hidden activation (default ``0.0``).
        act: activation name, see :func:`graphemb.nn.norm.resolve_act` (default ``"relu"``).
        norm: ``None`` (default) or ``"batch"`` / ``"layer"`` after every hidden linear layer.
        input_dropout: dropout on the input (the official IsoC-VGAE probe uses 0.5 here and
            nowhere else; default ``0.0``).
        bias_last: bias of the output layer (the official IsoC-VGAE MLPs have none; default
            ``True``).

    Shapes:
        ``[*, in_channels] -> [*, out_channels]``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.0,
        act: str = "relu",
        norm: Optional[str] = None,
        input_dropout: float = 0.0,
        bias_last: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MLP needs num_layers >= 1, got {num_layers}")
        if norm not in (None, "batch", "layer"):
            raise ValueError(f"MLP norm must be None, 'batch' or 'layer', got {norm!r}")
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = nn.ModuleList(
            nn.Linear(widths[i], widths[i + 1], bias=(i < num_layers - 1) or bias_last)
            for i in range(num_layers)
        )
        self.norms = nn.ModuleList(
            make_norm(norm, hidden_channels, graph_level=False) if norm else nn.Identity()
            for _ in range(num_layers - 1)
        )
        self.act = resolve_act(act)
        self.dropout = float(dropout)
        self.input_dropout = float(input_dropout)
        self.in_channels, self.out_channels = in_channels, out_channels

    def reset_parameters(self) -> None:
        for m in list(self.lins) + list(self.norms):
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = F.dropout(x, self.input_dropout, training=self.training)
        for lin, norm in zip(self.lins[:-1], self.norms):
            x = F.dropout(self.act(norm(lin(x))), self.dropout, training=self.training)
        return self.lins[-1](x)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_layers={len(self.lins)})")
