"""On-demand benchmarks: run with `python -m benchmarks.NAME`; they print figures, they do not assert."""
