"""graphemb.Embedder: inputs (PyG, networkx, scipy, lists), sklearn conventions, persistence."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

from graphemb import Embedder
from graphemb.data.convert import as_dataset, fill_features, to_graph

FAST = dict(model="gae", epochs=3, hidden_channels=8)


def two_triangles_and_a_loner() -> nx.Graph:
    """Two components (triangles) plus an isolated node, string ids, a numeric attribute."""
    G = nx.Graph()
    for n in ["a", "b", "c", "d", "e", "f", "alone"]:
        G.add_node(n, w=float(len(n)), y=int(n in "def"))
    G.add_edges_from([("a", "b"), ("b", "c"), ("c", "a"), ("d", "e"), ("e", "f"), ("f", "d")])
    return G


def test_networkx_ids_features_components_and_isolated_node():
    G = two_triangles_and_a_loner()
    est = Embedder(**FAST)
    z = est.fit_transform(G)
    assert est.ids_ == ["a", "b", "c", "d", "e", "f", "alone"]
    assert z.shape == (7, est.model_.encoder.out_channels) and np.isfinite(z).all()
    assert est.n_features_in_ == 1  # the one shared numeric attribute "w" ("y" is the label)
    assert est.labels_.tolist() == [0, 0, 0, 1, 1, 1, 0]
    # the two triangles are symmetric copies with the same features: same embeddings per position
    np.testing.assert_allclose(z[0:3], z[3:6], atol=1e-6)
    # transform is deterministic and equals the training embeddings on the training graph
    np.testing.assert_allclose(est.transform(G), z, atol=1e-6)


def test_featureless_default_is_degree_onehot_with_training_width():
    path = nx.path_graph(3)  # degrees 1, 2, 1 -> 3 buckets
    g = to_graph(path)
    assert g.featureless and g.data.x is None
    assert fill_features([g]) == 3
    assert g.data.x.tolist() == [[0, 1, 0], [0, 0, 1], [0, 1, 0]]
    est = Embedder(**FAST).fit(path)
    assert est.degree_buckets_ == 3 and est.n_features_in_ == 3
    star = nx.star_graph(4)  # centre degree 4 > training max: clipped into the last bucket
    z = est.transform(star)
    assert z.shape[0] == 5
    leaf_like_path_end = est.transform(nx.path_graph(2))  # both nodes have degree 1
    np.testing.assert_allclose(leaf_like_path_end[0], leaf_like_path_end[1], atol=1e-6)
    # constant features on request
    assert Embedder(**FAST, features="constant").fit(path).n_features_in_ == 1


def test_scipy_adjacency_is_symmetrised_and_self_loops_dropped():
    A = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]]))  # 0->1, 1->2, self loop on 0
    X = np.eye(3, dtype=np.float32)
    g = to_graph(A, X)
    assert sorted(map(tuple, g.data.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    z = Embedder(**FAST).fit_transform(A, X)
    assert z.shape[0] == 3
    with pytest.raises(ValueError, match="fitted on 3"):
        Embedder(**FAST).fit(A, X).transform(A, np.ones((3, 2)))


def test_sklearn_clone_get_set_params():
    from sklearn.base import clone

    overrides = {"train.patience": 2}
    est = Embedder(model="gae", epochs=5, overrides=overrides)
    assert est.get_params()["overrides"] is overrides  # stored as given, not copied or parsed
    assert not hasattr(est, "model_")
    est.fit(nx.cycle_graph(5))
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "model_")
    assert twin.set_params(epochs=7) is twin and twin.epochs == 7
    with pytest.raises(RuntimeError, match="not fitted"):
        twin.transform(nx.cycle_graph(5))


def test_overrides_by_dotted_key_and_shorthands_win():
    est = Embedder(model="gae", epochs=4, lr=0.05, hidden_channels=8,
                   overrides={"train.epochs": 50, "train.patience": 2, "model.encoder.num_layers": 3}).fit(nx.cycle_graph(6))
    cfg = est.config_
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.patience) == (4, 0.05, 2)
    assert (cfg.model.encoder.hidden_channels, cfg.model.encoder.num_layers) == (8, 3)
    assert len(est.history_) <= 4


def test_save_load_roundtrip_keeps_ids_labels_and_transform(tmp_path):
    G = two_triangles_and_a_loner()
    est = Embedder(**FAST).fit(G)
    est.save(tmp_path / "run")
    back = Embedder.load(tmp_path / "run")
    assert back.get_params() == est.get_params()
    assert back.ids_ == est.ids_ and back.labels_.tolist() == est.labels_.tolist()
    np.testing.assert_allclose(back.transform(G), est.transform(G), atol=1e-6)
    assert len(back.history_) == 3


def test_graph_level_list_of_graphs_one_vector_each_shared_width():
    graphs = [Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2, y=torch.tensor([0])),
              Data(edge_index=torch.tensor([[0, 1, 1, 2, 1, 3], [1, 0, 2, 1, 3, 1]]), num_nodes=4, y=torch.tensor([1]))]
    est = Embedder(model="gae", task="graph", epochs=2, hidden_channels=8)
    z = est.fit_transform(graphs, as_tensor=True)
    assert isinstance(z, torch.Tensor) and z.shape[0] == 2
    assert est.n_features_in_ == 4  # max degree 3 over the set -> 4 buckets, for both graphs
    assert est.labels_.tolist() == [0, 1]
    assert est.transform([graphs[1]]).shape == (1, z.shape[1])
    with pytest.raises(ValueError, match="task='graph'"):
        Embedder(model="gae").fit(graphs)


def test_api_train_accepts_a_users_data_and_returns_the_model():
    from graphemb import api
    from graphemb.models.base import EmbeddingModel

    data = Data(edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), num_nodes=4)  # directed, featureless, node 3 isolated
    run = api.train("gae", data, values={"train": {"epochs": 2}})
    assert isinstance(run.model, EmbeddingModel)
    assert run.embeddings.shape[0] == 4 and run.config.task.name == "node"
    ds = as_dataset(data)
    assert ds.data.edge_index.size(1) == 6 and ds.num_features == 3  # degrees 2,2,2,0 -> 3 buckets


def test_link_task_holds_out_edges_and_saves_the_split(tmp_path):
    G = nx.connected_watts_strogatz_graph(40, 4, 0.1, seed=0)  # 80 undirected edges
    est = Embedder(model="gae", task="link", epochs=2, hidden_channels=8).fit(G)
    sizes = {k: getattr(est.split_, k).size(1) for k in ("train_pos", "val_pos", "test_pos")}
    assert sizes["train_pos"] + sizes["val_pos"] + sizes["test_pos"] == 80 and sizes["test_pos"] == 8
    est.save(tmp_path / "run")
    assert (tmp_path / "run" / "split.pt").is_file()
    assert Embedder.load(tmp_path / "run").split_.test_pos.shape == (2, 8)
