"""The desktop bundle (`make dist`, packaging/latentscape.spec) starts offscreen, opens a
sample scene from the data inside it and exits 0; its data and desktop files are in place.

The `dist` tier: left out of the default run (pyproject.toml addopts), run by `make
dist-test`, which builds the bundle first, or by `pytest -m dist` on a bundle already built.
Skipped when there is no bundle in dist/latentscape/."""

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.dist

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "latentscape"
EXECUTABLE = BUNDLE / "latentscape"

if not EXECUTABLE.is_file():
    pytest.skip(
        f"the desktop bundle is not built ({EXECUTABLE} is missing): run `make dist`",
        allow_module_level=True,
    )


def run_bundle(home: Path, *args: str) -> subprocess.CompletedProcess:
    """The bundle's executable, offscreen, from an empty folder (nothing of the checkout
    around it), with HOME and the XDG folders there."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(EXECUTABLE), *args], capture_output=True, text=True, timeout=300, env=env, cwd=home
    )


@pytest.mark.parametrize("scene", ["room", "street"])
def test_the_bundle_opens_a_sample_scene_offscreen_and_exits_0(tmp_path, scene):
    run = run_bundle(tmp_path, "explore", scene, "--exit-after-first-frame")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"first view of {scene} drawn" in run.stdout


def test_the_bundle_reports_a_bad_scene_and_exits_1(tmp_path):
    run = run_bundle(tmp_path, "explore", "no-such-scene", "--exit-after-first-frame")
    assert run.returncode == 1
    assert "Could not open" in run.stderr
    # the sample scenes it offers instead are the bundle's own
    for scene in ("room", "street"):
        assert scene in run.stderr


def test_the_bundle_holds_the_weights_scenes_and_shaders():
    data = BUNDLE / "_internal"
    for folder in ("assets/models", "assets/scenes", "shaders"):
        theirs = sorted(p.relative_to(ROOT / folder) for p in (ROOT / folder).rglob("*"))
        ours = sorted(p.relative_to(data / folder) for p in (data / folder).rglob("*"))
        assert ours == theirs, folder
