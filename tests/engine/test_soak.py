"""The soak (engine/soak.py): the seeded random flight, the RSS reader, the summary's math,
the command line, and a 2-minute soak (slow)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import cli, soak
from engine.soak import Flight, FlightSettings, Minute


def _start() -> np.ndarray:
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    pose = np.eye(4)
    pose[:3, :3] = q * np.sign(np.linalg.det(q))
    pose[:3, 3] = rng.normal(size=3)
    return pose


def _fly(seed: int, steps: int, scale: float = 2.0) -> tuple[Flight, np.ndarray]:
    flight = Flight(_start(), seed=seed, scale=scale)
    return flight, np.stack([flight.step() for _ in range(steps)])


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    r = a[:3, :3].T @ b[:3, :3]
    return math.acos(float(np.clip((np.trace(r) - 1) / 2, -1, 1)))


def test_flight_is_seeded():
    _, a = _fly(3, 400)
    _, b = _fly(3, 400)
    _, c = _fly(4, 400)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flight_is_smooth_rigid_and_stays_near(seed):
    scale = 2.0
    flight, poses = _fly(seed, 3000, scale)
    s = FlightSettings()
    start = _start()
    # rigid camera-to-world poses
    rot = poses[:, :3, :3]
    np.testing.assert_allclose(
        rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-9)
    np.testing.assert_array_equal(poses[:, 3], np.broadcast_to([0, 0, 0, 1], (len(poses), 4)))
    # smooth: no step moves farther than full speed allows or turns more than a few degrees
    everything = np.concatenate([start[None], poses])
    steps = np.linalg.norm(np.diff(everything[:, :3, 3], axis=0), axis=1)
    assert steps.max() <= s.speed * scale * soak.STEP_S * (1 + 1e-9)
    turns = [_angle(a, b) for a, b in zip(everything, everything[1:])]
    assert max(turns) < 0.1
    # the turn rate changes gradually too (no jerks from one step to the next)
    assert np.abs(np.diff(turns)).max() < 0.05
    # it moves (most of the time) and it turns both ways over a long flight
    assert steps.mean() > 0.3 * s.speed * scale * soak.STEP_S
    # it stays near the start: the leash brings it back
    distance = np.linalg.norm(poses[:, :3, 3] - start[:3, 3], axis=1)
    assert distance.max() < 2.0 * s.radius * scale
    # it flies in the start camera's horizontal plane: its height (the start's y) is fixed
    local_y = (poses[:, :3, 3] - start[:3, 3]) @ start[:3, 1]
    np.testing.assert_allclose(local_y, 0.0, atol=1e-9)
    assert len(flight.crumbs) > 3


def test_flight_goes_back_over_known_ground():
    """Over a long flight it comes back within a small distance of where it flew before,
    after having gone far from it."""
    flight, poses = _fly(0, 3000)
    xy = poses[:, :3, 3]
    first = xy[:300]
    later = xy[1500:]
    near = np.linalg.norm(later[:, None] - first[None], axis=2).min()
    assert near < 0.1 * flight.settings.radius * flight.scale


def test_parse_vmrss():
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmRSS:\t  123456 kB\nThreads:\t4\n"
    assert soak.parse_vmrss(status) == 123456 * 1024
    assert soak.parse_vmrss("Name:\tpython\n") is None


def test_rss_bytes_reads_this_process_or_falls_back(tmp_path):
    now = soak.rss_bytes()
    assert 10 * 2**20 < now < 2**40
    # without a status file: the peak from getrusage, at least what is resident now
    assert soak.rss_bytes(tmp_path / "missing") >= 0.5 * now
    if Path("/proc/self/status").exists():  # it follows an allocation, in a fresh process:
        # the suite's own process may reuse memory it freed earlier, still resident
        code = (
            "from engine import soak; before = soak.rss_bytes(); "
            "blob = bytearray(64 * 2**20); blob[::4096] = b'x' * len(blob[::4096]); "
            "print(before, soak.rss_bytes())"
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        before, after = map(int, run.stdout.split())
        assert after > before + 32 * 2**20


def _minute(k: int, rss: float, memory: float = 1.0, frames: int = 8, spf: float = 0.5) -> Minute:
    return Minute(
        minute=k,
        seconds=60.0,
        rss_mib=rss,
        entries=1000 * k,
        memory_mib=memory,
        max_memory_mib=memory,
        segments=k,
        frames=frames,
        moves=20,
        s_per_frame=spf,
        exceptions=0,
    )


def test_summary_measures_growth_after_the_warmup():
    rss = [300, 380, 390, 395, 400, 404, 410, 420]
    s = soak.summarize([_minute(k + 1, r) for k, r in enumerate(rss)], None, 0)
    assert s.baseline_minute == 5
    assert s.rss_start_mib == 400 and s.rss_end_mib == 420
    assert s.rss_growth_pct == pytest.approx(5.0)
    assert s.rss_max_mib == 420
    assert s.minutes == pytest.approx(8.0)
    assert s.segments == 8 and s.frames == 64
    assert s.s_per_frame == pytest.approx(0.5)
    assert s.ok


def test_summary_of_short_runs_measures_from_the_first_minute():
    s = soak.summarize([_minute(1, 200), _minute(2, 210), _minute(3, 220)], None, 0)
    assert s.baseline_minute == 1
    assert s.rss_growth_pct == pytest.approx(10.0)
    one = soak.summarize([_minute(1, 200)], None, 0)
    assert one.rss_growth_pct is None and one.baseline_minute is None
    assert "too short" in soak.format_summary(one)


def test_summary_weights_seconds_per_frame_by_frames():
    records = [_minute(1, 100, frames=10, spf=1.0), _minute(2, 100, frames=30, spf=0.2)]
    s = soak.summarize(records, None, 0)
    assert s.s_per_frame == pytest.approx((10 * 1.0 + 30 * 0.2) / 40)
    idle = soak.summarize([_minute(1, 100, frames=0, spf=0.0)], None, 0)
    assert idle.s_per_frame is None


def test_summary_flags_the_budget_and_exceptions():
    records = [_minute(1, 100, memory=0.4), _minute(2, 100, memory=0.6)]
    assert soak.summarize(records, 1.0, 0).ok
    over = soak.summarize(records, 0.5, 0)
    assert over.over_budget and not over.ok
    assert "EXCEEDED" in soak.format_summary(over)
    failed = soak.summarize(records, None, 2)
    assert not failed.ok and "exceptions: 2" in soak.format_summary(failed)


def test_cli_soak_needs_minutes_and_checks_them(capsys):
    assert cli.main(["soak"]) == cli.EXIT_USAGE
    assert cli.main(["soak", "--minutes", "0"]) == cli.EXIT_ERROR
    assert cli.main(["soak", "--minutes", "1", "--budget", "-1"]) == cli.EXIT_ERROR
    assert cli.main(["soak", "--help"]) == cli.EXIT_OK
    assert "--budget" in capsys.readouterr().out


def test_soak_counts_exceptions_and_flies_on(monkeypatch, tmp_path, capsys):
    """A move that raises is counted and printed with its traceback; the flight goes on;
    the exit code says so."""
    from engine.explore import Explorer

    calls = []
    move = Explorer.move

    def flaky(self, pose, at, generating=True):
        calls.append(at)
        if len(calls) in (2, 4):
            raise RuntimeError(f"boom {len(calls)}")
        move(self, pose, at, generating)

    monkeypatch.setattr(Explorer, "move", flaky)
    out = tmp_path / "soak.json"
    args = ["soak", "--minutes", "0.1", "--width", "64", "--height", "48", "--json", str(out)]
    assert cli.main(args) == cli.EXIT_ERROR
    captured = capsys.readouterr()
    assert "boom 2" in captured.err and "boom 4" in captured.err
    assert "Traceback" in captured.err
    assert len(calls) > 4
    data = json.loads(out.read_text())
    assert data["summary"]["exceptions"] == 2 and not data["summary"]["ok"]
    assert data["minutes"][-1]["exceptions"] == 2
    assert "exceptions: 2" in captured.out


@pytest.mark.slow
def test_two_minute_soak(tmp_path):
    """Two minutes of flight with generation on in a small world with a budget small enough
    to evict: no exception, the memory kept under the budget, a record per minute."""
    budget = 0.006  # the seed holds about 0.0047 MiB at 128x96: a segment or two fill it
    settings = soak.SoakSettings(minutes=2.0, budget_mib=budget, seed=1, width=128, height=96)
    lines: list[str] = []
    out = tmp_path / "soak.json"
    records, summary = soak.soak(settings, out=lines.append, json_out=out)
    print("\n".join(lines))
    assert [r.minute for r in records][:2] == [1, 2]
    assert summary.exceptions == 0
    assert summary.segments > 0 and summary.frames > 0
    assert all(r.max_memory_mib <= budget for r in records)
    assert not summary.over_budget and summary.ok
    assert summary.max_memory_mib > 0.5 * budget
    assert summary.rss_growth_pct is not None
    data = json.loads(out.read_text())
    assert len(data["minutes"]) == len(records) and data["summary"]["ok"]


def test_ctrl_c_stops_with_the_summary(monkeypatch, capsys):
    from engine.explore import Explorer

    calls = []
    move = Explorer.move

    def interrupted(self, pose, at, generating=True):
        calls.append(at)
        if len(calls) == 3:
            raise KeyboardInterrupt
        move(self, pose, at, generating)

    monkeypatch.setattr(Explorer, "move", interrupted)
    args = ["soak", "--minutes", "5", "--width", "64", "--height", "48"]
    assert cli.main(args) == cli.EXIT_INTERRUPTED
    out = capsys.readouterr().out
    assert len(calls) == 3
    assert "soak: interrupted" in out and "(interrupted)" in out and "exceptions: 0" in out
