"""Scale benchmark on generated graphs: build time, seconds per epoch and peak RSS.

For each size N (avg degree 10, 128 features, 10 classes) one subprocess per stage, so each
peak RSS is that stage's own:

* ``build``: :func:`graphemb.data.synthetic.make_sbm` (O(E) degree-corrected SBM);
* ``isoc-vgae`` / ``sage``: one mini-batch training epoch (fan-out ``--fanout``, batch
  ``--batch-size``, width ``--width``) plus layer-wise embedding of every node, reported with
  the PyG GraphSAGE + NeighborLoader baseline (``sage``) as reference in the same run.

    nice -n 10 python experiments/bench_scale.py --sizes 10000,100000,1000000 --stages build
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD_BUILD = r"""
import json, resource, time, torch
torch.set_num_threads({threads})
from graphemb.data.synthetic import make_sbm
t = time.perf_counter()
d = make_sbm(num_nodes={n}, avg_degree={deg}, feature_dim={dim}, num_classes=10, seed=0)
dt = time.perf_counter() - t
print(json.dumps({{"stage": "build", "n": d.num_nodes, "edges": int(d.edge_index.size(1)), "seconds": dt,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

CHILDREN = {"build": CHILD_BUILD}


def run_child(stage: str, **kw) -> dict:
    code = CHILDREN[stage].format(**kw)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        return {"stage": stage, "n": kw["n"], "error": out.stderr.strip().splitlines()[-1][:200]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--stages", default="build")
    p.add_argument("--avg-degree", type=float, default=10)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for stage in args.stages.split(","):
            r = run_child(stage, n=n, deg=args.avg_degree, dim=args.dim, threads=args.threads)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    print(f"avg degree {args.avg_degree}, {args.dim} features, {args.threads} thread(s)")
    print("| N | stage | directed edges | seconds | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['n']} | {r['stage']} | error: {r['error']} | | |")
        else:
            print(f"| {r['n']} | {r['stage']} | {r['edges']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
