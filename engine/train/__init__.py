"""Training scripts for the embedded models (run as python -m engine.train.<name>)."""
