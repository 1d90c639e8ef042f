"""``graphemb report RUNS... --out report.html``: one self-contained page to share results.

Per run: the key config values, the evaluation table (mean ± std over seeds), the loss curve and
the embedding map; on top, one summary row per run. Images are inline base64 PNGs, styles are
inline: the file opens anywhere without a server or network access.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

PathLike = Union[str, Path]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}
th{background:#f3f3f3} .figs{display:flex;flex-wrap:wrap;gap:1em} .figs img{max-width:520px;border:1px solid #eee}
pre{background:#f7f7f7;padding:.6em;font-size:.8em;overflow:auto;max-height:22em} .muted{color:#777}
"""


def _png(fig) -> str:
    from graphemb.viz.plots import require_matplotlib

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    require_matplotlib().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(rec: Dict[str, Any]) -> str:
    std = rec.get("std")
    return f"{rec['mean']:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def _run_section(run_dir: Path, idx: int, data_root: Optional[str]) -> Dict[str, Any]:
    import yaml

    from graphemb.cli.info import run_info
    from graphemb.viz.plots import plot_embedding, plot_loss

    info = run_info(run_dir)
    e = html.escape
    parts = [f'<section class="run" id="run-{idx}"><h2>{e(run_dir.name)}</h2>',
             f'<p class="muted">{e(str(run_dir))}</p><table class="summary">']
    for k in ("model", "dataset", "task", "preset"):
        parts.append(f"<tr><th>{k}</th><td>{e(str(info[k]))}</td></tr>")
    tr = info["train"]
    if tr:
        parts.append(f"<tr><th>training</th><td>{tr.get('epochs_run')} epochs, best loss {tr.get('best_loss', float('nan')):.4f}, "
                     f"{tr.get('seconds_per_epoch', 0):.3f} s/epoch</td></tr>")
    parts.append("</table>")
    rows = []
    for key, rec in info["evaluation"].items():
        rows.append(f"<tr><td>{e(key)}</td><td>{e(str(rec['metric']))}</td><td>{_fmt(rec)}</td><td>{rec['seeds']}</td></tr>")
    if rows:
        parts.append('<table class="metrics"><tr><th>task/protocol</th><th>metric</th><th>mean ± std</th><th>seeds</th></tr>'
                     + "".join(rows) + "</table>")
    else:
        parts.append('<p class="muted">not evaluated yet (<code>graphemb evaluate RUN_DIR</code>)</p>')
    figs = []
    for kind, make in (("loss", lambda: plot_loss(run_dir)), ("embedding", lambda: plot_embedding(run_dir, data_root=data_root))):
        try:
            figs.append(f'<img class="{kind}" alt="{kind} of {e(run_dir.name)}" src="{_png(make())}">')
        except (ValueError, FileNotFoundError) as err:
            figs.append(f'<p class="muted">no {kind} plot: {e(str(err))}</p>')
    parts.append('<div class="figs">' + "".join(figs) + "</div>")
    parts.append(f"<details><summary>config</summary><pre>{e(yaml.safe_dump(info['config'], sort_keys=False))}</pre></details>")
    parts.append("</section>")
    return {"info": info, "html": "".join(parts)}


def write_report(run_dirs: Sequence[PathLike], out: PathLike, title: str = "graphemb report",
                 data_root: Optional[str] = None) -> Path:
    """Render the runs into one HTML file (see module docstring); returns its path."""
    from graphemb import __version__
    from graphemb.utils.io import atomic_write

    if not run_dirs:
        raise ValueError("no runs given: pass one or more run directories")
    sections = [_run_section(Path(d), i, data_root) for i, d in enumerate(run_dirs)]
    e = html.escape
    head = ['<table class="overview"><tr><th>run</th><th>model</th><th>dataset</th><th>task</th><th>results</th></tr>']
    for i, s in enumerate(sections):
        inf = s["info"]
        res = "; ".join(f"{k} {r['metric']} {_fmt(r)}" for k, r in inf["evaluation"].items()) or "—"
        head.append(f'<tr><td><a href="#run-{i}">{e(Path(inf["run_dir"]).name)}</a></td><td>{e(str(inf["model"]))}</td>'
                    f'<td>{e(str(inf["dataset"]))}</td><td>{e(str(inf["task"]))}</td><td>{e(res)}</td></tr>')
    head.append("</table>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
            f'<p class="muted">{len(sections)} run(s), graphemb {e(__version__)}</p>'
            + "".join(head) + "".join(s["html"] for s in sections) + "</body></html>")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "w") as f:
        f.write(page)
    return out
