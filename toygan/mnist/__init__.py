"""MNIST: the data, the evaluator behind its metrics, digit grids and the probe."""
