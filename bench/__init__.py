"""Benchmarks of the real-time spine, run by `make bench` (`python -m bench`).

Each benchmark prints exactly one JSON line of figures to stdout; progress goes to stderr.
They run against their own database (`<name>_bench`, derived from DATABASE_URL) and their
own Redis key prefix, so they never touch development data. docs/benchmarks.md records a run.
"""
