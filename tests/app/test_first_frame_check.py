"""`latentscape explore SOURCE --exit-after-first-frame`, the start-up check that the desktop
bundle's smoke test runs (tests/packaging/): the real window opens the scene offscreen and the
program exits 0 once the first view is drawn, 1 with a message otherwise, and leaves the
user's settings alone. Run in a subprocess, as the bundle runs it (a test process already
holds a QApplication)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import cli

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]


def run_check(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The launcher, offscreen, with HOME and the XDG folders in `home`."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "app.main", "explore", *args, "--exit-after-first-frame"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=home)


@pytest.mark.gl
@pytest.mark.usefixtures("_gl_session")  # skipped without EGL, as the other GL tests
def test_exits_0_once_the_first_view_of_a_scene_is_drawn(tmp_path):
    run = run_check(tmp_path, "room")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "first view of room drawn" in run.stdout
    # the window kept its settings and recovery copy in a temporary folder (the cache may
    # hold Mesa's compiled shaders)
    assert not (tmp_path / "xdg_config_home").exists()
    assert not (tmp_path / "xdg_data_home").exists()
    assert not (tmp_path / ".config").exists() and not (tmp_path / ".local").exists()


def test_exits_1_with_the_engine_error_on_a_bad_source(tmp_path):
    run = run_check(tmp_path, "no-such-scene")
    assert run.returncode == 1
    assert "latentscape: error: Could not open" in run.stderr
    assert "no-such-scene" in run.stderr


def test_exits_1_after_the_timeout(tmp_path):
    run = run_check(tmp_path, "room", "--timeout", "0.001")
    assert run.returncode == 1
    assert "no view of room after 0.001 s" in run.stderr


def test_the_command_line_passes_the_check_to_the_launcher(capsys):
    calls = []

    def explore(source, **options):
        calls.append((source, options))
        return 0

    argv = ["explore", "street", "--exit-after-first-frame", "--timeout", "30"]
    assert cli.main(argv, explore=explore) == 0
    assert calls == [("street", {"exit_after_first_frame": True, "timeout": 30.0})]
    assert cli.main(["explore", "street"], explore=explore) == 0
    assert calls[-1] == ("street", {})
    # the check needs a scene to open
    assert cli.main(["explore", "--exit-after-first-frame"], explore=explore) == cli.EXIT_USAGE
    assert "needs SOURCE" in capsys.readouterr().err
