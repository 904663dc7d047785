"""Benchmarks: throughput and scaling of the world (run as python -m bench.<name>)."""
