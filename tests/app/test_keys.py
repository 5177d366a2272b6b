"""app.keys: every control declared once; the menus, the help overlay and the README agree."""

from pathlib import Path

import pytest
from PySide6.QtGui import QKeySequence

from app.keys import BINDINGS, binding, help_rows, markdown_table
from app.viewport import CONTROLS

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_the_controls_as_declared():
    """Regenerate with `python -m app.keys` when a binding changes."""
    assert markdown_table() in (ROOT / "README.md").read_text()


def test_no_two_actions_share_a_key_and_lookups_name_the_unknown():
    keys = [k for b in BINDINGS for k in b.shortcuts]
    assert len(keys) == len(set(keys))
    assert all(not QKeySequence(k).isEmpty() for k in keys)
    assert binding("save_world").shortcuts == ["Ctrl+S"]
    with pytest.raises(KeyError, match="teleport"):
        binding("teleport")


def test_the_help_overlay_lists_the_declared_rows():
    assert CONTROLS == help_rows() and ("F1", "this help") in CONTROLS


@pytest.mark.gui
def test_every_declared_shortcut_is_a_window_action(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.bridge import EngineBridge
    from app.window import MainWindow
    from engine.world import WorldConfig

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    bridge = EngineBridge(WorldConfig(width=128, height=96), threads=1)
    try:
        window = MainWindow(bridge=bridge, settings=settings, recovery=tmp_path / "r.lsworld")
        qtbot.addWidget(window)
        bound = {
            s.toString(QKeySequence.SequenceFormat.PortableText)
            for action in window.actions()
            for s in action.shortcuts()
        }
        declared = {
            QKeySequence(k).toString(QKeySequence.SequenceFormat.PortableText)
            for b in BINDINGS
            for k in b.shortcuts
        }
        assert declared == bound
    finally:
        bridge.shutdown()
