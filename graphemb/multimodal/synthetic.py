"""A synthetic multimodal attributed graph (no files, no weights) with complementary modalities.

Each class is a pair ``c = (topic, colour)`` with ``topic = c // num_colours`` and
``colour = c % num_colours``:

* **text** (templates): names the topic reliably (topic words; with probability ``text_noise``
  the words of a random other topic) but the colour only weakly (a few style words among
  neutral filler), so text alone confuses classes that share a topic;
* **image** (32x32 RGB, PIL): a shape on a noisy background; the fill colour gives the colour
  reliably (flipped with probability ``image_noise``), the shape gives the topic only weakly
  (right with probability ``shape_signal``), so images alone confuse classes that share a colour;
* **graph**: a homophilous stochastic block model (fraction ``homophily`` of edges inside a
  class), so neighbourhoods carry the most signal.

Fusing text and image beats either alone; graph models beat the MLP.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from graphemb.multimodal.data import MultimodalGraph

__all__ = ["make_synthetic_mag", "parse_synthetic_spec", "render_image"]

TOPIC_WORDS = [
    ["football", "goal", "stadium", "coach", "league", "match", "striker", "referee"],
    ["recipe", "oven", "flour", "garlic", "simmer", "kitchen", "spice", "bake"],
    ["guitar", "melody", "concert", "album", "drummer", "chorus", "violin", "song"],
    ["planet", "telescope", "orbit", "galaxy", "rocket", "astronaut", "comet", "nebula"],
    ["garden", "tulip", "soil", "seedling", "compost", "orchard", "blossom", "hedge"],
    ["laptop", "keyboard", "software", "server", "compiler", "network", "monitor", "chip"],
]
STYLE_WORDS = [
    ["bright", "vivid", "warm", "fiery"],
    ["calm", "cool", "deep", "misty"],
    ["pale", "soft", "faded", "gentle"],
    ["bold", "dark", "heavy", "strong"],
]
FILLER = ["item", "thing", "product", "nice", "good", "with", "and", "very", "new", "great", "for", "the",
          "really", "some", "daily", "use", "set", "kind", "one", "more"]
TEMPLATES = [
    "A {s} {t0} with a {t1} and {f0} {f1}.",
    "{f0} {t0} {f1} for {s} {t1} {f2}.",
    "This {f0} is about the {t0}, {f1} {s} {t1}.",
    "{t0} and {t1}: a {s} {f0} {f1} {f2}.",
]
COLOURS = np.array([[220, 40, 40], [40, 70, 220], [40, 180, 60], [200, 180, 30]], dtype=np.float64)
SHAPES = ("circle", "square", "triangle", "cross", "diamond", "bar")


def render_image(shape: str, colour: np.ndarray, rng: np.random.Generator, size: int = 32):
    """A ``size x size`` RGB PIL image: noisy grey background, one filled shape of ``colour``."""
    from PIL import Image, ImageDraw

    bg = rng.normal(128, 30, size=(size, size, 3)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    d = ImageDraw.Draw(img)
    fill = tuple(int(v) for v in np.clip(colour + rng.normal(0, 25, 3), 0, 255))
    m = size // 6 + int(rng.integers(0, 3))
    a, b = m, size - m
    if shape == "circle":
        d.ellipse([a, a, b, b], fill=fill)
    elif shape == "square":
        d.rectangle([a, a, b, b], fill=fill)
    elif shape == "triangle":
        d.polygon([(size // 2, a), (a, b), (b, b)], fill=fill)
    elif shape == "cross":
        w = size // 8
        d.rectangle([size // 2 - w, a, size // 2 + w, b], fill=fill)
        d.rectangle([a, size // 2 - w, b, size // 2 + w], fill=fill)
    elif shape == "diamond":
        d.polygon([(size // 2, a), (b, size // 2), (size // 2, b), (a, size // 2)], fill=fill)
    else:
        d.rectangle([a, size // 2 - size // 8, b, size // 2 + size // 8], fill=fill)
    return img


def _sbm_edges(y: np.ndarray, num_classes: int, avg_degree: float, homophily: float,
               rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    m = int(round(n * avg_degree / 2))
    order = np.argsort(y, kind="stable")
    counts = np.bincount(y, minlength=num_classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    src = rng.integers(0, n, m)
    same = rng.random(m) < homophily
    tgt_class = np.where(same, y[src], (y[src] + rng.integers(1, num_classes, m)) % num_classes)
    dst = order[starts[tgt_class] + (rng.random(m) * counts[tgt_class]).astype(np.int64)]
    return np.stack([src, dst])


def make_synthetic_mag(num_nodes: int = 600, num_topics: int = 3, num_colours: int = 2, *,
                       avg_degree: float = 4.0, homophily: float = 0.6, text_noise: float = 0.15,
                       style_rate: float = 0.15, image_noise: float = 0.12, shape_signal: float = 0.5,
                       image_size: int = 32, seed: int = 0) -> MultimodalGraph:
    """Generate the synthetic MAG (see module doc); ``num_topics * num_colours`` classes.

    Args:
        num_nodes: nodes (default 600); ids are ``0..N-1``.
        num_topics: text topics (<= 6); num_colours: image colours (<= 4).
        avg_degree: expected degree of the SBM (default 6); homophily: intra-class edge share.
        text_noise: chance a node's topic words come from another topic.
        style_rate: chance that the colour-style slot holds a class-specific word (else filler).
        image_noise: chance the fill colour is another class's; shape_signal: chance the
            shape matches the topic (else a random shape).
        seed: everything is drawn from ``numpy.random.default_rng(seed)``.
    Returns:
        a ``MultimodalGraph`` with ``text``, in-memory ``images`` (PIL) and labels.
    """
    if not (1 <= num_topics <= len(TOPIC_WORDS) and 1 <= num_colours <= len(COLOURS)):
        raise ValueError(f"num_topics must be in 1..{len(TOPIC_WORDS)} and num_colours in 1..{len(COLOURS)}")
    k = num_topics * num_colours
    if k < 2 or num_nodes < 2 * k:
        raise ValueError(f"need at least 2 classes and 2 nodes per class, got {k} classes, {num_nodes} nodes")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_nodes) % k)
    topic, colour = y // num_colours, y % num_colours
    edges = _sbm_edges(y, k, avg_degree, homophily, rng)

    shown_topic = np.where(rng.random(num_nodes) < text_noise,
                           (topic + rng.integers(1, max(num_topics, 2), num_nodes)) % num_topics, topic)
    texts = []
    for i in range(num_nodes):
        tw = rng.choice(TOPIC_WORDS[shown_topic[i]], 2, replace=False)
        style = rng.choice(STYLE_WORDS[colour[i]]) if rng.random() < style_rate else rng.choice(FILLER)
        f = rng.choice(FILLER, 3)
        tpl = TEMPLATES[rng.integers(len(TEMPLATES))]
        texts.append(tpl.format(t0=tw[0], t1=tw[1], s=style, f0=f[0], f1=f[1], f2=f[2]))

    shown_colour = np.where(rng.random(num_nodes) < image_noise,
                            (colour + rng.integers(1, max(num_colours, 2), num_nodes)) % num_colours, colour)
    shape_idx = np.where(rng.random(num_nodes) < shape_signal, topic, rng.integers(0, num_topics, num_nodes))
    images = [render_image(SHAPES[shape_idx[i]], COLOURS[shown_colour[i]], rng, image_size) for i in range(num_nodes)]

    params = dict(num_nodes=num_nodes, num_topics=num_topics, num_colours=num_colours, avg_degree=avg_degree,
                  homophily=homophily, text_noise=text_noise, style_rate=style_rate, image_noise=image_noise,
                  shape_signal=shape_signal, image_size=image_size, seed=seed)
    defaults = make_synthetic_mag.__kwdefaults__ | {"num_nodes": 600, "num_topics": 3, "num_colours": 2}
    tag = "".join(f"-{k_}={v}" for k_, v in params.items() if defaults.get(k_) != v)
    names = [f"{TOPIC_WORDS[t][0]}/{['red', 'blue', 'green', 'yellow'][c]}" for t in range(num_topics)
             for c in range(num_colours)]
    return MultimodalGraph(node_ids=np.arange(num_nodes), edge_index=torch.as_tensor(edges), y=torch.as_tensor(y),
                           text=texts, images=images, label_names=names, name=f"synthetic-mag{tag}")


_SPEC_KEYS = {"n": "num_nodes", "num_nodes": "num_nodes", "topics": "num_topics", "colours": "num_colours",
              "degree": "avg_degree", "homophily": "homophily", "seed": "seed", "text_noise": "text_noise",
              "image_noise": "image_noise", "shape_signal": "shape_signal", "style_rate": "style_rate"}


def parse_synthetic_spec(spec: str) -> dict[str, Any]:
    """``"synthetic-mag:n=300,seed=2,homophily=0.7"`` -> keyword arguments of :func:`make_synthetic_mag`."""
    _, _, rest = spec.partition(":")
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq or key not in _SPEC_KEYS:
            raise ValueError(f"bad synthetic-mag option {item!r}; use key=value with keys {sorted(_SPEC_KEYS)}")
        arg = _SPEC_KEYS[key]
        out[arg] = int(val) if arg in ("num_nodes", "num_topics", "num_colours", "seed") else float(val)
    return out
