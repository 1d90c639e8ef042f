"""Pictures: loss curves, embedding maps, probe bars, the HTML report (matplotlib from the test extra)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from graphemb import viz  # noqa: E402
from graphemb.cli.main import main  # noqa: E402
from graphemb.training import rundir  # noqa: E402

TINY = ["--set", "train.epochs=3", "--set", "model.encoder.hidden_channels=8", "-q"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A node-level run (evaluated) and a graph-level run, both tiny."""
    root = tmp_path_factory.mktemp("runs")
    node, graph = root / "node-run", root / "graph-run"
    assert main(["train", "isoc-vgae", "--dataset", "synthetic", "--out", str(node), *TINY,
                 "--set", "data.options={num_nodes: 60, feature_dim: 6}"]) == 0
    assert main(["evaluate", str(node), "-q"]) == 0
    assert main(["train", "gae", "--dataset", "synthetic-graphs", "--out", str(graph), *TINY,
                 "--set", "data.options={num_graphs: 24, num_nodes: 8}", "--set", "train.batch_size=8"]) == 0
    return node, graph


def test_loss_plot_draws_every_part_per_epoch(runs):
    node, _ = runs
    hist = rundir.load_metrics(node)["history"]
    fig = viz.plot_loss(node)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    assert set(lines) == set(hist[0])  # the total and each named part
    np.testing.assert_allclose(lines["loss"].get_ydata(), [h["loss"] for h in hist])
    np.testing.assert_array_equal(lines["loss"].get_xdata(), [1, 2, 3])


def test_embedding_map_names_method_colours_by_label_one_point_per_graph(runs):
    from graphemb.api import load_data

    node, graph = runs
    fig = viz.plot_embedding(node)
    ax = fig.axes[0]
    method = "UMAP" if _has("umap") else "t-SNE"
    assert method in ax.get_title() and "60 nodes" in ax.get_title()
    y = load_data(rundir.load_config(node)).data.y.numpy()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [str(c) for c in np.unique(y)]
    pts = ax.collections[0]
    assert pts.get_offsets().shape == (60, 2)
    np.testing.assert_array_equal(pts.get_array(), np.unique(y, return_inverse=True)[1])  # colour = class
    gfig = viz.plot_embedding(graph)
    assert gfig.axes[0].collections[0].get_offsets().shape == (24, 2) and "24 graphs" in gfig.axes[0].get_title()


def test_probe_bars_are_the_recorded_means(runs):
    node, _ = runs
    rec = rundir.load_metrics(node)["evaluation"]["node/linear"]
    fig = viz.plot_probe(node)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights[0] == pytest.approx(rec["mean"])
    with pytest.raises(ValueError, match="graphemb evaluate"):
        viz.plot_probe(runs[1])


def test_plot_cli_png_and_svg(runs, tmp_path, capsys):
    node, _ = runs
    assert main(["plot", str(node), "--kind", "loss", "--out", str(tmp_path / "l.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["kind"] == "loss"
    assert (tmp_path / "l.png").read_bytes()[:8] == PNG
    assert main(["plot", str(node), "--kind", "embedding", "--method", "pca", "--out", str(tmp_path / "e.svg")]) == 0
    assert "<svg" in (tmp_path / "e.svg").read_text()
    assert main(["plot", str(node), "--kind", "loss", "--out", str(tmp_path / "l.jpg")]) == 1
    assert ".png or .svg" in capsys.readouterr().err


def test_clear_message_without_matplotlib(runs, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"graphemb\[viz\]"):
        viz.plot_loss(runs[0])
    assert main(["plot", str(runs[0]), "--out", str(tmp_path / "x.png")]) == 1
    assert "pip install" in capsys.readouterr().err


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sections, self.imgs, self.overview_rows, self._in_overview = [], 0, [], 0, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self.sections += 1
        if tag == "img":
            self.imgs.append(a)
        if tag == "table" and a.get("class") == "overview":
            self._in_overview = True
        if tag == "tr" and self._in_overview:
            self.overview_rows += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_overview = False


def test_report_is_one_self_contained_page(runs, tmp_path):
    node, graph = runs
    assert main(["report", str(node), str(graph), "--out", str(tmp_path / "r.html"), "-q"]) == 0
    text = (tmp_path / "r.html").read_text()
    page = _Page()
    page.feed(text)
    assert page.sections == 2 and page.overview_rows == 3  # header + one row per run
    assert sorted(i["class"] for i in page.imgs) == ["embedding", "embedding", "loss", "loss"]
    for img in page.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == PNG
    # nothing to fetch: no external scripts, styles or images
    assert not [t for t, a in page.tags if t in ("script", "link")]
    assert not re.search(r'(src|href)="(?!data:|#)', text)
    rec = rundir.load_metrics(node)["evaluation"]["node/linear"]
    assert f"{rec['mean']:.4f} ± {rec['std']:.4f}" in text
    assert "isoc-vgae" in text and "synthetic-graphs" in text


def _has(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


@pytest.mark.slow
def test_report_screenshot_in_headless_chromium(runs, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium binary (Debian package `chromium`)")
    import matplotlib.image as mpimg

    node, graph = runs
    page = viz.write_report([node, graph], tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1200,1800", page.resolve().as_uri()], check=True, timeout=120,
                   capture_output=True)
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (1800, 1200)
    dark = (img.mean(-1) < 0.5).mean()  # text, axes and points are drawn: not a blank page
    coloured = (img.std(-1) > 0.15).mean()  # the coloured scatter/loss lines rendered
    assert dark > 0.002 and coloured > 0.001
