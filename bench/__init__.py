"""Benchmarks of runner against real local servers: ``python -m bench`` writes BENCHMARKS.md."""
