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


def test_real_window_shows_the_engine_frame():
    if shutil.which("xvfb-run") is None:
        if os.environ.get("LATENTSCAPE_REQUIRE_GL") == "1":
            pytest.fail("xvfb-run is missing (scripts/sysdeps.sh installs it)")
        pytest.skip("xvfb-run is not installed")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"]
    cmd += [sys.executable, str(ROOT / "scripts" / "window_check.py")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["messages"] == []
    assert result["std"] > 10  # not blank
    assert result["size"] == result["frame_size"]
    assert result["psnr_db"] >= 30.0
