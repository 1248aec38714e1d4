"""headroom's benchmarks: plain scripts, run from the repository root (see BENCHMARKS.md)."""
