"""Text-encoding speed on CiteSeer-TAG, before and after issue 12 §2, in one process.

"before" is the text encoder as it was on main before the change (commit ``--before``, loaded
from git history, not a copy): batches in input order, padded to their longest text, under
``torch.no_grad``. "after" is the current encoder: texts tokenised once, batched in length order
(output order restored), ``torch.inference_mode``, threads set explicitly; once in float32 (the
default, the same vectors) and once in bfloat16 (``dtype="bfloat16"``). All variants run on the
same seeded sample of documents, with the same thread count, back to back and interleaved over
``--rounds`` rounds (the machine is shared, so interleaving spreads its load over every variant);
documents per second is the best round of each. Also recorded: how far the vectors of each
variant are from "before" (max |difference|, min cosine).

    python experiments/mag/bench_encode.py --threads 2 --docs 384 --rounds 2

Writes ``experiments/mag/bench_encode.json`` (read by experiments/mag/make_results.py).
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "bench_encode.json"
BEFORE = "7355d04"  # main before issue 12


def load_old_text_module(commit: str):
    """The text-encoder module as it was at ``commit`` (read with ``git show``), imported under
    a private name."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:graphemb/multimodal/encoders/text.py"],
                         check=True, capture_output=True, text=True).stdout
    tmp = Path(tempfile.mkdtemp()) / "old_text.py"
    tmp.write_text(src)
    spec = importlib.util.spec_from_file_location("graphemb_old_text_encoder", tmp)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "mag" / "CiteSeer-TAG"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--docs", type=int, default=384, help="documents sampled (seeded) from the dataset")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--before", default=BEFORE, help="commit whose text encoder is 'before'")
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)

    from graphemb.multimodal.data import load_mag
    from graphemb.multimodal.encoders.text import load_text_encoder
    from graphemb.utils.io import write_json

    torch.set_num_threads(a.threads)
    g = load_mag(a.dataset)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(g.num_nodes, size=min(a.docs, g.num_nodes), replace=False))
    texts = [g.text[i] for i in pick]
    old = load_old_text_module(a.before).load_text_encoder("minilm", max_length=a.max_length)
    variants = {
        "before": old,
        "after_float32": load_text_encoder("minilm", max_length=a.max_length, threads=a.threads),
        "after_bfloat16": load_text_encoder("minilm", max_length=a.max_length, threads=a.threads, dtype="bfloat16"),
    }
    times: dict = {k: [] for k in variants}
    vecs: dict = {}
    for _ in range(a.rounds):
        for k, enc in variants.items():
            t0 = time.perf_counter()
            vecs[k] = enc.encode(texts, batch_size=a.batch_size, show_progress=False)
            times[k].append(time.perf_counter() - t0)
    tokens = variants["after_float32"].tokenizer(texts, truncation=True, max_length=a.max_length)["input_ids"]
    lengths = np.array([len(t) for t in tokens])
    ref = vecs["before"]
    rec = {"dataset": g.name, "docs": len(texts), "sample_seed": 0, "threads": a.threads, "rounds": a.rounds,
           "batch_size": a.batch_size, "max_length": a.max_length, "before_commit": a.before,
           "tokens": int(lengths.sum()), "truncated_docs": int((lengths == a.max_length).sum()),
           "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
           "command": "python experiments/mag/bench_encode.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "variants": {}}
    for k in variants:
        best = min(times[k])
        v = vecs[k]
        cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
        rec["variants"][k] = {"seconds": times[k], "docs_per_second": len(texts) / best,
                              "speedup_vs_before": min(times["before"]) / best,
                              "max_abs_diff_vs_before": float(np.abs(v - ref).max()),
                              "min_cosine_vs_before": float(cos.min())}
    write_json(a.out, rec, indent=1)
    for k, r in rec["variants"].items():
        print(f"{k}: {r['docs_per_second']:.2f} docs/s ({r['speedup_vs_before']:.2f}x), "
              f"max |diff| {r['max_abs_diff_vs_before']:.2e}, min cos {r['min_cosine_vs_before']:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
