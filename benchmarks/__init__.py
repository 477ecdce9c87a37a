"""Benchmarks with same-run baselines; run them with scripts/bench."""
