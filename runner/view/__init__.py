"""``python -m runner.view``: a local, read-only web viewer over the results index."""
