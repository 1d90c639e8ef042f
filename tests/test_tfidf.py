"""The tfidf text encoder: TF-IDF + SVD, no pretrained weights, cached like the others."""
from __future__ import annotations

import json

import numpy as np
import pytest

from graphemb.multimodal.encoders.text import load_text_encoder
from graphemb.multimodal.encoders.tfidf import TfidfEncoder

DOCS = ["red apple pie", "green apple tart", "fast red car", "slow blue car", "apple pie recipe", ""]


def test_width_normalisation_and_similarity():
    enc = load_text_encoder("tfidf:4")
    assert isinstance(enc, TfidfEncoder) and enc.dim == 4 and enc.modality == "text" and not enc.fitted
    z = enc.encode(DOCS)
    assert z.shape == (6, 4) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z[:5], axis=1), 1.0, atol=1e-5)
    assert not z[5].any()  # an empty text has no terms: a zero vector
    cos = z @ z.T
    assert cos[0, 4] > cos[0, 3]  # "red apple pie" is closer to "apple pie recipe" than to "slow blue car"
    np.testing.assert_array_equal(enc.encode(DOCS), z)  # the same texts give the same vectors


def test_narrow_vocabulary_is_zero_padded_to_the_width():
    z = TfidfEncoder(dim=64).encode(["a b", "b c"])
    assert z.shape == (2, 64) and not z[:, 2:].any()


def test_fit_pins_the_corpus_in_the_name_and_only_transforms():
    a = TfidfEncoder(8).fit(DOCS)
    b = TfidfEncoder(8).fit(DOCS[:4])
    assert a.fitted and a.name.startswith("tfidf-8-") and a.name != b.name
    assert a.name == TfidfEncoder(8).fit(list(DOCS)).name
    one = a.encode(["red apple pie"])
    np.testing.assert_allclose(one[0], a.encode(DOCS)[0], atol=1e-6)  # transform does not depend on the batch


def test_fit_runs_on_first_encode_only(monkeypatch):
    """``fit`` pins the corpus (and the cache name) without fitting; the first ``encode`` fits
    once, later calls reuse it, and the vectors equal an eager fit-and-transform of the corpus."""
    calls = []
    real = TfidfEncoder._fit
    monkeypatch.setattr(TfidfEncoder, "_fit", lambda self, texts: calls.append(list(texts)) or real(self, texts))
    a = TfidfEncoder(4).fit(DOCS)
    assert a.fitted and calls == []
    z = a.encode(DOCS[:2])
    a.encode(DOCS[2:])
    assert calls == [DOCS]  # fitted on the whole pinned corpus, once
    np.testing.assert_allclose(z, TfidfEncoder(4).encode(DOCS)[:2], atol=1e-6)


def test_bad_specs():
    with pytest.raises(ValueError, match="integer"):
        load_text_encoder("tfidf:wide")
    with pytest.raises(ValueError, match=">= 1"):
        TfidfEncoder(0)


def test_mag_encode_and_train_with_tfidf(tmp_path, monkeypatch, capsys):
    from graphemb.cli.main import main

    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path / "cache"))
    spec = "synthetic-mag:n=120,seed=0"
    assert main(["mag", "encode", spec, "--modality", "text", "--encoder", "tfidf:16", "--json", "-q"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["shape"] == [120, 16] and rec["feature_set"].startswith("text:tfidf-16-")
    cached = list((tmp_path / "cache").rglob("*"))
    assert cached  # written through the feature cache
    assert main(["mag", "train", spec, "--features", "text:tfidf:16", "--seeds", "1", "--epochs", "5", "--json", "-q"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["features"] == "text:tfidf:16" and len(rec["values"]) == 1
