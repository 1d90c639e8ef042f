"""Matching corpora from files: ragged tables fail naming the line, never shift columns."""
from __future__ import annotations

import pytest

from graphemb.matching.datasets import read_corpus, read_table_strict
from graphemb.utils.io import DataFileError


def test_fewer_fields_than_header_names_the_line(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("id,name,city\n1,ann,paris\n2,bob\n3,cy,rome\n")  # pandas would pad row 2 with ""
    with pytest.raises(DataFileError, match=r"a\.csv: line 3: 2 fields, fewer than the header's 3 \(id, name, city\)"):
        read_corpus(p, id_column="id")


def test_every_row_one_field_longer_is_not_read_as_an_index(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("name,city\nann,paris,x\nbob,rome,y\n")  # pandas would shift: ann -> index
    with pytest.raises(DataFileError, match=r"a\.csv: line 2: 3 fields, more than the header's 2"):
        read_corpus(p)


def test_quoted_delimiters_and_newlines_are_fields_and_line_numbers_are_physical(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('name,note\n"smith, ann","two\nlines"\nbob,ok\n\ncy\n')
    with pytest.raises(DataFileError, match=r"line 6: 1 fields"):  # the quoted newline counts as a line
        read_table_strict(p)
    p.write_text('name,note\n"smith, ann","two\nlines"\n\nbob,ok\n')
    df = read_table_strict(p)
    assert df.values.tolist() == [["smith, ann", "two\nlines"], ["bob", "ok"]]
    c = read_corpus(p)
    assert c.columns == ["name", "note"] and len(c) == 2
    t = tmp_path / "a.tsv"
    t.write_text("name\tnote\nann\tx, y\nbob\n")
    with pytest.raises(DataFileError, match=r"a\.tsv: line 3: 1 fields, fewer"):
        read_corpus(t)


def test_duplicate_header_and_bad_encoding(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("name,name\nann,bob\n")
    with pytest.raises(DataFileError, match=r"duplicate column name\(s\) \['name'\]"):
        read_corpus(p)
    p.write_bytes("name,city\nann,z\u00fcrich\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=r"a\.csv: line 2 \(row 1\), column 'city': byte b'\\xfc'"):
        read_corpus(p)
    assert read_corpus(p, encoding="latin-1").fields[0] == ["ann", "z\u00fcrich"]


def test_cli_match_build_ragged_csv_exits_1_naming_the_line(tmp_path, capsys):
    from graphemb.cli.main import main

    (tmp_path / "a.csv").write_text("id,name\n1,apple pie\n2\n")
    (tmp_path / "b.txt").write_text("apple\n")
    out = tmp_path / "g"
    assert main(["match", "build", str(tmp_path / "a.csv"), str(tmp_path / "b.txt"), "--out", str(out)]) == 1  # a broken input file: runtime failure
    err = capsys.readouterr().err
    assert "a.csv: line 3: 1 fields, fewer than the header's 2 (id, name)" in err
    assert not out.exists()
