"""Node-feature masking with a learnable ``[MASK]`` token (GraphMAE, Hou et al. KDD 2022,
THUDM/GraphMAE ``encoding_mask_noise``): the masking GraphMAE, GraphMAE2 and IsoC-VGAE's
optional input masking share. Full batch it draws from torch's RNG; in a seed mini-batch from
the batch's keyed draws (a node is masked the same way in any subgraph that holds it)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphemb.augment.draws import GLOBAL, GlobalDraws


@dataclass
class MaskedFeatures:
    """Result of :func:`mask_node_features`: the encoder input and who was masked how."""

    x: Tensor
    mask_nodes: Tensor
    keep_nodes: Tensor
    token_nodes: Tensor
    noise_nodes: Tensor


def mask_node_features(x: Tensor, token: Tensor, mask_rate: float, replace_rate: float = 0.0,
                       draws: GlobalDraws = GLOBAL) -> MaskedFeatures:
    """GraphMAE's masking: ``int(mask_rate N)`` nodes; ``int((1 - r) M)`` of them get ``token``,
    ``int(r M)`` get the features of uniformly drawn nodes, any remainder is zeroed. Keyed
    ``draws`` (seed mini-batches): each node is masked with probability ``mask_rate`` and a
    masked one gets noise with probability ``r``, from a seed's features."""
    n = x.size(0)
    if draws.keyed:
        return _mask_keyed(x, token, mask_rate, replace_rate, draws)
    perm = torch.randperm(n, device=x.device)
    num_mask = int(mask_rate * n)
    mask_nodes, keep_nodes = perm[:num_mask], perm[num_mask:]
    out = x.clone()
    if replace_rate > 0:
        num_noise, num_token = int(replace_rate * num_mask), int((1 - replace_rate) * num_mask)
        order = torch.randperm(num_mask, device=x.device)
        token_nodes = mask_nodes[order[:num_token]]
        noise_nodes = mask_nodes[order[num_mask - num_noise:]] if num_noise else mask_nodes[:0]
        out[mask_nodes] = 0.0
        out[noise_nodes] = x[torch.randperm(n, device=x.device)[:num_noise]]
    else:
        token_nodes, noise_nodes = mask_nodes, mask_nodes[:0]
        out[mask_nodes] = 0.0
    out[token_nodes] = out[token_nodes] + token
    return MaskedFeatures(out, mask_nodes, keep_nodes, token_nodes, noise_nodes)


def _mask_keyed(x: Tensor, token: Tensor, mask_rate: float, replace_rate: float, draws: GlobalDraws
                ) -> MaskedFeatures:
    n = x.size(0)
    masked = draws.nodes(n, x.device) < mask_rate
    mask_nodes, keep_nodes = torch.nonzero(masked).view(-1), torch.nonzero(~masked).view(-1)
    noisy = draws.fork(1).nodes(n, x.device)[mask_nodes] < replace_rate
    token_nodes, noise_nodes = mask_nodes[~noisy], mask_nodes[noisy]
    out = x.index_fill(0, mask_nodes, 0.0)
    out[noise_nodes] = x[draws.source_rows(noise_nodes, n)]
    out[token_nodes] = out[token_nodes] + token
    return MaskedFeatures(out, mask_nodes, keep_nodes, token_nodes, noise_nodes)
