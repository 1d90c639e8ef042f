"""Text encoders: pooling by hand, the offline MiniLM model, backend agreement."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphemb.multimodal.encoders.base import pool_tokens
from graphemb.multimodal.encoders.text import load_text_encoder, resolve_text_model


def test_pool_tokens_by_hand():
    h = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [100.0, 100.0]],
                      [[5.0, 5.0], [7.0, 1.0], [9.0, 3.0]]])
    right = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.allclose(pool_tokens(h, right, "mean"), torch.tensor([[2.0, 1.0], [7.0, 3.0]]))
    assert torch.allclose(pool_tokens(h, right, "cls"), torch.tensor([[1.0, 0.0], [5.0, 5.0]]))
    assert torch.allclose(pool_tokens(h, right, "last"), torch.tensor([[3.0, 2.0], [9.0, 3.0]]))
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])  # left padding: the last real token is the last one
    assert torch.allclose(pool_tokens(h, left, "last"), torch.tensor([[100.0, 100.0], [9.0, 3.0]]))
    with pytest.raises(ValueError, match="pooling"):
        pool_tokens(h, right, "max")


def test_resolve_names():
    name, path = resolve_text_model("MiniLM")
    assert name == "all-MiniLM-L6-v2" and path.endswith("model")
    assert resolve_text_model("org/some-model") == ("org/some-model", "org/some-model")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_text_model("/no/such/dir")


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


def test_minilm_offline_semantics(minilm):
    assert minilm.dim == 384 and minilm.name == "all-MiniLM-L6-v2"
    texts = ["a small cat sleeps on the sofa", "a kitten naps on the couch",
             "quarterly revenue grew by ten percent", None]
    x = minilm.encode(texts, batch_size=2, show_progress=False)
    assert x.shape == (4, 384) and x.dtype == np.float32 and np.isfinite(x).all()
    xn = x[:3] / np.linalg.norm(x[:3], axis=1, keepdims=True)
    sim = xn @ xn.T
    assert sim[0, 1] > sim[0, 2] + 0.3  # paraphrase beats unrelated text by a margin
    # batching does not change results
    y = minilm.encode(texts[:3], batch_size=3, show_progress=False)
    np.testing.assert_allclose(x[:3], y, atol=1e-5)


def test_minilm_backends_agree(minilm):
    texts = ["graph neural networks", "red shoes for running"]
    st = load_text_encoder("minilm", backend="sentence-transformers", normalize=True)
    ours = load_text_encoder("minilm", normalize=True)
    np.testing.assert_allclose(ours.encode(texts), st.encode(texts), atol=1e-5)
    with pytest.raises(ValueError, match="pools with 'mean'"):
        load_text_encoder("minilm", backend="sentence-transformers", pooling="cls")


def test_max_length_truncates(minilm):
    short = load_text_encoder("minilm", max_length=4)
    a = "alpha beta gamma delta epsilon zeta"
    b = "alpha beta gamma delta omega omega omega"
    # with 4 tokens ([CLS] + 2 words + [SEP]) both texts are identical
    np.testing.assert_allclose(short.encode([a]), short.encode([b]), atol=1e-6)
    assert not np.allclose(minilm.encode([a]), minilm.encode([b]), atol=1e-3)


# texts of very different token lengths, in an order that is not their length order
VARIED = ["short one",
          "a much longer text about graph neural networks that pass messages along the edges of a "
          "citation graph and pool token states into one vector per node " * 3,
          "a medium text about cats and sofas",
          None,
          "tiny",
          "another long text: " + "multimodal attributed graphs carry text and images on their nodes. " * 6]


def test_sorted_batching_keeps_vectors_and_order(minilm):
    """Batches formed in length order give every text the vector it gets alone (no padding),
    written back at its own row; unsorted batching gives the same. A wrong write-back (rows in
    length order) would put the long texts' vectors at the short texts' rows."""
    assert minilm.sort_by_length
    sorted_ = minilm.encode(VARIED, batch_size=2, show_progress=False)
    alone = np.concatenate([minilm.encode([t], batch_size=1, show_progress=False) for t in VARIED])
    unsorted = load_text_encoder("minilm", sort_by_length=False).encode(VARIED, batch_size=2, show_progress=False)
    np.testing.assert_allclose(sorted_, alone, atol=1e-5)
    np.testing.assert_allclose(sorted_, unsorted, atol=1e-5)
    # the rows really differ from each other, so a permutation could not pass the checks above
    d = np.linalg.norm(alone[:, None] - alone[None], axis=-1)
    assert (d + np.eye(len(VARIED)) * 9).min() > 0.1


def test_threads_are_set_while_encoding_and_restored(minilm, monkeypatch):
    enc = load_text_encoder("minilm", threads=2)
    seen = []
    real = enc._encode_batch
    monkeypatch.setattr(enc, "_encode_batch", lambda *a: seen.append((torch.get_num_threads(),
                                                                       torch.is_inference_mode_enabled())) or real(*a))
    before = torch.get_num_threads()
    enc.encode(VARIED[:3], batch_size=2, show_progress=False)
    assert seen == [(2, True), (2, True)] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        load_text_encoder("minilm", threads=0)


def test_cache_key_states_max_length_truncation_and_dtype(minilm, tmp_path):
    from graphemb.multimodal.encoders.cache import encoder_options, feature_cache_dir

    opts = encoder_options(minilm)
    assert opts["max_length"] == 256 and opts["truncation"] == "right" and opts["dtype"] == "float32"
    base = feature_cache_dir("g", "text", minilm, tmp_path)
    short = feature_cache_dir("g", "text", load_text_encoder("minilm", max_length=32), tmp_path)
    left = feature_cache_dir("g", "text", load_text_encoder("minilm", truncation="left"), tmp_path)
    assert base.name.startswith("all-MiniLM-L6-v2_256_mean-") and short.name.startswith("all-MiniLM-L6-v2_32_mean-")
    assert len({base, short, left}) == 3
    # threads and length sorting do not change the vectors, hence not the key
    assert feature_cache_dir("g", "text", load_text_encoder("minilm", threads=1, sort_by_length=False),
                             tmp_path) == base


def test_left_truncation_keeps_the_end(minilm):
    """``truncation="left"`` keeps the last tokens: two texts that differ only at the start
    become identical under a 5-token budget ([CLS] + 3 words + [SEP])."""
    left = load_text_encoder("minilm", max_length=5, truncation="left")
    a, b = "alpha beta gamma one two three", "omega omega omega one two three"
    np.testing.assert_allclose(left.encode([a]), left.encode([b]), atol=1e-6)
    right = load_text_encoder("minilm", max_length=5)
    assert not np.allclose(right.encode([a]), right.encode([b]), atol=1e-3)


def test_bfloat16_is_close_to_float32_and_keyed(minilm, tmp_path):
    from graphemb.multimodal.encoders.cache import feature_cache_dir

    bf = load_text_encoder("minilm", dtype="bfloat16")
    x32 = minilm.encode(VARIED, show_progress=False)
    x16 = bf.encode(VARIED, show_progress=False)
    assert x16.dtype == np.float32 and x16.shape == x32.shape
    cos = (x16 * x32).sum(1) / np.linalg.norm(x16, axis=1) / np.linalg.norm(x32, axis=1)
    assert cos.min() > 0.995 and not np.array_equal(x16, x32)
    assert feature_cache_dir("g", "text", bf, tmp_path) != feature_cache_dir("g", "text", minilm, tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        load_text_encoder("minilm", dtype="int4")
