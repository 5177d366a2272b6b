"""Soak: a long seeded random flight with generation on, measured minute by minute.

`latentscape soak --minutes N` opens a scene in an Explorer (engine/explore.py, what the
app's engine thread runs), turns generation on and flies a random path (`Flight`): smooth
turns and moves, back toward known ground when it strays too far or on a whim. Each minute
it records the process's resident memory (RSS), the memory's entries and bytes, the
segments made, the seconds per generated frame of that minute and the exceptions so far
(`Minute`); at the end, or on Ctrl+C, a summary (`summarize`): RSS growth after the first
`WARMUP_MINUTES` (after the first minute for runs that short), the most the memory held
against its budget, the exceptions. An exception in a move is counted, printed with its
traceback, and the flight goes on.

The app's window runs the same flight under an X server with scripts/soak_app.py.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.world import WorldConfig

WARMUP_MINUTES = 5
"""RSS growth is measured from the end of this minute (caches, allocator pools and the
memory itself fill up first); from the end of the first minute in shorter runs."""

RSS_GROWTH_GOAL_PCT = 10.0
"""The goal for the RSS growth after the warm-up (issue 16), reported, not enforced."""

STEP_S = 0.1
"""Flight time between two moves, seconds (the flight's clock, not the wall clock: the
same seed flies the same path however fast the machine is)."""


# ---- the flight


@dataclass
class FlightSettings:
    """How the random flight moves, in scene units (`scale`: the seed's median depth)."""

    speed: float = 0.25  # forward speed, scales per second
    max_turn: float = 0.5  # most yaw rate, radians per second
    max_pitch: float = 0.15  # most pitch either way, radians
    radius: float = 1.0  # beyond this distance from the start, head back, scales
    return_chance: float = 0.02  # per second: fly back to a point flown over before
    turn_change: float = 0.8  # how fast the wanted yaw rate wanders, per second


class Flight:
    """A seeded random flight: poses (4, 4), camera-to-world, OpenCV axes, starting at
    `start` and moving in the start camera's horizontal plane (its x, z) with a little
    pitch. The yaw rate follows a wandering target and is limited (no jumps); the speed
    eases in and out. When farther than `radius` from the start, or now and then at random,
    it turns toward a point flown over before and flies there ("back over known ground")."""

    def __init__(
        self,
        start: np.ndarray,
        seed: int = 0,
        scale: float = 1.0,
        settings: FlightSettings | None = None,
    ) -> None:
        self.start = np.asarray(start, dtype=np.float64)
        self.scale = float(scale)
        self.settings = settings or FlightSettings()
        self.rng = np.random.default_rng(seed)
        self.position = np.zeros(2)  # (x, z) in the start camera's frame
        self.yaw = 0.0  # radians, + turns right (toward +x)
        self.pitch = 0.0
        self.yaw_rate = 0.0
        self.wanted_rate = 0.0
        self.speed = 0.0
        self.target: np.ndarray | None = None  # (x, z) flying back to, or None
        self.crumbs: list[np.ndarray] = [self.position.copy()]
        self.t = 0.0

    def step(self, dt: float = STEP_S) -> np.ndarray:
        """Advance the flight by dt seconds; the new pose (4, 4)."""
        s, rng = self.settings, self.rng
        self.t += dt
        reach = s.radius * self.scale
        if self.target is None and (
            np.linalg.norm(self.position) > reach or rng.random() < s.return_chance * dt
        ):
            self.target = self.crumbs[int(rng.integers(len(self.crumbs)))].copy()
        if self.target is not None:
            to = self.target - self.position
            if np.linalg.norm(to) < 0.1 * reach:
                self.target = None
            else:
                # the yaw pointing at the target: forward is (sin yaw, cos yaw) in (x, z)
                err = _wrap(math.atan2(to[0], to[1]) - self.yaw)
                self.wanted_rate = float(np.clip(2.0 * err, -s.max_turn, s.max_turn))
        if self.target is None:
            self.wanted_rate += float(rng.normal(0.0, s.turn_change * math.sqrt(dt)))
            self.wanted_rate = float(np.clip(self.wanted_rate, -s.max_turn, s.max_turn))
        # the yaw rate follows the wanted one with a limited angular acceleration
        accel = 2.0 * s.max_turn * dt
        self.yaw_rate += float(np.clip(self.wanted_rate - self.yaw_rate, -accel, accel))
        self.yaw = _wrap(self.yaw + self.yaw_rate * dt)
        self.pitch = float(
            np.clip(
                0.97 * self.pitch + float(rng.normal(0.0, 0.2 * math.sqrt(dt))) * dt,
                -s.max_pitch,
                s.max_pitch,
            )
        )
        # slower while turning hard, so turns look at what they sweep over
        wanted_speed = s.speed * self.scale * (1.0 - 0.7 * abs(self.yaw_rate) / s.max_turn)
        ease = 0.5 * s.speed * self.scale * dt  # from standing to full speed in 2 s
        self.speed += float(np.clip(wanted_speed - self.speed, -ease, ease))
        self.speed = max(0.0, self.speed)
        forward = np.array([math.sin(self.yaw), math.cos(self.yaw)])
        self.position = self.position + forward * self.speed * dt
        if np.linalg.norm(self.position - self.crumbs[-1]) > 0.25 * reach:
            self.crumbs.append(self.position.copy())
        return self.pose()

    def pose(self) -> np.ndarray:
        """The current pose (4, 4): the start pose times the flight's own motion."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
        local = np.eye(4)
        local[:3, :3] = yaw @ pitch
        local[:3, 3] = [self.position[0], 0.0, self.position[1]]
        pose: np.ndarray = self.start @ local
        return pose


def _wrap(angle: float) -> float:
    """An angle in (-pi, pi]."""
    return float(-((-angle + math.pi) % (2 * math.pi) - math.pi))


def poses(flight: Flight, dt: float = STEP_S) -> Iterator[np.ndarray]:
    """The flight's poses, one per dt, without end."""
    while True:
        yield flight.step(dt)


# ---- resident memory


def parse_vmrss(status: str) -> int | None:
    """The VmRSS line of a /proc/PID/status text, in bytes; None without one."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            return int(value) * {"kB": 1024, "mB": 2**20, "gB": 2**30}.get(unit, 1)
    return None


def rss_bytes(status: Path = Path("/proc/self/status")) -> int:
    """This process's resident memory now (Linux: VmRSS); elsewhere the peak RSS so far
    (getrusage: what the platform offers without psutil)."""
    try:
        found = parse_vmrss(status.read_text())
    except OSError:
        found = None
    if found is not None:
        return found
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # bytes on macOS


# ---- records and the summary


@dataclass
class Minute:
    """What one minute of the soak left (the last may be shorter: `seconds`)."""

    minute: int
    seconds: float  # wall time this record covers
    rss_mib: float
    entries: int  # memory entries at its end
    memory_mib: float  # memory bytes at its end
    max_memory_mib: float  # the most the memory held after any move in it
    segments: int  # segments made so far
    frames: int  # frames generated in this minute
    moves: int  # moves (views) in this minute
    s_per_frame: float | None  # generating moves' wall time / frames generated (None: none)
    exceptions: int  # so far


@dataclass
class Summary:
    minutes: float  # wall minutes flown
    records: int
    baseline_minute: int | None  # the record RSS growth is measured from
    rss_start_mib: float | None
    rss_end_mib: float | None
    rss_growth_pct: float | None
    rss_max_mib: float | None
    max_memory_mib: float
    budget_mib: float | None
    over_budget: bool
    exceptions: int
    segments: int
    frames: int
    s_per_frame: float | None  # over the whole run
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.exceptions == 0 and not self.over_budget


def summarize(
    records: list[Minute],
    budget_mib: float | None,
    exceptions: int,
    interrupted: bool = False,
    warmup: int = WARMUP_MINUTES,
) -> Summary:
    """The run's figures from its per-minute records. RSS growth: from the end of minute
    `warmup` to the end of the run when the run went past it, else from the end of minute 1,
    in % of the former; None with fewer than two records."""
    base: Minute | None = None
    if len(records) > warmup:
        base = records[warmup - 1]
    elif len(records) > 1:
        base = records[0]
    end = records[-1] if records else None
    growth = None
    if base is not None and end is not None and base.rss_mib > 0:
        growth = 100.0 * (end.rss_mib - base.rss_mib) / base.rss_mib
    max_memory = max((r.max_memory_mib for r in records), default=0.0)
    frames = sum(r.frames for r in records)
    generating = sum(r.s_per_frame * r.frames for r in records if r.s_per_frame is not None)
    return Summary(
        minutes=sum(r.seconds for r in records) / 60.0,
        records=len(records),
        baseline_minute=base.minute if base is not None else None,
        rss_start_mib=base.rss_mib if base is not None else None,
        rss_end_mib=end.rss_mib if end is not None else None,
        rss_growth_pct=growth,
        rss_max_mib=max((r.rss_mib for r in records), default=None),
        max_memory_mib=max_memory,
        budget_mib=budget_mib,
        over_budget=budget_mib is not None and max_memory > budget_mib,
        exceptions=exceptions,
        segments=records[-1].segments if records else 0,
        frames=frames,
        s_per_frame=generating / frames if frames else None,
        interrupted=interrupted,
    )


HEADER = (
    f"{'min':>4} {'RSS MiB':>8} {'entries':>8} {'mem MiB':>8} {'max MiB':>8} "
    f"{'segs':>5} {'frames':>6} {'s/frame':>8} {'exc':>4}"
)


def format_minute(r: Minute) -> str:
    spf = f"{r.s_per_frame:8.3f}" if r.s_per_frame is not None else f"{'-':>8}"
    return (
        f"{r.minute:>4} {r.rss_mib:8.1f} {r.entries:8d} {r.memory_mib:8.3f} "
        f"{r.max_memory_mib:8.3f} {r.segments:5d} {r.frames:6d} {spf} {r.exceptions:4d}"
    )


def format_summary(s: Summary) -> str:
    def mib(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f} MiB"

    lines = [
        f"flew {s.minutes:.1f} min{' (interrupted)' if s.interrupted else ''}: "
        f"{s.segments} segments, {s.frames} frames generated"
        + (f", {s.s_per_frame:.3f} s/frame" if s.s_per_frame is not None else ""),
    ]
    if s.rss_growth_pct is None:
        lines.append(f"RSS: {mib(s.rss_end_mib)} (too short to measure growth)")
    else:
        goal = "within" if abs(s.rss_growth_pct) < RSS_GROWTH_GOAL_PCT else "NOT within"
        lines.append(
            f"RSS: {mib(s.rss_start_mib)} after minute {s.baseline_minute} -> "
            f"{mib(s.rss_end_mib)} at the end: {s.rss_growth_pct:+.1f}% ({goal} the "
            f"{RSS_GROWTH_GOAL_PCT:g}% goal); peak {mib(s.rss_max_mib)}"
        )
    budget = (
        "no budget"
        if s.budget_mib is None
        else f"budget {s.budget_mib:g} MiB: {'EXCEEDED' if s.over_budget else 'kept'}"
    )
    lines.append(f"memory: at most {s.max_memory_mib:.3f} MiB ({budget})")
    lines.append(f"exceptions: {s.exceptions}")
    return "\n".join(lines)


# ---- the run


@dataclass
class SoakSettings:
    """What `latentscape soak` was asked for."""

    minutes: float = 2.0
    budget_mib: float | None = None  # the memory's byte budget, MiB (None: none)
    seed: int = 0  # the flight's seed (the world's is config's)
    source: str = "room"  # what to open: a sample scene, a photo or a saved world
    width: int | None = None  # world size (None: WorldConfig's)
    height: int | None = None
    config: list[str] = field(default_factory=list)  # WorldConfig key=value overrides
    minute_s: float = 60.0  # seconds a record covers (tests shorten it)

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise ValueError(f"--minutes must be > 0, got {self.minutes:g}")
        if self.budget_mib is not None and self.budget_mib <= 0:
            raise ValueError(f"--budget must be > 0 MiB, got {self.budget_mib:g}")

    def world_config(self) -> WorldConfig:
        """WorldConfig with `config`, then the size and the budget asked for."""
        from engine.world import WorldConfig

        overrides = list(self.config)
        if self.width is not None:
            overrides.append(f"width={self.width}")
        if self.height is not None:
            overrides.append(f"height={self.height}")
        if self.budget_mib is not None:
            overrides.append(f"memory_budget_mib={self.budget_mib}")
        return WorldConfig().with_overrides(overrides)


class _Counter:
    """Flight figures gathered between two records."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.t0 = time.perf_counter()
        self.frames = 0
        self.moves = 0
        self.generating_s = 0.0
        self.max_memory = 0


def machine() -> dict[str, Any]:
    """Where the soak ran, for its JSON."""
    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def soak(
    settings: SoakSettings,
    out: Callable[[str], None] = print,
    err: Callable[[str], None] | None = None,
    json_out: Path | None = None,
) -> tuple[list[Minute], Summary]:
    """Fly until settings.minutes have passed (or Ctrl+C); the records and the summary.
    Lines go to out (a record per minute), tracebacks to err (stderr by default); json_out,
    when given, is rewritten after every record (a run cut short keeps its minutes)."""
    from engine.explore import Explorer

    def to_stderr(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    err = err or to_stderr
    config = settings.world_config()
    explorer = Explorer(config)
    explorer.set_generating(True)
    explorer.open(settings.source)
    world = explorer.world
    assert world is not None and world.camera is not None  # open() seeds it
    flight = Flight(world.camera.pose.numpy(), seed=settings.seed, scale=_scene_scale(world))
    out(
        f"soak: {settings.source} at {config.width}x{config.height}, "
        f"{settings.minutes:g} min, budget "
        + (f"{settings.budget_mib:g} MiB" if settings.budget_mib is not None else "none")
        + f", flight seed {settings.seed}"
    )
    out(HEADER)

    records: list[Minute] = []
    exceptions = 0
    interrupted = False
    counter = _Counter()
    start = time.perf_counter()
    end = start + 60.0 * settings.minutes
    flown = len(world.trajectory)

    def record() -> None:
        w = explorer.world
        assert w is not None
        nbytes = w.memory.nbytes
        minute = Minute(
            minute=len(records) + 1,
            seconds=time.perf_counter() - counter.t0,
            rss_mib=rss_bytes() / 2**20,
            entries=len(w.memory),
            memory_mib=nbytes / 2**20,
            max_memory_mib=max(counter.max_memory, nbytes) / 2**20,
            segments=w.segments,
            frames=counter.frames,
            moves=counter.moves,
            s_per_frame=counter.generating_s / counter.frames if counter.frames else None,
            exceptions=exceptions,
        )
        records.append(minute)
        out(format_minute(minute))
        if json_out is not None:
            write_json(
                json_out, settings, records, summarize(records, settings.budget_mib, exceptions)
            )
        counter.reset()

    try:
        for pose in poses(flight):
            now = time.perf_counter()
            if now >= end:
                break
            if now - counter.t0 >= settings.minute_s:
                record()
            t0 = time.perf_counter()
            try:
                explorer.move(pose, flight.t, True)
            except Exception:
                exceptions += 1
                err(f"soak: exception {exceptions} at flight time {flight.t:.1f} s:")
                err(traceback.format_exc())
            w = explorer.world
            assert w is not None
            counter.moves += 1
            made = len(w.trajectory) - flown
            flown = len(w.trajectory)
            if made > 0:
                counter.frames += made
                counter.generating_s += time.perf_counter() - t0
            counter.max_memory = max(counter.max_memory, w.memory.nbytes)
    except KeyboardInterrupt:
        interrupted = True
        out("soak: interrupted")
    if counter.moves or not records:
        record()
    summary = summarize(records, settings.budget_mib, exceptions, interrupted)
    out(format_summary(summary))
    if json_out is not None:
        write_json(json_out, settings, records, summary)
    return records, summary


def _scene_scale(world: Any) -> float:
    """The seed's median finite depth: the flight's unit."""
    depth = world.seed_depth
    if depth is None:
        return 1.0
    finite = depth[depth.isfinite() & (depth > 0)]
    return float(finite.median()) if finite.numel() else 1.0


def write_json(
    path: Path,
    settings: SoakSettings,
    records: list[Minute],
    summary: Summary,
    variant: str = "engine",
) -> None:
    """The run as JSON: what flew (variant: "engine", the Explorer alone; "app", the
    window), settings, machine, records, summary."""
    data = {
        "variant": variant,
        "settings": asdict(settings),
        "machine": machine(),
        "minutes": [asdict(r) for r in records],
        "summary": {**asdict(summary), "ok": summary.ok},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
