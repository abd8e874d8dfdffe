"""The engine every kind of data shares: compiled training, objectives, models, the run loop and its
folder, sweeps, comparisons, alerts, the GIF, the window and the report."""
