"""The memory inspector offscreen: the colour maps by their properties, and the widget redraws
once per timer tick whatever the rate of inspections, reusing its plot items."""

import subprocess
import sys

import numpy as np
import pytest

from app.inspector import (
    HOLE,
    NO_DYNAMIC,
    REMOVED,
    SKY,
    Inspector,
    age_colours,
    depth_colours,
    mask_overlay,
)
from engine.messages import Inspection

pytestmark = pytest.mark.gui


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def make_inspection(seed=0, h=12, w=16, dynamic=None, entries=300) -> Inspection:
    rng = np.random.default_rng(seed)
    known = rng.random((h, w)) < 0.7
    pca = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    pca[~known] = 0  # as the bridge makes it: black at holes
    age = np.where(known, rng.integers(-1, 6, (h, w)), -1)
    depth = np.where(known, rng.uniform(0.5, 20.0, (h, w)), 0.0).astype(np.float32)
    depth[known & (age < 0)] = np.inf
    growth = np.array([[0, 100, 4e4], [1, 200, 8e4], [2, entries, 1.2e5]], np.float64)
    summary = {
        "entries": entries,
        "bytes": 120_000,
        "bytes_per_entry": 4000.0,
        "chunks": 3,
        "sky_cells": 17,
        "segment": 2,
        "rgb_bytes": entries * 64 * 15,
    }
    return Inspection(pca, known, age, depth, dynamic, summary, growth)


def test_age_colours_newer_is_brighter_and_holes_are_fixed():
    ages = np.arange(-1, 12)[None, :].repeat(2, 0)
    known = np.ones_like(ages, bool)
    known[1] = False
    c = age_colours(ages, known)
    assert c.shape == (2, 13, 3) and c.dtype == np.uint8
    assert (c[1] == HOLE).all()  # holes, whatever their age
    assert (c[0, 0] == SKY).all()  # known but age -1
    y = luma(c[0, 1:])
    assert (np.diff(y[:11]) < 0).all()  # ages 0..10 strictly darker
    assert (np.diff(y) <= 0).all()
    # same age -> same colour, anywhere in the map
    rng = np.random.default_rng(1)
    a = rng.integers(-1, 20, (30, 40))
    k = rng.random((30, 40)) < 0.8
    c = age_colours(a, k)
    for v in np.unique(a[k]):
        assert (c[k & (a == v)] == c[k & (a == v)][0]).all()
    assert not (c[k & (a >= 0)] == HOLE).all(-1).any()  # a written age never reads as a hole


def test_depth_colours_near_is_brighter():
    ramp = 1.0 / np.linspace(2.0, 0.02, 100)[None, :]  # near to far, evenly in 1 / depth
    c = depth_colours(ramp)[0]
    y = luma(c)
    assert (np.diff(y) <= 0).all()
    assert (np.diff(y[3:-3]) < 0).all()  # strictly darker between the clipped percentiles
    assert (c[0] == 255).all() and (c[-1] == 48).all()
    d = np.array([[0.0, np.inf, 1.0, -2.0, np.nan, 3.0]])
    c = depth_colours(d)
    assert (c[0, 0] == 0).all() and (c[0, 3] == 0).all() and (c[0, 4] == 0).all()
    assert (c[0, 1] == SKY).all()
    assert luma(c[0, 2]) > luma(c[0, 5]) > 0
    with np.errstate(all="raise"):  # constant depth: no division by zero
        c = depth_colours(np.full((4, 5), 3.0))
    assert (c == c[0, 0]).all() and c[0, 0].any()
    assert (depth_colours(np.zeros((3, 3))) == 0).all()


def test_mask_overlay_keeps_known_and_marks_holes():
    ins = make_inspection()
    for pca in (ins.pca, np.random.default_rng(2).integers(0, 256, ins.pca.shape, np.uint8)):
        m = mask_overlay(pca, ins.known)
        assert m.dtype == np.uint8 and m.shape == pca.shape
        np.testing.assert_array_equal(m[ins.known], pca[ins.known])
        assert (m[~ins.known] != pca[~ins.known]).any(-1).all()


@pytest.fixture
def inspector(qtbot):
    w = Inspector(interval_ms=20)
    qtbot.addWidget(w)
    w.resize(320, 700)
    w.show()
    return w


def test_inspector_redraws_once_per_tick_reusing_items(qtbot, inspector):
    items = dict(inspector.images)
    curves = (inspector.latent_curve, inspector.rgb_curve)
    assert inspector.figures["entries"].text() == "-"
    inspector.set_stats({"entries": 300, "bytes": 2**20, "rgb_bytes": 2**23, "segments": 2})
    assert inspector.figures["ratio"].text() == "8.0 x smaller"
    inspector.set_stats({"entries": 300, "bytes": 2**23, "rgb_bytes": 2**21, "segments": 2})
    assert inspector.figures["ratio"].text() == "4.0 x larger"
    inspector.timer.stop()  # the ticks are made by hand from here on
    before = inspector.redraws
    for seed in range(4):
        newest = make_inspection(seed, entries=300 + seed)
        inspector.set_inspection(newest)
    assert inspector.redraws == before  # nothing drawn outside the timer
    with qtbot.waitSignal(inspector.timer.timeout, timeout=2000):
        inspector.timer.start()
    inspector.timer.stop()
    assert inspector.redraws == before + 1
    inspector._tick()  # not dirty: nothing to draw
    assert inspector.redraws == before + 1

    assert inspector.images == items and (inspector.latent_curve, inspector.rgb_curve) == curves
    np.testing.assert_array_equal(items["pca"].image, mask_overlay(newest.pca, newest.known))
    np.testing.assert_array_equal(items["age"].image, age_colours(newest.age, newest.known))
    np.testing.assert_array_equal(items["depth"].image, depth_colours(newest.depth))
    x, y = inspector.latent_curve.getData()
    np.testing.assert_allclose(x, newest.growth[:, 0])
    np.testing.assert_allclose(y, newest.growth[:, 2] / 2**20)
    x, y = inspector.rgb_curve.getData()
    np.testing.assert_allclose(y, newest.growth[:, 1] * 64 * 15 / 2**20)
    assert inspector.figures["entries"].text() == "303"
    ratio = newest.summary["rgb_bytes"] / newest.summary["bytes"]
    assert inspector.figures["ratio"].text() == f"{ratio:.1f} x smaller"
    assert inspector.figures["chunks"].text() == "3"


def test_dynamic_mask_is_red_on_the_removed_tokens(qtbot, inspector):
    inspector.set_inspection(make_inspection())
    qtbot.waitUntil(lambda: inspector.redraws == 1, timeout=2000)
    assert inspector.dynamic_note.isVisible() and inspector.dynamic_note.text == NO_DYNAMIC
    assert not (inspector.images["dynamic"].image == REMOVED).all(-1).any()

    dynamic = np.random.default_rng(3).random((12, 16)) < 0.2
    inspector.set_inspection(make_inspection(dynamic=dynamic))
    qtbot.waitUntil(lambda: inspector.redraws == 2, timeout=2000)
    assert not inspector.dynamic_note.isVisible()
    red = (inspector.images["dynamic"].image == REMOVED).all(-1)
    np.testing.assert_array_equal(red, dynamic)


def test_clear_and_an_all_hole_view_do_not_raise(qtbot, inspector):
    inspector.clear()
    inspector.set_stats({})
    ins = make_inspection(entries=0)
    ins.known[:] = False
    ins.depth[:] = 0.0
    ins.age[:] = -1
    ins.summary.update(entries=0, bytes=0, rgb_bytes=0, bytes_per_entry=0.0)
    inspector.set_inspection(ins)
    qtbot.waitUntil(lambda: inspector.redraws == 1, timeout=2000)
    assert (inspector.images["age"].image == HOLE).all()
    assert (inspector.images["depth"].image == 0).all()
    assert inspector.figures["ratio"].text() == "-"
    assert inspector.rgb_curve.getData()[1] is None or len(inspector.rgb_curve.getData()[1]) == 0

    inspector.clear()
    assert all(item.image is None for item in inspector.images.values())
    assert all(label.text() == "-" for label in inspector.figures.values())
    assert not inspector.dynamic_note.isVisible()
    inspector.timer.timeout.emit()  # a tick after clear() draws nothing
    assert inspector.redraws == 1


def test_inspector_does_not_import_torch():
    code = "import sys, app.inspector; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
