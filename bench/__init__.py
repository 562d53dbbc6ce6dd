"""Benchmarks (not tests): run them as scripts, see bench/README.md."""
