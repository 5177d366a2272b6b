"""The timeline: time and pixels map both ways and clamp; a press scrubs to the time under
it, a press on a key's diamond clicks the key instead, a drag scrubs; arrow keys, Home and
End step and emit; setters never emit; an empty track (duration 0) works; the strip paints
its playhead and selected key where they belong. Never sleeps."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.timeline import BACKGROUND, MARGIN, PLAYHEAD, SELECTED, Timeline, format_seconds

pytestmark = pytest.mark.gui

WIDTH, HEIGHT = 400, 44


@pytest.fixture
def timeline(qtbot):
    w = Timeline()
    qtbot.addWidget(w)
    w.resize(WIDTH, HEIGHT)
    w.set_duration(5.0)
    w.show()
    qtbot.waitExposed(w)
    return w


def pixel_time(w: Timeline) -> float:
    """The time one pixel of track stands for."""
    return w.duration / (w.width() - 2 * MARGIN)


def at(w: Timeline, t: float, dx: int = 0) -> QPoint:
    """The point on the track's row at time t (plus dx pixels)."""
    return QPoint(round(w.x_at(t)) + dx, w.height() // 2)


def record(signal) -> list:
    got = []
    signal.connect(got.append)
    return got


# ---- time <-> pixels


@pytest.mark.parametrize("width", [60, 123, 400, 1000])
@pytest.mark.parametrize("duration", [0.25, 5.0, 97.3])
def test_x_at_and_time_at_are_inverse_within_the_margins(qtbot, width, duration):
    w = Timeline()
    qtbot.addWidget(w)
    w.resize(width, HEIGHT)
    w.set_duration(duration)
    rng = np.random.default_rng(width)
    for t in rng.uniform(0, duration, 50):
        assert w.time_at(w.x_at(t)) == pytest.approx(t, abs=1e-9 * duration)
    for x in rng.uniform(MARGIN, width - MARGIN, 50):
        assert w.x_at(w.time_at(x)) == pytest.approx(x, abs=1e-9 * width)
    assert w.x_at(0.0) == MARGIN
    assert w.x_at(duration) == pytest.approx(width - MARGIN)


def test_time_at_and_x_at_clamp(timeline):
    w = timeline
    for x in (-50.0, 0.0, MARGIN / 2, float(MARGIN)):
        assert w.time_at(x) == 0.0
    for x in (WIDTH - MARGIN, WIDTH - 1.0, WIDTH + 80.0):
        assert w.time_at(x) == pytest.approx(5.0)
    assert w.x_at(-3.0) == MARGIN
    assert w.x_at(12.0) == pytest.approx(WIDTH - MARGIN)


# ---- mouse


def test_a_press_scrubs_to_the_time_under_it(qtbot, timeline):
    w = timeline
    for t in (0.0, 1.37, 2.5, 4.99, 5.0):
        with qtbot.waitSignal(w.scrubbed, timeout=1000) as got:
            qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=at(w, t))
        qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=at(w, t))
        assert got.args[0] == pytest.approx(t, abs=pixel_time(w))
        assert w.time == got.args[0]


def test_a_press_outside_the_track_clamps(qtbot, timeline):
    w = timeline
    scrubbed = record(w.scrubbed)
    qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=QPoint(2, HEIGHT // 2))
    qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=QPoint(WIDTH - 2, HEIGHT // 2))
    assert scrubbed == [0.0, pytest.approx(5.0)]


def test_a_drag_scrubs_and_the_release_ends_it(qtbot, timeline):
    w = timeline
    scrubbed = record(w.scrubbed)
    qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=at(w, 1.0))
    for t in (1.5, 2.0, 3.25):
        qtbot.mouseMove(w, at(w, t))  # QTest keeps the pressed button down
        assert w.time == pytest.approx(t, abs=pixel_time(w))
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=at(w, 3.25))
    assert scrubbed == [pytest.approx(t, abs=pixel_time(w)) for t in (1.0, 1.5, 2.0, 3.25)]
    qtbot.mouseMove(w, at(w, 4.0))  # no button: nothing
    assert len(scrubbed) == 4 and w.time == scrubbed[-1]


def test_a_press_on_a_key_clicks_it_and_does_not_scrub(qtbot, timeline):
    w = timeline
    w.set_keys([0.0, 1.0, 3.0, 5.0], selected=0)
    w.set_time(2.0)
    scrubbed = record(w.scrubbed)
    clicked = record(w.key_clicked)
    for i, t in enumerate(w.keys):
        for dx in (0, 5, -5):
            if w.x_at(t) + dx < 0 or w.x_at(t) + dx >= WIDTH:
                continue
            qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=at(w, t, dx))
            assert clicked[-1] == i
    assert scrubbed == [] and w.time == 2.0
    assert w.selected == 0  # the editor selects, through set_keys
    # 10 px from the nearest key: a scrub, not a click
    n = len(clicked)
    with qtbot.waitSignal(w.scrubbed, timeout=1000):
        qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=at(w, 1.0, 10))
    assert len(clicked) == n


def test_dragging_from_a_key_scrubs(qtbot, timeline):
    w = timeline
    w.set_keys([1.0, 4.0])
    scrubbed = record(w.scrubbed)
    with qtbot.waitSignal(w.key_clicked, timeout=1000) as clicked:
        qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=at(w, 4.0))
    assert clicked.args == [1] and scrubbed == []
    qtbot.mouseMove(w, at(w, 2.0))
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=at(w, 2.0))
    assert scrubbed == [pytest.approx(2.0, abs=pixel_time(w))]


# ---- keyboard


def test_arrow_keys_home_and_end_step_and_emit(qtbot, timeline):
    w = timeline
    w.setFocus()
    scrubbed = record(w.scrubbed)
    qtbot.keyClick(w, Qt.Key.Key_Right)
    qtbot.keyClick(w, Qt.Key.Key_Right)
    assert w.time == pytest.approx(2 / 24)
    qtbot.keyClick(w, Qt.Key.Key_Left)
    assert w.time == pytest.approx(1 / 24)
    w.step = 0.5
    qtbot.keyClick(w, Qt.Key.Key_Left)  # clamped at 0, still emitted
    assert w.time == 0.0
    qtbot.keyClick(w, Qt.Key.Key_End)
    qtbot.keyClick(w, Qt.Key.Key_Right)
    assert w.time == 5.0
    qtbot.keyClick(w, Qt.Key.Key_Left)
    qtbot.keyClick(w, Qt.Key.Key_Home)
    assert scrubbed == pytest.approx([1 / 24, 2 / 24, 1 / 24, 0.0, 5.0, 5.0, 4.5, 0.0])


def test_the_widget_takes_focus():
    assert Timeline().focusPolicy() == Qt.FocusPolicy.StrongFocus


# ---- setters


def test_setters_do_not_emit_and_set_time_clamps(qtbot, timeline):
    w = timeline
    with qtbot.assertNotEmitted(w.scrubbed), qtbot.assertNotEmitted(w.key_clicked):
        w.set_time(3.5)
        assert w.time == 3.5
        w.set_time(-1.0)
        assert w.time == 0.0
        w.set_time(99.0)
        assert w.time == 5.0
        w.set_duration(2.0)  # the playhead follows the end in
        assert w.time == 2.0 and w.duration == 2.0
        w.set_keys([0.5, 1.5], selected=1)
        assert w.keys == [0.5, 1.5] and w.selected == 1


def test_setters_repaint_only_on_change(timeline, monkeypatch):
    w = timeline
    w.set_keys([1.0], 0)
    w.set_time(1.0)
    calls = []
    monkeypatch.setattr(w, "update", lambda: calls.append(1))
    w.set_time(1.0)
    w.set_time(7.0)  # clamped to 5.0: a change
    w.set_time(9.0)  # clamped to 5.0 again: none
    w.set_duration(5.0)
    w.set_keys([1.0], 0)
    assert len(calls) == 1
    w.set_keys([1.0])  # the selection went
    w.set_duration(6.0)
    assert len(calls) == 3


def test_bad_input_is_refused(timeline):
    w = timeline
    with pytest.raises(ValueError, match="duration"):
        w.set_duration(-1.0)
    with pytest.raises(ValueError, match="selected"):
        w.set_keys([1.0, 2.0], selected=2)
    with pytest.raises(ValueError, match="finite"):
        w.set_keys([1.0, float("nan")])
    assert w.duration == 5.0 and w.keys == []


def test_an_empty_track_puts_everything_at_0(qtbot, timeline):
    w = timeline
    w.set_time(3.0)
    w.set_keys([0.0], selected=0)
    w.set_duration(0.0)
    assert w.time == 0.0
    assert w.time_at(WIDTH / 2) == 0.0 and w.time_at(-5.0) == 0.0
    assert w.x_at(0.0) == w.x_at(3.0) == MARGIN
    scrubbed = record(w.scrubbed)
    qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=QPoint(WIDTH // 2, HEIGHT // 2))
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_Right)
    qtbot.keyClick(w, Qt.Key.Key_End)
    assert scrubbed == [0.0, 0.0, 0.0]
    assert not w.grab().isNull()


# ---- painting


def column_colours(image, x: int) -> set:
    return {image.pixelColor(x, y).getRgb()[:3] for y in range(image.height())}


def test_paints_the_playhead_and_the_selected_key_where_they_belong(timeline):
    w = timeline
    w.set_keys([1.0, 4.0], selected=1)
    w.set_time(2.5)
    pixmap = w.grab()
    assert not pixmap.isNull()
    image = pixmap.toImage()
    assert (image.width(), image.height()) == (WIDTH, HEIGHT)
    playhead = PLAYHEAD.getRgb()[:3]
    x = round(w.x_at(2.5))
    assert image.pixelColor(x, 0).getRgb()[:3] == playhead  # the whole height
    assert image.pixelColor(x, HEIGHT - 1).getRgb()[:3] == playhead
    assert playhead not in column_colours(image, round(w.x_at(1.0)))
    assert image.pixelColor(round(w.x_at(1.0)), 0).getRgb()[:3] == BACKGROUND.getRgb()[:3]
    orange = SELECTED.getRgb()[:3]
    assert orange in column_colours(image, round(w.x_at(4.0)))
    assert orange not in column_colours(image, round(w.x_at(1.0)))


def test_paints_at_any_size(qtbot):
    w = Timeline()
    qtbot.addWidget(w)
    assert (w.sizeHint().width(), w.sizeHint().height()) == (300, 44)
    assert w.minimumHeight() >= 36
    w.set_keys([0.0, 0.3, 2.0, 7.5], selected=2)
    w.set_duration(7.5)
    for width in (20, 41, 300, 1600):
        w.resize(width, 36)
        assert not w.grab().isNull()


def test_time_labels():
    assert [format_seconds(t) for t in (0.0, 2.0, 2.5, 25 / 6, 0.1 * 3, 120.0)] == [
        "0 s",
        "2 s",
        "2.5 s",
        "4.17 s",
        "0.3 s",
        "120 s",
    ]
