"""Outer-layer tools: the ODD and parameter documentation generators, and the benchmark.

They read both the engine and the care-system model, so they sit above both layers
(docs/architecture.md).
"""
