"""Frozen-embedding evaluation protocols and tie-aware ranking metrics.

Evaluators never build models and never load data: they take embeddings, labels, masks or edge
splits and a seed, and return a :class:`ProtocolResult`. See :mod:`.protocols` for the registry
(``node/linear``, ``node/mlp``, ``link/dot``, ``link/mlp``, ``graph/svm``, ``graph/mlp``).
"""
from graphemb.evaluation.graph import mlp_protocol as graph_mlp_protocol
from graphemb.evaluation.graph import svm_protocol
from graphemb.evaluation.link import dot_protocol, link_metrics
from graphemb.evaluation.link import mlp_protocol as link_mlp_protocol
from graphemb.evaluation.node import linear_probe, mlp_probe
from graphemb.evaluation.protocols import (DEFAULT_PROTOCOLS, PROTOCOLS, EvalInputs, get_protocol,
                                           protocol_names, run_protocol)
from graphemb.evaluation.stats import (ProtocolResult, record_from_results, result_record,
                                       summarize)

__all__ = [
    "ProtocolResult", "summarize", "result_record", "record_from_results",
    "linear_probe", "mlp_probe", "dot_protocol", "link_mlp_protocol", "link_metrics",
    "svm_protocol", "graph_mlp_protocol",
    "EvalInputs", "PROTOCOLS", "DEFAULT_PROTOCOLS", "get_protocol", "protocol_names", "run_protocol",
]
