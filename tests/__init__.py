"""Test suite; a package so that tests/engine/ can never shadow the real engine package."""
