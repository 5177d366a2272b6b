"""scripts/soak_app.py: the soak in the real window (offscreen here; Xvfb for long runs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak_app.py"


def test_app_soak_records_each_minute_and_exits_clean(tmp_path):
    out = tmp_path / "soak-app.json"
    args = ["--minutes", "0.25", "--width", "64", "--height", "48", "--budget", "0.003"]
    # records every 5 s instead of every minute, so that a short run has several
    args += ["--minute-s", "5", "--json", str(out)]
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text())
    assert data["variant"] == "app"
    assert len(data["minutes"]) >= 2
    summary = data["summary"]
    assert summary["ok"] and summary["exceptions"] == 0
    assert summary["segments"] > 0 and summary["frames"] > 0
    assert summary["max_memory_mib"] <= 0.003
    assert "exceptions: 0" in done.stdout
