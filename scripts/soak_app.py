"""The soak in the real window: the app flies engine/soak.py's random flight with generation
on and records the same figures each minute (`latentscape soak` does it with the Explorer
alone). Run it under Xvfb:

    xvfb-run -a -s "-screen 0 1280x1024x24" python scripts/soak_app.py --minutes 30 \
        --budget 0.5 --json soak-app.json

The flight sets the viewport's camera every 50 ms, as the navigator does when a user flies
(the pose goes to the engine thread through the bridge, the newest pose wins); the figures
come from the bridge's signals: stats (entries, bytes, segments), frame (generated ones carry
their segment) and busy (how long segments take). Exceptions: those raised in Qt's slots
(sys.excepthook) and the errors the window shows (engine failures); each is printed and the
flight goes on. Exit code 1 on any exception or when the memory went over the budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import soak  # noqa: E402

WINDOW = (1280, 760)
STEP_S = 0.05  # wall seconds between two camera updates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--budget", type=float, default=None, metavar="MIB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", default="room")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--json", dest="json_out", type=Path, default=None)
    parser.add_argument("--minute-s", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = soak.SoakSettings(
        minutes=args.minutes,
        budget_mib=args.budget,
        seed=args.seed,
        source=args.source,
        width=args.width,
        height=args.height,
        minute_s=args.minute_s,
    )

    from PySide6.QtCore import QSettings

    from app.main import application
    from app.settings import store_config

    app = application([sys.argv[0]])
    from app.window import MainWindow

    config = settings.world_config()
    scratch = Path(tempfile.mkdtemp())
    qsettings = QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat)
    store_config(qsettings, config)
    window = MainWindow(settings=qsettings, recovery=scratch / "recovery.lsworld")
    window.resize(*WINDOW)
    window.show()
    vp, bridge = window.viewport, window.bridge

    exceptions: list[str] = []

    def excepthook(kind, value, tb) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        exceptions.append(text)
        print(f"soak: exception {len(exceptions)}:\n{text}", file=sys.stderr, flush=True)

    sys.excepthook = excepthook
    seen_messages = 0

    def pump(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    end_open = time.perf_counter() + 300
    window.open_source(settings.source)
    while vp.frame is None or vp.navigator is None or window.info is None:
        if time.perf_counter() > end_open:
            print(f"soak: {settings.source} did not open: {window.messages}", file=sys.stderr)
            return 1
        pump(0.05)
    window.toggle_generation()
    nav = vp.navigator
    info = window.info
    depth = vp.frame.depth
    finite = depth[(depth > 0) & (depth < 1e6)]
    scale = float(sorted(finite.ravel())[len(finite.ravel()) // 2]) if finite.size else 1.0
    flight = soak.Flight(nav.pose, seed=settings.seed, scale=scale)
    print(
        f"soak (app): {settings.source} at {info.width}x{info.height}, {settings.minutes:g} min, "
        f"budget {settings.budget_mib if settings.budget_mib is not None else 'none'}, "
        f"flight seed {settings.seed}",
        flush=True,
    )
    print(soak.HEADER, flush=True)

    counter = {"frames": 0, "moves": 0, "busy_s": 0.0, "max_bytes": 0, "busy_since": None}
    stats: dict = dict(window.hud.stats)  # what the bridge told the HUD when the world opened

    def on_stats(s: dict) -> None:
        stats.update(s)
        counter["max_bytes"] = max(counter["max_bytes"], int(s.get("bytes", 0)))

    def on_frame(frame) -> None:
        if frame.segment:
            counter["frames"] += 1

    def on_busy(on: bool) -> None:
        now = time.perf_counter()
        if on:
            counter["busy_since"] = now
        elif counter["busy_since"] is not None:
            counter["busy_s"] += now - counter["busy_since"]
            counter["busy_since"] = None

    bridge.stats.connect(on_stats)
    bridge.frame.connect(on_frame)
    bridge.busy.connect(on_busy)

    records: list[soak.Minute] = []
    t0 = time.perf_counter()
    start, interrupted = t0, False

    def record() -> None:
        nonlocal t0
        now = time.perf_counter()
        if counter["busy_since"] is not None:  # a segment running across the minute's end
            counter["busy_s"] += now - counter["busy_since"]
            counter["busy_since"] = now
        frames = counter["frames"]
        nbytes = int(stats.get("bytes", 0))
        minute = soak.Minute(
            minute=len(records) + 1,
            seconds=now - t0,
            rss_mib=soak.rss_bytes() / 2**20,
            entries=int(stats.get("entries", 0)),
            memory_mib=nbytes / 2**20,
            max_memory_mib=max(counter["max_bytes"], nbytes) / 2**20,
            segments=int(stats.get("segments", 0)),
            frames=frames,
            moves=counter["moves"],
            s_per_frame=counter["busy_s"] / frames if frames else None,
            exceptions=len(exceptions),
        )
        records.append(minute)
        print(soak.format_minute(minute), flush=True)
        counter.update(frames=0, moves=0, busy_s=0.0, max_bytes=0)
        t0 = now
        if args.json_out is not None:
            summary = soak.summarize(records, settings.budget_mib, len(exceptions))
            soak.write_json(args.json_out, settings, records, summary, variant="app")

    try:
        while time.perf_counter() < start + 60.0 * settings.minutes:
            nav.set_pose(flight.step(STEP_S))
            vp.pose_changed.emit(nav.pose)
            vp.update()
            counter["moves"] += 1
            pump(STEP_S)
            for message in window.messages[seen_messages:]:
                exceptions.append(message)
                print(f"soak: error {len(exceptions)}: {message}", file=sys.stderr, flush=True)
            seen_messages = len(window.messages)
            if time.perf_counter() - t0 >= settings.minute_s:
                record()
    except KeyboardInterrupt:
        interrupted = True
        print("soak: interrupted", flush=True)
    if counter["moves"] or not records:
        record()
    summary = soak.summarize(records, settings.budget_mib, len(exceptions), interrupted)
    print(soak.format_summary(summary), flush=True)
    if args.json_out is not None:
        soak.write_json(args.json_out, settings, records, summary, variant="app")
        print(f"wrote {args.json_out}")
    bridge.set_generating(False)
    window.close()
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
