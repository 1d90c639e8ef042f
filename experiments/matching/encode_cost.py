"""What MiniLM's encode costs in `graphemb match run coronacheck` and what the cheaper encodes give.

On a fixed sample of CoronaCheck texts (the first ``--claims`` claims and ``--rows`` rows serialised
``column: value``, as ``best`` encodes them), one thread: CPU seconds of float32 (the default),
bfloat16 (``load_text_encoder(dtype="bfloat16")``, as the MAG encoder can), ``max_length=64`` and
dynamic int8 quantisation of the Linear layers (``torch.ao.quantization.quantize_dynamic``), the
token lengths, and the mean cosine of each encode's vectors to float32's. One record:
``records/encode/minilm@coronacheck.json`` (rendered in SCALE.md).

    PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/encode_cost.py
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = HERE / "records" / "encode" / "minilm@coronacheck.json"


def main() -> int:
    import torch

    from graphemb.matching.datasets import load_matching
    from graphemb.multimodal.encoders.text import load_text_encoder
    from graphemb.utils.io import write_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", type=int, default=500)
    ap.add_argument("--rows", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_matching("coronacheck")
    texts = ds.b.texts()[: args.claims] + ds.a.texts("column: value")[: args.rows]
    base = load_text_encoder("minilm")
    lengths = [len(x) for x in base.tokenizer(texts)["input_ids"]] if base.tokenizer is not None else []

    def run(enc):
        c, w = time.process_time(), time.perf_counter()
        x = np.asarray(enc.encode(texts), dtype=np.float32)
        return x, time.process_time() - c, time.perf_counter() - w

    def quantised():
        enc = load_text_encoder("minilm")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc.model = torch.ao.quantization.quantize_dynamic(enc.model, {torch.nn.Linear}, dtype=torch.qint8)
        return enc

    encoders = {"float32": lambda: base, "bfloat16": lambda: load_text_encoder("minilm", dtype="bfloat16"),
                "float32 max_length 64": lambda: load_text_encoder("minilm", max_length=64),
                "int8 dynamic (Linear)": quantised}
    res, ref = {}, None
    for name, make in encoders.items():
        x, cpu, wall = run(make())
        if ref is None:
            ref = x
        cos = np.sum(x * ref, 1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(ref, axis=1), 1e-12)
        res[name] = {"cpu_s": cpu, "wall_s": wall, "mean_cosine_to_float32": float(cos.mean()),
                     "min_cosine_to_float32": float(cos.min())}
        print(name, {k: round(v, 4) for k, v in res[name].items()}, flush=True)
    rec = {"texts": len(texts), "claims": args.claims, "rows": args.rows,
           "tokens": {"mean": float(np.mean(lengths)), "max": int(np.max(lengths))} if lengths else None,
           "results": res, "threads": 1, "load_avg_1min": os.getloadavg()[0],
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "cpu_flags_bf16": _bf16_flags(),
           "command": "PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python "
                      "experiments/matching/encode_cost.py" + ("" if (args.claims, args.rows) == (500, 100) else
                                                               f" --claims {args.claims} --rows {args.rows}")}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_json(OUT, rec, indent=1)
    return 0


def _bf16_flags() -> list:
    """bfloat16 matrix instructions the CPU reports (``avx512_bf16``, ``amx_bf16``); empty: none."""
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if "bf16" in f)


if __name__ == "__main__":
    raise SystemExit(main())
