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
    assert main(args) == 2
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
