"""Benchmarks: speed and quality targets, measured by `make bench`, never asserted in tests."""
