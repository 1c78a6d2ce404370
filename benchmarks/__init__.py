"""MedHaven benchmarks: each ``bench_*.py`` compares MedHaven with a named baseline in one run."""
