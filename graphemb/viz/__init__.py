"""Pictures of runs: loss curves, 2-D embedding maps, probe results, and an HTML report.

>>> from graphemb import viz
>>> fig = viz.plot_loss("runs/cora")                  # loss and its parts per epoch
>>> fig = viz.plot_embedding("runs/cora")             # UMAP (umap-learn) or t-SNE, coloured by label
>>> viz.save(fig, "cora.png")                         # .png or .svg
>>> viz.write_report(["runs/cora", "runs/mutag"], "report.html")

Needs matplotlib (``pip install "graphemb[viz]"``); without it every function raises an
``ImportError`` saying so. The same from the command line: ``graphemb plot`` / ``graphemb report``.
"""
from graphemb.viz.plots import (PLOT_KINDS, embedding_2d, plot, plot_embedding, plot_loss, plot_probe,
                                require_matplotlib, save)
from graphemb.viz.report import write_report

__all__ = ["PLOT_KINDS", "embedding_2d", "plot", "plot_embedding", "plot_loss", "plot_probe", "require_matplotlib",
           "save", "write_report"]
