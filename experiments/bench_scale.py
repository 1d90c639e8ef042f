"""Scale benchmark on generated graphs: build time, seconds per epoch and peak RSS.

For each size N (avg degree 10, 128 features, 10 classes) one subprocess per stage, so each
peak RSS is that stage's own:

* ``build``: :func:`graphemb.data.synthetic.make_sbm` (O(E) degree-corrected SBM);
* ``isoc-mini`` / ``isoc-full``: one IsoC-VGAE training epoch, mini-batch (fan-out
  ``--fanout``, batch ``--batch-size`` seeds, sampler ``--sampler``) or full batch, width
  ``--width``, then layer-wise embedding of every node (chunks of 65536 nodes);
* ``sage``: the reference, PyG GraphSAGE (2 layers, same width) + ``NeighborLoader`` with the
  same fan-out and batch (supervised cross-entropy on the seeds), then PyG's layer-wise
  ``inference``; the table gives each run's ratio to it (same N, same machine, same run).

    nice -n 10 python experiments/bench_scale.py --sizes 10000,100000,1000000 --stages build
    nice -n 10 python experiments/bench_scale.py --sizes 10000,100000 --stages sage,isoc-mini,isoc-full
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

_GRAPH = r"""
import json, resource, time, torch
torch.set_num_threads({threads})
from graphemb.data.synthetic import make_sbm
data = make_sbm(num_nodes={n}, avg_degree={deg}, feature_dim={dim}, num_classes=10, seed=0)
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

CHILD_ISOC = _GRAPH + r"""
from graphemb.config import build_run_config
from graphemb.models import MODELS
from graphemb.training.trainer import fit
from graphemb.training.inference import embed_nodes_layerwise
mini = {mini}
over = ["train.epochs=1", "train.progress=false", "model.encoder.hidden_channels={width}"]
if mini:
    over += ["train.num_neighbors=[{fanout}]", "train.batch_size={batch}", "train.sampler={sampler}"]
cfg = build_run_config("isoc-vgae", dataset="synthetic", overrides=over)
torch.manual_seed(0)
model = MODELS.get("isoc-vgae").from_config(data.x.size(1), cfg.model)
t = time.perf_counter(); res = fit(model, data, cfg.train); train_s = time.perf_counter() - t
t = time.perf_counter(); z = embed_nodes_layerwise(model, data, chunk_size=65536); embed_s = time.perf_counter() - t
print(json.dumps({{"stage": "isoc-vgae-" + ("mini" if mini else "full"), "n": data.num_nodes,
                  "edges": int(data.edge_index.size(1)), "seconds": train_s, "embed_seconds": embed_s,
                  "loss": res.history[-1]["loss"], "peak_rss_mb": rss_mb()}}))
"""

CHILD_SAGE = _GRAPH + r"""
import torch.nn.functional as F
from torch_geometric.loader import NeighborLoader
from torch_geometric.nn import GraphSAGE
torch.manual_seed(0)
model = GraphSAGE(data.x.size(1), {width}, num_layers=2, out_channels=10)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
loader = NeighborLoader(data, num_neighbors=[{fanout}], batch_size={batch}, shuffle=True)
t = time.perf_counter()
model.train()
for b in loader:
    opt.zero_grad()
    out = model(b.x, b.edge_index)[:b.batch_size]
    loss = F.cross_entropy(out, b.y[:b.batch_size])
    loss.backward(); opt.step()
train_s = time.perf_counter() - t
full = NeighborLoader(data, num_neighbors=[-1], batch_size=65536, shuffle=False)
model.eval()
t = time.perf_counter(); z = model.inference(full, progress_bar=False); embed_s = time.perf_counter() - t
print(json.dumps({{"stage": "pyg-sage-mini", "n": data.num_nodes, "edges": int(data.edge_index.size(1)),
                  "seconds": train_s, "embed_seconds": embed_s, "loss": float(loss), "peak_rss_mb": rss_mb()}}))
"""

CHILDREN = {"build": CHILD_BUILD, "isoc-mini": CHILD_ISOC, "isoc-full": CHILD_ISOC, "sage": CHILD_SAGE}


def run_child(stage: str, **kw) -> dict:
    code = CHILDREN[stage].format(mini=stage != "isoc-full", **kw)
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
    p.add_argument("--fanout", default="10,5")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--sampler", default="native")
    args = p.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        for stage in args.stages.split(","):
            r = run_child(stage, n=n, deg=args.avg_degree, dim=args.dim, threads=args.threads,
                          fanout=args.fanout, batch=args.batch_size, width=args.width, sampler=args.sampler)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    print(f"avg degree {args.avg_degree}, {args.dim} features, {args.threads} thread(s); training: fan-out "
          f"[{args.fanout}], batch {args.batch_size}, width {args.width}, sampler {args.sampler}; one epoch")
    print("| N | stage | directed edges | seconds (build / train epoch) | embed all nodes (s) | "
          "ratio to pyg-sage (train, embed) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    ref = {r["n"]: r for r in rows if r.get("stage") == "pyg-sage-mini"}
    for r in rows:
        if "error" in r:
            print(f"| {r['n']} | {r['stage']} | error: {r['error']} | | | | |")
            continue
        emb = f"{r['embed_seconds']:.1f}" if "embed_seconds" in r else ""
        ratio = ""
        if "embed_seconds" in r and r["n"] in ref:
            b = ref[r["n"]]
            ratio = f"{r['seconds'] / b['seconds']:.2f}x, {r['embed_seconds'] / b['embed_seconds']:.2f}x"
        print(f"| {r['n']} | {r['stage']} | {r['edges']} | {r['seconds']:.1f} | {emb} | {ratio} | "
              f"{r['peak_rss_mb']:.0f} |")

if __name__ == "__main__":
    main()
