"""graphemb: multi-level graph representation learning over multimodal data.

``graphemb.Embedder`` is the scikit-learn style estimator (:mod:`graphemb.estimator`);
``graphemb.api`` holds the CLI's verbs; ``graphemb.viz`` draws runs (needs the ``viz`` extra).
"""
__version__ = "0.1.0"

__all__ = ["Embedder", "__version__"]


def __getattr__(name: str):
    # lazy: `import graphemb` (and `graphemb --version`) stays cheap, torch loads on first use
    if name == "Embedder":
        from graphemb.estimator import Embedder

        return Embedder
    raise AttributeError(f"module 'graphemb' has no attribute {name!r}")
