"""Multimodal inputs: errors naming file/row/column, --encoding, feature-cache keys."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphemb.multimodal.data import load_mag, load_magb, load_plain
from graphemb.multimodal.encoders.cache import encode_nodes, feature_cache_dir
from graphemb.utils.io import DataFileError


def _plain(root, nodes: str, edges: str = "src,dst\nu,v\n", encoding: str = "utf-8"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "nodes.csv").write_bytes(nodes.encode(encoding))
    (root / "edges.csv").write_text(edges)
    return root


def test_empty_id_cell_names_file_row_and_column(tmp_path):
    root = _plain(tmp_path / "p", "id,text\nu,red\n,blue\nv,green\n")
    with pytest.raises(DataFileError, match=r"nodes\.csv: row 2 \(line 3\), column 'id': empty id"):
        load_plain(root)
    root = _plain(tmp_path / "q", "id,text\nu,red\nv,blue\n", edges="src,dst\nu,v\n,u\n")
    with pytest.raises(DataFileError, match=r"edges\.csv: row 2 \(line 3\), column 'src': empty id"):
        load_plain(root)
    m = tmp_path / "M"
    m.mkdir()
    (m / "M.csv").write_text('id,text,neighbors\n0,a,"[1]"\n1,b,"[0]"\n ,c,"[]"\n')
    with pytest.raises(DataFileError, match=r"M\.csv: row 3 \(line 4\), column 'id': empty id"):
        load_magb(m)


def test_text_column_missing_empty_or_numeric(tmp_path):
    m = tmp_path / "M"
    m.mkdir()
    csv = m / "M.csv"
    csv.write_text('id,title,neighbors\n0,a,"[1]"\n1,b,"[0]"\n')
    with pytest.raises(DataFileError, match=r"M\.csv: text column\(s\) \['abstract'\] missing"):
        load_magb(m, text_columns=["abstract"])
    csv.write_text('id,text,neighbors\n0,,"[1]"\n1,,"[0]"\n')
    with pytest.raises(DataFileError, match=r"M\.csv: text column 'text' is empty in every row"):
        load_magb(m)
    csv.write_text('id,text,neighbors\n0,,"[1]"\n1,3.5,"[0]"\n')
    with pytest.raises(DataFileError, match=r"M\.csv: row 2 \(line 3\), column 'text': text column holds float64"):
        load_magb(m)
    root = _plain(tmp_path / "p", "id,text\nu,1\nv,2\n")
    with pytest.raises(DataFileError, match=r"nodes\.csv: row 1 \(line 2\), column 'text': text column holds int64"):
        load_plain(root)
    # a title-only dataset with an empty description column is fine (one text column has text)
    csv.write_text('id,title,description,neighbors\n0,a,,"[1]"\n1,b,,"[0]"\n')
    assert load_magb(m).text == ["a", "b"]


def test_non_utf8_file_names_line_row_column_and_encoding_option_reads_it(tmp_path):
    root = _plain(tmp_path / "p", "id,text\nu,plain\nv,caf\u00e9 cr\u00e8me\n", encoding="latin-1")
    with pytest.raises(DataFileError, match=r"nodes\.csv: line 3 \(row 2\), column 'text': byte b'\\xe9' is not valid "
                                            r"utf-8.*--encoding latin-1"):
        load_plain(root)
    g = load_plain(root, encoding="latin-1")
    assert g.text == ["plain", "caf\u00e9 cr\u00e8me"]
    assert load_mag(str(root), encoding="latin-1").text[1] == "caf\u00e9 cr\u00e8me"
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        load_plain(root, encoding="klingon")


def test_cli_mag_encoding_option(tmp_path, capsys):
    from graphemb.cli.main import main

    root = _plain(tmp_path / "p", "id,text,label\n" + "".join(f"n{i},caf\u00e9 {i},{i % 2}\n" for i in range(8)),
                  edges="src,dst\n" + "".join(f"n{i},n{(i + 1) % 8}\n" for i in range(8)), encoding="latin-1")
    (root / "features").mkdir()
    np.savez(root / "features" / "f.npz", ids=np.array([f"n{i}" for i in range(8)]),
             x=np.eye(8, dtype=np.float32)[:, :4])
    args = ["mag", "train", str(root), "--features", "f", "--model", "mlp", "--seeds", "1", "--epochs", "2"]
    assert main(args) == 1  # a broken input file: runtime failure
    assert "line 2 (row 1), column 'text'" in capsys.readouterr().err
    assert main(args + ["--encoding", "latin-1"]) == 0
    assert "mlp on p [f]" in capsys.readouterr().out


class _Norm:
    """A text encoder whose output depends on its ``normalize`` option."""

    name, dim, max_length, pooling = "norm", 2, 8, "mean"

    def __init__(self, normalize: bool) -> None:
        self.normalize = normalize
        self.device = "cpu"

    def encode(self, items, batch_size=64, show_progress=None):
        x = np.array([[3.0 * len(s), 4.0 * len(s)] for s in items], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True) if self.normalize else x


def test_feature_cache_key_separates_normalisation(cache_dir):
    ids, items = np.array([1, 2]), ["a", "bb"]
    raw, _ = encode_nodes("ds", "text", _Norm(False), ids, items)
    unit, _ = encode_nodes("ds", "text", _Norm(True), ids, items)
    assert raw.tolist() == [[3, 4], [6, 8]]
    assert np.allclose(unit, [[0.6, 0.8], [0.6, 0.8]])  # not the cached raw vectors
    assert feature_cache_dir("ds", "text", _Norm(False)) != feature_cache_dir("ds", "text", _Norm(True))
    cpu, gpu = _Norm(True), _Norm(True)
    gpu.device = "cuda"
    assert feature_cache_dir("ds", "text", cpu) == feature_cache_dir("ds", "text", gpu)  # device is not a key
    d = feature_cache_dir("ds", "text", _Norm(True))
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []  # no temp files left
    assert pd.Series([p.name for p in d.glob("chunk-*.npz")]).str.match(r"chunk-00000-\d+[0-9a-f]{4}\.npz").all()


def test_unreadable_cache_chunk_is_reencoded_with_a_warning(cache_dir):
    enc = _Norm(False)
    encode_nodes("ds", "text", enc, np.array([1]), ["a"])
    chunk = next(feature_cache_dir("ds", "text", enc).glob("chunk-*.npz"))
    chunk.write_bytes(chunk.read_bytes()[:30])
    with pytest.warns(UserWarning, match=r"chunk-00000-.*truncated or corrupt"):
        x, _ = encode_nodes("ds", "text", enc, np.array([1]), ["a"])
    assert x.tolist() == [[3, 4]]


# ----------------------------------------------------------------------------- MAGB without DGL

def _dgl_import_fails(monkeypatch, exc: BaseException) -> list:
    import builtins

    real = builtins.__import__
    tried: list = []

    def fake(name, *args, **kwargs):
        if name == "dgl" or name.startswith("dgl."):
            tried.append(name)
            raise exc
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    return tried


def _magb(root, with_neighbours: bool):
    root.mkdir()
    cols = "id,text,label" + (",neighbors" if with_neighbours else "")
    rows = [f'{i},t{i},{i % 2}' + (f',"[{(i + 1) % 3}]"' if with_neighbours else "") for i in range(3)]
    (root / f"{root.name}.csv").write_text("\n".join([cols, *rows]) + "\n")
    (root / f"{root.name}Graph.pt").write_bytes(b"DGL binary graph, unreadable without DGL")
    return root


def test_magb_dgl_import_oserror_falls_back_to_neighbour_column(tmp_path, monkeypatch):
    root = _magb(tmp_path / "Toys", with_neighbours=True)
    tried = _dgl_import_fails(monkeypatch, OSError("libdgl.so: cannot open shared object file"))
    with pytest.warns(UserWarning, match=r"DGL cannot be loaded \(OSError: libdgl\.so.*'neighbors' column"):
        g = load_magb(root)
    assert tried and sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]


def test_magb_only_dgl_graph_says_how_to_convert(tmp_path, monkeypatch):
    root = _magb(tmp_path / "Toys", with_neighbours=False)
    _dgl_import_fails(monkeypatch, FileNotFoundError("Could not find module 'dgl.dll'"))
    with pytest.raises(FileNotFoundError, match=r"only in .*ToysGraph\.pt .*DGL cannot be loaded here "
                                                r"\(FileNotFoundError: .*\).*python experiments/mag/magb_graph_to_edges\.py"):
        load_magb(root)
    # what the script writes is read without importing DGL at all
    (root / "Toys_edges.csv").write_text("src,dst\n0,1\n1,2\n")
    tried = _dgl_import_fails(monkeypatch, OSError("must not be imported"))
    g = load_magb(root)
    assert not tried and sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_magb_conversion_script_cli_errors(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "experiments" / "mag" / "magb_graph_to_edges.py"
    spec = importlib.util.spec_from_file_location("magb_graph_to_edges", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(tmp_path)]) == 2 and "Graph.pt not found" in capsys.readouterr().err
    root = _magb(tmp_path / "Toys", with_neighbours=False)
    _dgl_import_fails(monkeypatch, OSError("libdgl.so missing"))
    assert mod.main([str(root)]) == 1
    err = capsys.readouterr().err
    assert "DGL is needed" in err and "OSError: libdgl.so missing" in err
    assert not (root / "Toys_edges.csv").exists()


def test_truncated_magb_npy_and_plain_npz_name_the_file(tmp_path):
    m = tmp_path / "M"
    m.mkdir()
    (m / "M.csv").write_text('id,text,neighbors\n0,a,"[1]"\n1,b,"[0]"\n')
    f = m / "M_MiniLM_256_mean.npy"
    np.save(f, np.ones((2, 64), np.float32))
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(DataFileError, match=r"M_MiniLM_256_mean\.npy: truncated or corrupt \.npy feature file"):
        load_magb(m)
    root = _plain(tmp_path / "p", "id,text\nu,a\nv,b\n")
    (root / "features").mkdir()
    z = root / "features" / "f.npz"
    np.savez(z, ids=np.array(["u", "v"]), x=np.ones((2, 64), np.float32))
    z.write_bytes(z.read_bytes()[:200])
    with pytest.raises(DataFileError, match=r"f\.npz: feature file is truncated or corrupt"):
        load_plain(root)
