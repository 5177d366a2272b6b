"""Latentscape engine: world generation and latent spatial memory (pure torch / numpy)."""

__version__ = "0.1.0"
