"""Benchmarks: `make bench` (or `python -m bench [NAME ...]`) writes bench/RESULTS.md."""
