"""Open the real main window on a sample scene, grab the viewport and compare it with the
engine's frame. Run it under an X server (the tests use `xvfb-run -a`):

    xvfb-run -a -s "-screen 0 1280x1024x24" python scripts/window_check.py [--scene room]
        [--out DIR]

Prints one JSON line: psnr_db (viewport grab against the engine frame it shows), std (of
the grab, 0 for a blank view), the GL renderer and the grab's size. With --out it also saves
the viewport grab (viewport.png), then turns generation on, turns the camera toward the
unknown until two segments are made, and saves the whole window with the minimap
(window.png), with the memory inspector (inspector.png) and with a camera path of four
keyframes (path.png): the README's screenshots are made this way.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", default="room")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--wall",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then hold W for SECONDS (generation off: the memory's view only), walking toward "
        "the wall ahead, and report the hole tokens inside the known region while flying",
    )
    args = parser.parse_args()

    from PySide6.QtCore import QSettings

    from app.main import application

    app = application([sys.argv[0], "-platform", "xcb"])
    from app.window import MainWindow

    scratch = Path(tempfile.mkdtemp())
    window = MainWindow(
        settings=QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat),
        recovery=scratch / "recovery.lsworld",
    )
    window.viewport.setFixedSize(512, 384)  # the frame's size: a grab maps 1:1 to it
    window.show()
    window.open_source(args.scene)
    deadline = time.monotonic() + args.timeout
    while window.viewport.frame is None or not window.hud.text().count("entries"):
        app.processEvents()
        if time.monotonic() > deadline:
            print(json.dumps({"error": "no frame arrived", "messages": window.messages}))
            return 1
        time.sleep(0.01)
    for _ in range(20):  # let the viewport repaint with the frame
        app.processEvents()
        time.sleep(0.01)
    window.viewport.update()
    app.processEvents()
    grab = window.viewport.grab_view()
    grab = grab.convertToFormat(grab.Format.Format_RGB888)
    w, h = grab.width(), grab.height()
    data = np.frombuffer(grab.constBits(), np.uint8, count=grab.sizeInBytes())
    pixels = data.reshape(h, grab.bytesPerLine())[:, : w * 3].reshape(h, w, 3)
    frame = window.viewport.frame.rgb
    result = {
        "size": [w, h],
        "frame_size": [frame.shape[1], frame.shape[0]],
        "renderer": window.viewport.gl_renderer,
        "std": float(pixels.std()),
        "messages": window.messages,
    }
    if (h, w) == frame.shape[:2]:
        mse = float(((pixels.astype(np.float64) - frame) ** 2).mean())
        result["psnr_db"] = 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)
    if args.wall > 0:
        result["wall"] = fly_to_wall(app, window, args.wall, args.out)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        grab.save(str(args.out / "viewport.png"))
        screenshots(app, window, args.out, args.timeout)
    print(json.dumps(result))
    window.close()
    return 0


def interior_holes(holes: np.ndarray) -> int:
    """Hole tokens inside the known region: holes that no path of holes joins to the image's
    border (4-neighbours), i.e. holes that known tokens enclose."""
    open_ = np.zeros_like(holes)
    open_[0, :], open_[-1, :], open_[:, 0], open_[:, -1] = (
        holes[0, :],
        holes[-1, :],
        holes[:, 0],
        holes[:, -1],
    )
    while True:
        grown = open_.copy()
        grown[1:] |= open_[:-1]
        grown[:-1] |= open_[1:]
        grown[:, 1:] |= open_[:, :-1]
        grown[:, :-1] |= open_[:, 1:]
        grown &= holes
        if np.array_equal(grown, open_):
            return int((holes & ~open_).sum())
        open_ = grown


def fly_to_wall(app, window, seconds: float, out: Path | None) -> dict:
    """Hold W on the real viewport (synthetic key events) for `seconds` toward the wall ahead,
    the world not generating: every frame shown is the memory's view. Returns the frames
    seen, the most hole tokens inside the known region in any of them (cracks), and those of
    the final view, with the viewport grabbed while flying (timewarp) and at rest."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    vp = window.viewport
    # where nothing is drawn shows a colour no frame holds (the dark default can be a dark
    # pixel of the frame itself: a shadow read as a hole)
    sentinel, background = (1.0, 0.0, 1.0), vp.renderer.background
    vp.renderer.background = sentinel
    vp.setFocus()
    seen, worst, frames = set(), 0, 0
    QTest.keyPress(vp, Qt.Key.Key_W)
    end = time.monotonic() + seconds
    moving_grab = None
    while time.monotonic() < end:
        app.processEvents()
        f = vp.frame
        if f is not None and f.index not in seen:
            seen.add(f.index)
            frames += 1
            worst = max(worst, interior_holes(f.holes))
        if moving_grab is None and time.monotonic() > end - seconds / 2:
            moving_grab = vp.grab_view()
        time.sleep(0.005)
    QTest.keyRelease(vp, Qt.Key.Key_W)
    target = vp.navigator.pose
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the view at rest arrives
        app.processEvents()
        if vp.frame is not None and np.allclose(vp.frame.pose, target, atol=1e-6):
            break
        time.sleep(0.01)
    for _ in range(10):
        app.processEvents()
    final = vp.frame
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if moving_grab is not None:
            moving_grab.save(str(out / "wall-moving.png"))
        vp.grab_view().save(str(out / "wall.png"))
    travelled = float(np.linalg.norm(target[:3, 3] - window.info.pose[:3, 3]))
    # pixels of the grab taken while flying (timewarped or fresh) left at the clear colour:
    # nothing drawn there
    clear = np.array(sentinel) * 255
    empty = int((np.abs(pixels_of(moving_grab) - clear).max(-1) <= 2).sum()) if moving_grab else -1
    vp.renderer.background = background
    return {
        "frames": frames,
        "travelled": travelled,
        "worst_interior_holes": worst,
        "final_interior_holes": interior_holes(final.holes),
        "final_known": float((~final.holes).mean()),
        "moving_empty_pixels": empty,
    }


def pixels_of(image) -> np.ndarray:
    """A QImage as (h, w, 3) float64 RGB."""
    image = image.convertToFormat(image.Format.Format_RGB888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(h, image.bytesPerLine())[:, : w * 3].reshape(h, w, 3).astype(np.float64)


def screenshots(app, window, out: Path, timeout: float) -> None:
    """The default layout after two generated segments: window.png (minimap), inspector.png,
    path.png."""
    from PySide6.QtCore import Qt

    vp = window.viewport

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    vp.setMinimumSize(320, 240)  # back to the normal layout
    vp.setMaximumSize(16777215, 16777215)
    window.resize(1280, 760)
    window.toggle_generation()
    deadline = time.monotonic() + 3 * timeout
    while window.hud.stats.get("segments", 0) < 2 and time.monotonic() < deadline:
        vp.navigator.look(12, 0)  # a slow turn to the right, as a drag would
        vp.pose_changed.emit(vp.navigator.pose)
        pump(0.1)
    window.toggle_generation()
    pump(1.0)
    window.grab().save(str(out / "window.png"))
    window.inspector_dock.raise_()
    pump(1.5)
    window.grab().save(str(out / "inspector.png"))
    # a camera path of four keyframes: forward, turning right, through the generated part
    window.minimap_dock.raise_()
    vp.navigator.set_pose(window.info.pose)
    for turn in (0, 90, 90, 90):
        vp.navigator.look(turn, 0)
        vp.navigator.press(Qt.Key.Key_W)
        vp.navigator.tick(2.0)
        vp.navigator.release(Qt.Key.Key_W)
        window.path_dock.add_from_view()
    window.path_dock.go_to(1)
    window.path_dock.seek(3.0)
    pump(1.5)
    window.grab().save(str(out / "path.png"))


if __name__ == "__main__":
    sys.exit(main())
