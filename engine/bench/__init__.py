"""Benchmarks, importable and run from the `latentscape bench` command."""
