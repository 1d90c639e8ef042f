"""Graph augmentations as small composable objects (the PyGCL ``Augmentor`` idea).

Every augmentor maps a :class:`View` to a new :class:`View`; models take augmentors as
arguments instead of hard-coding them, and :class:`Compose` chains them::

    aug = Compose([FeatureMasking(0.3), EdgeDropping(0.2)])
    view = aug(x, edge_index)          # View(x, edge_index, masked_nodes, masked_edges)

Randomness comes from the global torch RNG (seeded per run by the trainer's ``set_seed``).
"""
from graphemb.augment.augmentors import (
    Augmentor,
    Compose,
    EdgeDropping,
    EdgeMasking,
    FeatureMasking,
    Identity,
    PathMasking,
    View,
    random_walk_edges,
    sample_nodes,
)
from graphemb.augment.node_masking import MaskedFeatures, mask_node_features

__all__ = [
    "Augmentor",
    "Compose",
    "EdgeDropping",
    "EdgeMasking",
    "FeatureMasking",
    "Identity",
    "MaskedFeatures",
    "PathMasking",
    "View",
    "mask_node_features",
    "random_walk_edges",
    "sample_nodes",
]
