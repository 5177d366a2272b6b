"""The bad-input corpus (tests/bad_inputs.py) in the app: every refused photo and world,
opened in turn over a good world, gives one message naming the file and leaves that world as
it was; stored settings that the program refuses give defaults and say which setting."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.bridge import EngineBridge
from app.settings import SettingsDialog, autosave_every, load_config, model_folders
from engine.world import WorldConfig
from tests.bad_inputs import CASES, Case, make_corpus

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    make_corpus(folder)
    return folder


@pytest.mark.parametrize("c", [c for c in CASES if c.kind == "settings"], ids=lambda c: c.name)
def test_stored_settings_give_defaults_and_name_what_was_refused(
    qtbot, c: Case, corpus: Path
) -> None:
    settings = QSettings(str(corpus / c.name), QSettings.Format.IniFormat)
    config, problems = load_config(settings)
    assert isinstance(config, WorldConfig)
    assert autosave_every(settings) >= 0 and isinstance(model_folders(settings), list)
    SettingsDialog(settings).close()  # the dialog shows what was stored, or the defaults
    if c.problem is None:
        assert not problems
    else:
        said = " ".join(problems)
        assert re.search(c.problem, said, re.IGNORECASE), f"{c.problem!r} not in {problems}"


def test_refused_photos_and_worlds_leave_the_open_world(qtbot, corpus: Path) -> None:
    bridge = EngineBridge(WorldConfig(width=128, height=96, frames_per_segment=2), threads=1)
    try:
        opened: list = []
        bridge.opened.connect(opened.append)
        with qtbot.waitSignal(bridge.frame, timeout=30000):
            bridge.open("room")
        before: dict = {}
        bridge.call(lambda w: before.update(entries=len(w.memory), segments=w.segments))
        refused = [c for c in CASES if c.kind in ("image", "world") and c.problem is not None]
        for c in refused:
            with qtbot.waitSignal(bridge.error, timeout=30000) as error:
                bridge.open(str(corpus / c.name))
            message = error.args[0]
            assert message.startswith("Could not open") and c.named in message, message
        after: dict = {}
        with qtbot.waitSignal(bridge.frame, timeout=30000) as frame:
            bridge.call(lambda w: after.update(entries=len(w.memory), segments=w.segments))
            bridge.move(np.eye(4))
        assert len(opened) == 1 and opened[0].source == "room"
        assert after == before and frame.args[0].rgb.std() > 10  # the room, as it was
    finally:
        bridge.shutdown()
