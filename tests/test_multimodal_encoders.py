"""Image and vision-language adapters on tiny randomly initialised CLIP / ViT models saved offline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graphemb.multimodal.encoders.cache import encode_graph
from graphemb.multimodal.encoders.image import load_image_encoder
from graphemb.multimodal.encoders.vlm import load_vlm_encoder
from graphemb.multimodal.synthetic import make_synthetic_mag


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A 1-layer CLIP (16-d towers, 8-d projection) with a byte-level tokenizer, saved to disk."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    try:
        from transformers import CLIPImageProcessorPil as Proc  # transformers >= 5 without torchvision
    except ImportError:  # pragma: no cover
        from transformers import CLIPImageProcessor as Proc
    d = tmp_path_factory.mktemp("tiny-clip")
    chars = _bytes_to_unicode()
    vocab = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[])
    torch.manual_seed(0)
    v = len(vocab)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
                         vocab_size=v, max_position_embeddings=64, bos_token_id=v - 2, eos_token_id=v - 1,
                         pad_token_id=v - 1),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
                           image_size=32, patch_size=8),
        projection_dim=8)
    model = CLIPModel(cfg).eval()
    model.save_pretrained(d)
    tok.save_pretrained(d)
    proc = Proc(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc.save_pretrained(d)
    return d, model, tok, proc


def test_clip_vision_tower_matches_full_model(tiny_clip):
    path, model, _, proc = tiny_clip
    g = make_synthetic_mag(num_nodes=12, seed=1)
    enc = load_image_encoder(str(path))
    assert enc.dim == 8 and enc.name == path.name
    x = enc.encode(g.images[:3] + [None], batch_size=2, show_progress=False)
    pix = proc(images=g.images[:3], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ref = model.get_image_features(pixel_values=pix)
    ref = ref if isinstance(ref, torch.Tensor) else ref.pooler_output
    np.testing.assert_allclose(x[:3], ref.numpy(), atol=1e-5)
    assert np.all(x[3] == 0)  # no image -> zero row


def test_clip_joint_mean_and_concat(tiny_clip):
    path, model, tok, proc = tiny_clip
    g = make_synthetic_mag(num_nodes=12, seed=1)
    pairs = [(g.text[0], g.images[0]), (None, g.images[1]), (g.text[2], None)]
    mean = load_vlm_encoder(str(path)).encode(pairs, show_progress=False)
    cat = load_vlm_encoder(str(path), combine="concat").encode(pairs, show_progress=False)
    with torch.no_grad():
        t = model.get_text_features(**tok([g.text[0], g.text[2]], padding=True, return_tensors="pt"))
        i = model.get_image_features(pixel_values=proc(images=g.images[:2], return_tensors="pt")["pixel_values"])
    t = t if isinstance(t, torch.Tensor) else t.pooler_output
    i = i if isinstance(i, torch.Tensor) else i.pooler_output
    n = torch.nn.functional.normalize
    np.testing.assert_allclose(mean[0], ((n(t[0], dim=0) + n(i[0], dim=0)) / 2).numpy(), atol=1e-5)
    np.testing.assert_allclose(mean[1], n(i[1], dim=0).numpy(), atol=1e-5)  # image only
    np.testing.assert_allclose(mean[2], n(t[1], dim=0).numpy(), atol=1e-5)  # text only
    assert cat.shape == (3, 16)
    np.testing.assert_allclose(cat[0], torch.cat([t[0], i[0]]).numpy(), atol=1e-5)
    assert np.all(cat[1, :8] == 0) and np.all(cat[2, 8:] == 0)


def test_generic_vision_tower_and_graph_cache(tmp_path, cache_dir):
    from transformers import ViTConfig, ViTModel

    try:
        from transformers import ViTImageProcessorPil as Proc
    except ImportError:  # pragma: no cover
        from transformers import ViTImageProcessor as Proc
    torch.manual_seed(0)
    ViTModel(ViTConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
                       image_size=32, patch_size=8)).save_pretrained(tmp_path / "vit")
    Proc(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "vit")
    enc = load_image_encoder(str(tmp_path / "vit"))
    assert enc.dim == 16 and enc.pooling == "pooler"
    g = make_synthetic_mag(num_nodes=12, seed=1)
    key = encode_graph(g, "image", enc, show_progress=False)
    assert key == "image:vit" and g.feature(key).shape == (12, 16) and g.features[key].mask.all()
    files = list(cache_dir.glob("mag-features/*/image/vit_0_pooler/chunk-*.npz"))
    assert len(files) == 1 and json.loads((files[0].parent / "meta.json").read_text())["dim"] == 16
