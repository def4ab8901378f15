"""Benchmarks: ``python -m bench [name ...]`` (``make bench``). Helpers live in ``bench.common``."""
