# __init__.py: kvc.eval, quality of kvc-compressed caches on real models and on synthetic data.
"""``python -m kvc.eval``: perplexity (sliding window), KL divergence and top-1 agreement against
the uncompressed cache, needle-in-a-haystack retrieval, bits per element; a markdown table, a
JSON document and a PNG plot. ``--quick-test`` runs a synthetic check (numpy only).
Modules: perplexity, needle, synthetic, report."""
