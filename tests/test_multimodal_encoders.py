"""Image and vision-language adapters on tiny randomly initialised CLIP / ViT models saved offline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graphemb.multimodal.encoders.cache import encode_graph
from graphemb.multimodal.encoders.image import load_image_encoder
from graphemb.multimodal.encoders.vlm import load_vlm_encoder
from graphemb.multimodal.synthetic import COLOURS, make_synthetic_mag, render_image


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
    files = list(cache_dir.glob("mag-features/*/image/vit_0_pooler-*/chunk-*.npz"))
    assert len(files) == 1 and json.loads((files[0].parent / "meta.json").read_text())["dim"] == 16


# --- generic VLM adapter ("mean of the last hidden state") on a tiny random LLaVA -----------------
# Qwen2-VL's processor cannot be built here: transformers requires a video processor for it, and
# video processors need torchvision (not installed). LLaVA (CLIP vision tower + Llama) needs none.
VLM_WORDS = "a the red blue cat dog with and of football USER : ASSISTANT".split()
VLM_TEMPLATE = ("{% for m in messages %}{{ m['role'] | upper }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}")


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    """A 1-layer LLaVA (16-d CLIP vision tower, 32-d Llama), word-level tokenizer, saved to disk."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast

    try:
        from transformers import CLIPImageProcessorPil as Proc
    except ImportError:  # pragma: no cover
        from transformers import CLIPImageProcessor as Proc
    d = tmp_path_factory.mktemp("tiny-llava")
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<image>"] + VLM_WORDS)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", unk_token="<unk>",
                                  additional_special_tokens=["<image>"])
    # 32x32 image, 8x8 patches -> 16 patch tokens (+ CLS, dropped by the "default" strategy)
    proc = LlavaProcessor(image_processor=Proc(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                          tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1)
    cfg = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=16, intermediate_size=32, num_attention_heads=2,
                           num_hidden_layers=1, image_size=32, patch_size=8),
        text_config=dict(model_type="llama", vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=128, pad_token_id=0),
        image_token_id=vocab["<image>"], vision_feature_layer=-1, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(cfg).eval()
    model.save_pretrained(d)
    proc.save_pretrained(d)
    rng = np.random.default_rng(2)
    images = [render_image("circle", COLOURS[0], rng), render_image("square", COLOURS[1], rng)]
    return d, model, proc, images


def _hidden_mean(model, proc, texts, images) -> np.ndarray:
    """Reference: one padded batch straight through the in-memory model, mean over real tokens."""
    inputs = proc(text=texts, images=images, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model.model(**inputs).last_hidden_state
    m = inputs["attention_mask"].unsqueeze(-1).float()
    assert m.sum(1).unique().numel() > 1  # the batch really has padding
    return ((h * m).sum(1) / m.sum(1)).numpy()


def test_vlm_mean_encoder_is_masked_hidden_mean_and_batch_invariant(tiny_llava):
    from graphemb.multimodal.encoders.vlm import VLMMeanEncoder

    path, model, proc, (im0, im1) = tiny_llava
    enc = load_vlm_encoder(str(path))  # auto: not CLIP -> generic VLM adapter
    assert isinstance(enc, VLMMeanEncoder) and enc.dim == 32 and not enc.use_chat_template
    pairs = [("a red cat", im0), ("the blue dog with a football", None), ("dog", im1)]
    x = enc.encode(pairs, show_progress=False)
    assert x.shape == (3, 32) and x.dtype == np.float32
    # the image token goes in front of the text when there is an image and no chat template
    assert enc.format("dog", True) == "<image>dog" and enc.format("dog", False) == "dog"
    ref = _hidden_mean(model, proc, ["<image>a red cat", "the blue dog with a football", "<image>dog"], [im0, im1])
    np.testing.assert_allclose(x, ref, atol=1e-5)
    # batch invariance: alone, or in another order, a node gets the same vector
    np.testing.assert_allclose(enc.encode([pairs[2]], show_progress=False)[0], x[2], atol=1e-6)
    np.testing.assert_allclose(enc.encode(pairs[::-1], show_progress=False)[::-1], x, atol=1e-6)
    # the image is really seen
    assert not np.allclose(enc.encode([("dog", None)], show_progress=False)[0], x[2], atol=1e-3)


def test_vlm_mean_encoder_chat_template_truncation_and_bad_prompt(tiny_llava):
    from graphemb.multimodal.encoders.vlm import VLMMeanEncoder

    path, model, proc, (im0, _) = tiny_llava
    base = load_vlm_encoder(str(path))
    base.processor.chat_template = VLM_TEMPLATE
    enc = VLMMeanEncoder("tiny", base.model, base.processor, max_length=3, device=torch.device("cpu"), dim=32)
    assert enc.use_chat_template  # None -> use the processor's template
    assert enc.format("the blue dog with a football", True) == "USER: <image>\nthe blue dog"  # cut to 3 tokens
    x = enc.encode([("the blue dog with a football", im0), ("cat", None)], show_progress=False)
    ref = _hidden_mean(model, proc, ["USER: <image>\nthe blue dog", "USER: cat"], [im0])
    np.testing.assert_allclose(x, ref, atol=1e-5)
    with pytest.raises(ValueError, match="must contain"):
        VLMMeanEncoder("tiny", base.model, base.processor, max_length=8, device=torch.device("cpu"), dim=32,
                       prompt="describe the node")
