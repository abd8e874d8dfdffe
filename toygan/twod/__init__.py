"""2-D data: Gaussian mixtures, point files and the classic toy sets; their metrics, frames and probe."""
