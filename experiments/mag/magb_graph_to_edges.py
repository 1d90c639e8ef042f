"""Convert a MAGB DGL graph ``<Name>Graph.pt`` into ``<Name>_edges.csv`` (``src,dst`` node ids).

MAGB (github sktsherlock/MAGB) ships each dataset's edges as a DGL binary graph, which only DGL can
read. Run this once on a machine where DGL imports; afterwards ``graphemb`` reads the folder with
no DGL at all (``load_magb`` / ``graphemb mag ...`` prefer ``<Name>_edges.csv``)::

    pip install dgl                       # a build matching your torch
    python experiments/mag/magb_graph_to_edges.py /data/MAGB/Movies          # writes Movies_edges.csv
    python experiments/mag/magb_graph_to_edges.py /data/MAGB/Movies --name Movies --out edges.csv

DGL node ``k`` is the CSV node id ``k`` (the MAGB convention); every directed edge of the DGL graph
becomes one row (the loader symmetrises and de-duplicates). The file is written to a temporary name
and renamed, so an interrupted run leaves no partial file.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def convert(folder: Path, name: str | None = None, out: Path | None = None) -> Path:
    """Write the edges of ``folder/<name>Graph.pt`` to ``out`` (default ``folder/<name>_edges.csv``)."""
    import numpy as np

    name = name or folder.resolve().name
    pt = folder / f"{name}Graph.pt"
    if not pt.is_file():
        raise FileNotFoundError(f"{pt} not found; pass the MAGB dataset folder (and --name if it differs)")
    try:
        from dgl.data.utils import load_graphs
    except Exception as e:  # noqa: BLE001 (DGL fails with ImportError, OSError, RuntimeError...)
        raise ImportError(f"{type(e).__name__}: {e}") from e
    g = load_graphs(str(pt))[0][0]
    src, dst = (t.numpy().astype(np.int64) for t in g.edges())
    out = out or folder / f"{name}_edges.csv"
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        np.savetxt(tmp, np.stack([src, dst], 1), fmt="%d", delimiter=",", header="src,dst", comments="")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"{pt}: {g.num_nodes()} nodes, {len(src)} directed edges -> {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="MAGB dataset folder holding <Name>Graph.pt")
    p.add_argument("--name", default=None, help="dataset name (default: the folder name)")
    p.add_argument("--out", type=Path, default=None, help="output CSV (default <folder>/<Name>_edges.csv)")
    args = p.parse_args(argv)
    try:
        convert(args.folder, args.name, args.out)
    except ImportError as e:
        print(f"error: DGL is needed to read {args.folder}: {e}; pip install dgl", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
