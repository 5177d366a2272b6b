"""Interactive performance of the real window: drive it with synthetic keys and mouse moves
under an X server and measure what a user feels. Run it under Xvfb:

    xvfb-run -a -s "-screen 0 1280x1024x24" python scripts/interactive_bench.py [--json OUT]

Measures, on the sample scene `room` at 512x384 in a 1280x760 window (the default layout:
the viewport with the minimap and inspector docks beside it):

- redraw rate while flying (W held for 3 s): repaints per second of the viewport;
- key press to a visibly moved view: from a W press to the end of the first repaint whose
  camera differs from the one before the press (the timewarp answers, no engine needed);
  median and worst of 15 taps;
- key press to a fresh memory readout on screen: from the press to the end of the first
  repaint that shows an engine frame made at a camera the press moved to; median and worst;
- GUI stalls while a segment generates: generation on, the camera turned toward the unknown
  with mouse drags; the longest gap between two ticks of the viewport's 16 ms timer while
  the engine is busy.

Times are taken at the end of paintGL (the buffer swap follows at once); the machine's GL is
Mesa's llvmpipe, which draws on the CPU that the engine shares.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


WINDOW = (1280, 760)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", dest="json_out", type=Path, default=None)
    parser.add_argument("--taps", type=int, default=15)
    args = parser.parse_args()

    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest

    from app.main import application

    app = application([sys.argv[0], "-platform", "xcb"])
    from app.window import MainWindow

    scratch = Path(tempfile.mkdtemp())
    settings = QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, recovery=scratch / "recovery.lsworld")
    window.resize(*WINDOW)  # the default layout: viewport, minimap and inspector docks
    window.show()
    vp = window.viewport

    def pump(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    def wait_until(cond, timeout: float = 60.0) -> bool:
        end = time.perf_counter() + timeout
        while not cond():
            if time.perf_counter() > end:
                return False
            app.processEvents()
            time.sleep(0.001)
        return True

    window.open_source("room")
    if not wait_until(lambda: vp.frame is not None and vp.renderer is not None):
        print(json.dumps({"error": "the scene did not open", "messages": window.messages}))
        return 1
    pump(1.0)
    vp.setFocus()
    result: dict = {
        "renderer": vp.gl_renderer,
        "window": list(WINDOW),
        "viewport": [vp.width(), vp.height()],
    }

    # 1. redraw rate while flying
    vp.paint_log.clear()
    QTest.keyPress(vp, Qt.Key.Key_W)
    pump(3.0)
    QTest.keyRelease(vp, Qt.Key.Key_W)
    times = [t for t, _, _ in vp.paint_log]
    result["fps_flying"] = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    pump(1.0)

    # 2 and 3. taps: moved view, fresh readout
    moved, fresh = [], []
    for _ in range(args.taps):
        before = vp.navigator.pose
        vp.paint_log.clear()
        t0 = time.perf_counter()
        QTest.keyPress(vp, Qt.Key.Key_W)
        pump(0.08)
        QTest.keyRelease(vp, Qt.Key.Key_W)
        wait_until(
            lambda before=before: any(not np.allclose(p, before) for _, p, _ in vp.paint_log),
            2.0,
        )
        first_move = next(
            (t for t, p, _ in vp.paint_log if not np.allclose(p, before)), float("nan")
        )
        moved.append(1e3 * (first_move - t0))

        def fresh_paint(before=before, t0=t0):
            # an engine frame made at a camera the tap moved to (not the start pose)
            for t, _, index in vp.paint_log:
                f = vp.frame
                if f is not None and index == f.index and not np.allclose(f.pose, before):
                    return t
            return None

        wait_until(lambda: fresh_paint() is not None, 3.0)
        t_fresh = fresh_paint()
        fresh.append(1e3 * (t_fresh - t0) if t_fresh is not None else float("nan"))
        pump(0.4)
    result["key_to_moved_view_ms"] = {"median": statistics.median(moved), "max": max(moved)}
    result["key_to_fresh_readout_ms"] = {"median": statistics.median(fresh), "max": max(fresh)}

    # 4. GUI stalls while segments generate
    window.toggle_generation()
    busy_spans = []
    window.bridge.busy.connect(lambda b: busy_spans.append((b, time.perf_counter())))
    vp.tick_log.clear()
    vp.paint_ms.clear()
    centre = vp.rect().center()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, pos=centre)
    for k in range(1, 61):  # a slow turn to the right: 60 drags of 6 px over 3 s
        QTest.mouseMove(vp, centre + QPoint(6 * k, 0))
        pump(0.05)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=centre + QPoint(360, 0))
    wait_until(lambda: not window.hud.busy, 60.0)
    pump(0.5)
    ticks = list(vp.tick_log)
    spans, start = [], None
    for b, t in busy_spans:
        if b:
            start = t
        elif start is not None:
            spans.append((start, t))
            start = None
    gaps = [
        b - a for a, b in zip(ticks, ticks[1:]) if any(s <= a <= e or s <= b <= e for s, e in spans)
    ]
    result["segments_generated"] = window.hud.stats.get("segments", 0)
    result["busy_seconds"] = sum(e - s for s, e in spans)
    result["max_gui_gap_while_generating_ms"] = 1e3 * max(gaps) if gaps else None
    result["gui_gaps_over_33ms_while_generating"] = sum(g > 0.033 for g in gaps)
    result["ticks_while_generating"] = len(gaps)
    paints = sorted(vp.paint_ms)
    result["paint_ms_while_turning"] = {
        "median": statistics.median(paints) if paints else None,
        "max": paints[-1] if paints else None,
    }
    result["messages"] = window.messages
    window.close()
    print(json.dumps(result, indent=2))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
