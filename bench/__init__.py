"""Benchmarks: `make bench` (full) and `make bench-smoke` (tiny sizes, what CI runs); see docs/benchmarks.md."""
