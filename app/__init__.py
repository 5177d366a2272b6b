"""Latentscape desktop explorer: the PySide6 GUI.

Window, viewport, minimap, memory inspector and path editor live here. This package uses
engine/ only through its public API; engine/ never imports this package or any GUI package.
"""
