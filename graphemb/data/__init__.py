"""Datasets and splits: ``load_dataset(name) -> GraphDataset``, ``list_datasets()``, ``link_split``.

See ``datasets/README.md`` for the lookup order (``--data-root`` / ``GRAPHEMB_DATA`` -> cache
``GRAPHEMB_CACHE`` -> download) and the default features.
"""
from graphemb.data.paths import DatasetNotFoundError, cache_root, data_roots
from graphemb.data.registry import (DATASETS, DatasetSpec, GraphDataset, UnknownDatasetError, list_datasets,
                                    load_dataset, register_dataset, resolve)
from graphemb.data import planetoid, tu, synthetic, ogb, npz_graphs  # noqa: F401  (register loaders)
from graphemb.data.ogb import ogb_safe_loading
from graphemb.data.features import default_features, degree_onehot, featurize_graphs
from graphemb.data.validate import GraphReport, validate_graph
from graphemb.data.splits import LinkSplit, link_split, random_split_indices, stratified_kfold

__all__ = [
    "DATASETS", "DatasetNotFoundError", "DatasetSpec", "GraphDataset", "GraphReport", "LinkSplit",
    "UnknownDatasetError", "cache_root", "data_roots", "default_features", "degree_onehot",
    "featurize_graphs", "link_split", "list_datasets", "load_dataset", "ogb_safe_loading",
    "random_split_indices", "register_dataset", "resolve", "stratified_kfold", "validate_graph",
]
