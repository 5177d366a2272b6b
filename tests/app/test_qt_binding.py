"""The Qt binding keeps Python's reference counts: PySide6 6.12.0 drops a reference to True
on every Signal.emit made from Python, and on Python < 3.12 (True is not immortal there)
the interpreter aborts once the count reaches zero, after some thousands of emits: the
explorer emits several signals per frame, so it would die within minutes of flying. The
project excludes that version; this test fails on any binding with the same fault."""

import sys

import pytest
from PySide6.QtCore import QObject, Signal

pytestmark = pytest.mark.gui

EMITS = 200  # far fewer than it takes to abort, enough to see a leak of one per emit


class Emitter(QObject):
    bare = Signal()
    flag = Signal(bool)
    payload = Signal(object)


def test_emitting_signals_keeps_the_reference_counts_of_true_and_false(qapp):
    e = Emitter()
    got = []
    e.flag.connect(got.append)
    e.payload.connect(got.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(EMITS):
        e.bare.emit()
        e.flag.emit(i % 2 == 0)
        e.payload.emit(i)
    after = sys.getrefcount(True), sys.getrefcount(False)
    # the bools now held in `got` add references; none may have gone missing
    assert after[0] >= before[0] and after[1] >= before[1], (before, after)
    assert len(got) == 2 * EMITS
