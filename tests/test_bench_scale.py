"""experiments/bench_scale.py: its report is generated from the stored records, and it reads them right."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("graph_bench_scale", ROOT / "experiments" / "bench_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_graph_scale_results_md_is_generated_from_its_records():
    mod = _bench()
    # rerun `python experiments/bench_scale.py --report` (then run_results.py --report-only) if this fails
    assert (ROOT / "experiments" / "scale" / "RESULTS.md").read_text() == mod.report()


def _rec(stage, n=1000, batches=10, total=10, cpu=10.0, embed=2.0, peak=100.0, **kw):
    r = dict(n=n, edges=10 * n, stage=stage, avg_degree=10.0, dim=128, threads=1, fanout="10,5", batch_size=1024,
             width=256, sampler="native", commit="x", command="python experiments/bench_scale.py", batches=batches,
             batches_total=total, batch_nodes=5.0, batch_edges=100.0, train_cpu_s=cpu, train_wall_s=2 * cpu,
             train_peak_rss_mb=peak, embed_cpu_s=embed, embed_wall_s=2 * embed, embed_peak_rss_mb=peak)
    r.update(kw)
    return r


def test_partial_epochs_are_extrapolated_marked_and_ratios_compare_whole_epochs():
    mod = _bench()
    recs = [_rec("isoc-vgae-mini", cpu=30.0), _rec(mod.SAGE, batches=2, total=10, cpu=4.0, embed=1.0)]
    md = mod.report(recs, legacy=[], profiles=[])
    sage_row = next(line for line in md.splitlines() if line.startswith("| 1000 |") and "GraphSAGE" in line)
    assert "| 2 / 10 | 20.0 (extrap.) | 40.0 (extrap.) |" in sage_row  # 4 s for 2 of 10 batches
    isoc_row = next(line for line in md.splitlines() if line.startswith("| 1000 |") and "IsoC-VGAE mini-batch" in line)
    assert "(extrap.)" not in isoc_row and "| 1.50x, 2.00x |" in isoc_row  # 30 / 20 (the epochs), 2 / 1
    assert "not measured yet" in md  # no 1M row


def test_the_1m_target_counts_train_plus_embed_cpu_and_the_peak():
    mod = _bench()
    n = 1_000_000
    ok = mod.report([_rec("isoc-vgae-mini", n=n, cpu=900.0, embed=200.0, peak=7000.0)], legacy=[], profiles=[])
    assert "18.3 min CPU" in ok and "**met**" in ok
    slow = mod.report([_rec("isoc-vgae-mini", n=n, batches=100, total=1000, cpu=100.0, embed=200.0)], legacy=[], profiles=[])
    assert "20.0 min CPU" in slow and "**not met**" in slow and "extrapolated from 100 of 1000 batches" in slow
    fat = mod.report([_rec("isoc-vgae-mini", n=n, cpu=100.0, peak=9000.0)], legacy=[], profiles=[])
    assert "**not met**" in fat
