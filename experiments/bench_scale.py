"""Scale benchmark on generated graphs: build time, seconds per epoch, embedding time, peak RSS.

For each size N (avg degree 10, 128 features, 10 classes) one subprocess builds the graph
(:func:`graphemb.data.synthetic.make_sbm`, O(E)) and then runs the chosen stages in order, in
the same process, so the ratios compare runs under the same machine load:

* ``isoc-mini``: one IsoC-VGAE training epoch on seed mini-batches (fan-out ``--fanout``,
  ``--batch-size`` seeds, ``--sampler``), width ``--width``, then layer-wise embedding of every
  node (chunks of 65536 nodes);
* ``isoc-full``: the same epoch full batch (where it fits), then the same embedding;
* ``sage``: the reference, PyG GraphSAGE (2 layers, same width) + ``NeighborLoader`` with the
  same fan-out and batch (cross-entropy on the seeds), then PyG's layer-wise ``inference``.

Peak RSS is the process's peak so far (build included), so list the stage of interest first.

    nice -n 10 python experiments/bench_scale.py --sizes 10000,100000,1000000 --stages build
    nice -n 10 python experiments/bench_scale.py --sizes 10000,100000 --stages isoc-mini,sage,isoc-full
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads({threads})
from graphemb.data.synthetic import make_sbm

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def emit(**r):
    print(json.dumps(dict(n={n}, **r)), flush=True)

t = time.perf_counter()
data = make_sbm(num_nodes={n}, avg_degree={deg}, feature_dim={dim}, num_classes=10, seed=0)
E = int(data.edge_index.size(1))
emit(stage="build", edges=E, seconds=time.perf_counter() - t, peak_rss_mb=rss_mb())

def isoc(mini):
    from graphemb.config import build_run_config
    from graphemb.models import MODELS
    from graphemb.training.inference import embed_nodes_layerwise
    from graphemb.training.trainer import fit
    over = ["train.epochs=1", "train.progress=false", "model.encoder.hidden_channels={width}"]
    if mini:
        over += ["train.num_neighbors=[{fanout}]", "train.batch_size={batch}", "train.sampler={sampler}"]
    cfg = build_run_config("isoc-vgae", dataset="synthetic", overrides=over)
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(data.x.size(1), cfg.model)
    t = time.perf_counter(); res = fit(model, data, cfg.train); train_s = time.perf_counter() - t
    t = time.perf_counter(); embed_nodes_layerwise(model, data, chunk_size=65536); embed_s = time.perf_counter() - t
    emit(stage="isoc-vgae-" + ("mini" if mini else "full"), edges=E, seconds=train_s, embed_seconds=embed_s,
         loss=res.history[-1]["loss"], peak_rss_mb=rss_mb())

def sage():
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
        loss = F.cross_entropy(model(b.x, b.edge_index)[:b.batch_size], b.y[:b.batch_size])
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t
    model.eval()
    full = NeighborLoader(data, num_neighbors=[-1], batch_size=65536, shuffle=False)
    t = time.perf_counter(); model.inference(full, progress_bar=False); embed_s = time.perf_counter() - t
    emit(stage="pyg-sage-mini", edges=E, seconds=train_s, embed_seconds=embed_s, loss=float(loss),
         peak_rss_mb=rss_mb())

for stage in {stages!r}:
    try:
        {{"isoc-mini": lambda: isoc(True), "isoc-full": lambda: isoc(False), "sage": sage}}[stage]()
    except Exception as e:  # e.g. out of memory at full batch: report it, keep the other stages
        emit(stage=stage, error=f"{{type(e).__name__}}: {{str(e)[:150]}}")
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--stages", default="build", help="build alone, or isoc-mini,isoc-full,sage in run order")
    p.add_argument("--avg-degree", type=float, default=10)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fanout", default="10,5")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--sampler", default="native")
    args = p.parse_args()
    stages = [s for s in args.stages.split(",") if s != "build"]
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        code = CHILD.format(n=n, deg=args.avg_degree, dim=args.dim, threads=args.threads, fanout=args.fanout,
                            batch=args.batch_size, width=args.width, sampler=args.sampler, stages=stages)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            if line.startswith("{"):
                rows.append(json.loads(line))
                print(line.strip(), file=sys.stderr, flush=True)
        if proc.wait():
            rows.append({"n": n, "stage": "(process)", "error": f"exit code {proc.returncode}"})
    print(f"avg degree {args.avg_degree}, {args.dim} features, {args.threads} thread(s); training: fan-out "
          f"[{args.fanout}], batch {args.batch_size}, width {args.width}, sampler {args.sampler}; one epoch")
    print("| N | stage | directed edges | seconds (build / train epoch) | embed all nodes (s) | "
          "ratio to pyg-sage (train, embed) | peak RSS so far (MB) |")
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
