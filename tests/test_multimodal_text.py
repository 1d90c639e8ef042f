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
