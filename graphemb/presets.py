"""Named hyperparameter presets, layered over the dataclass defaults (see graphemb.config).

A preset is a nested mapping in the layout of ``RunConfig.to_dict()``, chosen by
``(model, preset name, task level)`` where the level is ``"node"`` for node and link tasks and
``"graph"`` for graph classification.

* ``paper`` — the published training recipe. For IsoC-VGAE this is the official code's
  (github upperr/IsoC-VGAE, ``train_node.py`` / ``train_link.py`` / ``train_graph.py``):
  2 x 512 GCN (node/link) or GIN + PairNorm + dropout 0.5 with batches of 64 graphs and constant
  features for featureless graphs (graph; PairNorm as the official ``layers.py`` builds it: mode
  PN-SCS, scale 20, statistics over the whole mini-batch of graphs, not per graph); Adam with lr 5e-6 for encoder/decoder and 1e-2 for the
  degree heads, weight decay 3e-4, 30 epochs, early stopping on the training loss (the official
  loop stops after 11 epochs without a new best and keeps the best weights); graph embeddings are
  the sum-pooled last layer. For GAE/VGAE it is Kipf & Welling (2016): lr 0.01, 200 epochs.
  Known gaps to the official code, by level: embeddings are taken in eval mode (the official
  code keeps a train-mode forward pass) and the encoder's hidden ReLU is applied (the official
  late-bound lambda makes every layer linear). On Cora link ``mlp`` the official single run is
  above our seed mean; ``experiments/link_mlp_vs_official.py`` measured that the embedding mode
  and the predictor's training pairs do not explain it (see ``experiments/RESULTS.md``); the
  linear encoder (``--linear-encoder``) was not measured yet.
* ``default`` — our recommended settings, tuned on validation data only
  (``experiments/tune_isoc_vgae.py`` records the search and its validation scores).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Tuple

_PAPER_TRAIN = {"lr": 5e-6, "weight_decay": 3e-4, "epochs": 30, "patience": 11}

PRESETS: Dict[Tuple[str, str, str], Dict[str, Any]] = {
    # --- IsoC-VGAE -----------------------------------------------------------------------
    ("isoc-vgae", "paper", "node"): {
        "model": {"encoder": {"conv": "gcn", "hidden_channels": 512, "num_layers": 2, "norm": "batch",
                              "dropout": 0.0}, "lr_degree": 1e-2},
        "train": dict(_PAPER_TRAIN),
    },
    ("isoc-vgae", "paper", "graph"): {
        "model": {"encoder": {"conv": "gin", "gin_mlp_layers": 3, "hidden_channels": 512, "num_layers": 2,
                              "norm": "pair", "pair_norm_mode": "pn-scs", "pair_norm_scale": 20.0,
                              "pair_norm_per_graph": False, "dropout": 0.5, "bias": False},
                  "lr_degree": 1e-2},
        "train": {**_PAPER_TRAIN, "batch_size": 64},
        "data": {"features": "auto-constant"},
        "task": {"graph_pool": "sum", "graph_readout": "last"},
    },
    # Validation (experiments/tune_isoc_vgae.py, Cora linear-probe validation accuracy): none of
    # lr 1e-3 / 1e-4, width 256, 100 epochs or lambda_neighbor = 1 beat the paper recipe (77.2;
    # lambda_neighbor = 1 tied), so the node/link default *is* the paper recipe (set below).
    # Validation (experiments/tune_isoc_vgae.py, MUTAG official split): the paper recipe, width 256
    # at lr 1e-3 with last-layer readout, and with all-layer readout tied at 89.19; ties go to the
    # cheaper model and then to the paper's readout. Featureless sets keep the one-hot degree.
    ("isoc-vgae", "default", "graph"): {
        "model": {"encoder": {"conv": "gin", "gin_mlp_layers": 3, "hidden_channels": 256, "num_layers": 2,
                              "norm": "pair", "dropout": 0.5, "bias": False}},
        "train": {**_PAPER_TRAIN, "lr": 1e-3, "batch_size": 64},
        "task": {"graph_pool": "sum", "graph_readout": "last"},
    },
    # --- GAE / VGAE (Kipf & Welling 2016) ----------------------------------------------------
    ("vgae", "paper", "node"): {"train": {"lr": 0.01, "epochs": 200}},
    ("vgae", "default", "node"): {"train": {"lr": 0.01, "epochs": 200}},
    ("vgae", "default", "graph"): {"train": {"lr": 0.01, "epochs": 50, "batch_size": 64},
                                   "task": {"graph_pool": "sum", "graph_readout": "concat"}},
    ("gae", "paper", "node"): {"train": {"lr": 0.01, "epochs": 200}},
    ("gae", "default", "node"): {"train": {"lr": 0.01, "epochs": 200}},
    ("gae", "default", "graph"): {"train": {"lr": 0.01, "epochs": 50, "batch_size": 64},
                                  "task": {"graph_pool": "sum", "graph_readout": "concat"}},
}


PRESETS[("isoc-vgae", "default", "node")] = copy.deepcopy(PRESETS[("isoc-vgae", "paper", "node")])


def preset_names(model: str) -> list[str]:
    return sorted({p for (m, p, _) in PRESETS if m == model})


def get_preset(model: str, preset: str, task: str) -> Dict[str, Any]:
    """The preset mapping for ``model``/``preset`` at the level of ``task`` (a deep copy).

    An unknown preset name is an error; a model without presets gets ``{}`` for ``default``.
    A ``paper`` preset missing for the graph level falls back to ``default`` only when the
    paper gives no graph recipe (GAE/VGAE), which is stated here rather than guessed silently.
    """
    from graphemb.registry import normalize_name

    model = normalize_name(model)
    level = "graph" if task == "graph" else "node"
    key = (model, preset, level)
    if key in PRESETS:
        return copy.deepcopy(PRESETS[key])
    known = preset_names(model)
    if preset == "default" or (preset == "paper" and model in ("gae", "vgae") and level == "graph"):
        fallback = (model, "default", level)
        return copy.deepcopy(PRESETS.get(fallback, {}))
    raise KeyError(f"unknown preset {preset!r} for model {model!r} at the {level} level; known presets: {known or ['default']}")
