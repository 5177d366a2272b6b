"""The real window under Xvfb (xcb platform, Mesa's llvmpipe): the viewport shows the sample
scene, pixel for pixel the engine's frame. Runs scripts/window_check.py in a subprocess,
since a test process already holds an offscreen QApplication."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gl

ROOT = Path(__file__).resolve().parents[2]


def window_check(*args: str) -> dict:
    if shutil.which("xvfb-run") is None:
        if os.environ.get("LATENTSCAPE_REQUIRE_GL") == "1":
            pytest.fail("xvfb-run is missing (scripts/sysdeps.sh installs it)")
        pytest.skip("xvfb-run is not installed")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"]
    cmd += [sys.executable, str(ROOT / "scripts" / "window_check.py"), *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_real_window_shows_the_engine_frame():
    result = window_check()
    assert result["messages"] == []
    assert result["std"] > 10  # not blank
    assert result["size"] == result["frame_size"]
    assert result["psnr_db"] >= 30.0


def test_flying_toward_a_wall_opens_no_holes_in_the_known_region():
    """W held for 3 s on the real viewport (synthetic key events, generation off): every frame
    the memory shows on the way is free of holes inside its known region (footprints and the
    closing of one-token cracks), and the viewport drawn while flying leaves no pixel empty."""
    result = window_check("--wall", "3")
    wall = result["wall"]
    assert result["messages"] == []
    assert wall["frames"] >= 3 and wall["travelled"] > 1.0  # it really flew, and got closer
    assert wall["worst_interior_holes"] == 0 and wall["final_interior_holes"] == 0
    assert wall["final_known"] == 1.0  # the wall ahead is all known
    assert wall["moving_empty_pixels"] == 0
