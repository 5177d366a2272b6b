"""Where the project's own files are: sample scenes, embedded model weights and shaders.

From a checkout or an installed tree they sit beside the packages (ROOT is the folder that
holds engine/). In the desktop bundle (packaging/latentscape.spec, PyInstaller) they are
copied into the bundle's data folder, which PyInstaller names in `sys._MEIPASS`.
"""

import sys
from pathlib import Path


def _root() -> Path:
    """The folder holding assets/ and shaders/: the bundle's data folder when frozen by
    PyInstaller, else the one above this package."""
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


ROOT = _root()
ASSETS = ROOT / "assets"
SCENES = ASSETS / "scenes"
MODELS = ASSETS / "models"
SHADERS = ROOT / "shaders"  # read by app/renderer.py; engine/ itself draws nothing
