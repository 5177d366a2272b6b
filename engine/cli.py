"""The `latentscape` command line.

Subcommands import what they need when they run, so `latentscape --help` stays fast. This
module is part of engine/: it never imports the GUI packages, it only asks whether they exist.
"""

import argparse
import importlib.util
import os
import platform
import sys
from pathlib import Path

import engine
from engine.memory import MEMORIES

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

FIRST_FRAME_TIMEOUT = 300.0  # seconds `explore --exit-after-first-frame` waits by default

GUI_PACKAGES = ("PySide6", "moderngl", "pyqtgraph", "qasync")

DESCRIPTION = """\
Latentscape: fly through a world generated from one photo. What the camera has never seen
is generated segment by segment, and a latent spatial memory keeps whatever was seen once
the same when the camera comes back."""

EPILOG = """\
examples:
  latentscape                      (the desktop explorer's start page)
  latentscape explore room         (fly through a sample scene, a photo or a saved world)
  latentscape explore room --exit-after-first-frame   (start-up check; exit 0 on success)
  latentscape info
  latentscape render room --out room.mp4 --save-world room.lsworld
  latentscape render photo.jpg --out flight.mp4 --config seed=3
  latentscape bench memory --quick --json bench-memory.json
  latentscape bench world --json bench-world.json
  latentscape bench world --generator diffusers-wan-vace:random-full   (Mirage's figure)
  latentscape batch shots.json --out shots --local 2   (many renders; --ray ADDRESS for Ray)
  latentscape soak --minutes 30 --budget 1 --json soak.json
  latentscape eval ../shared/eval/re10k-bedroom --out /tmp/eval-bedroom
  latentscape eval motorcycle --out /tmp/eval-motorcycle
  latentscape eval generation --out /tmp/eval-generation

exit codes:
  0    success
  1    error (bad input, missing file, a file that cannot be written)
  2    usage error (bad command line)
  130  interrupted (Ctrl+C)"""

NO_GUI = (
    "The desktop explorer is started by the `latentscape` launcher (app/main.py); this "
    "entry point has the command line only: try `latentscape info` or "
    "`latentscape bench memory --quick`."
)


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    cuda = torch.cuda.is_available()
    print(f"latentscape  {engine.__version__}")
    print(f"python       {platform.python_version()} ({sys.executable})")
    print(f"platform     {platform.platform()}")
    print(
        f"torch        {torch.__version__}, {torch.get_num_threads()} threads "
        f"({torch.get_num_interop_threads()} inter-op), CUDA {'yes' if cuda else 'no'}"
    )
    # find_spec only locates a package; engine/ must never import the GUI packages.
    found = ", ".join(
        f"{name} {'found' if importlib.util.find_spec(name) else 'MISSING'}"
        for name in GUI_PACKAGES
    )
    print(f"GUI packages {found}")
    return EXIT_OK


def cmd_bench_memory(args: argparse.Namespace) -> int:
    from engine.bench import memory

    return memory.run(quick=args.quick, json_out=args.json_out, seed=args.seed)


def cmd_bench_codec(args: argparse.Namespace) -> int:
    from engine.bench import codec

    return codec.run(json_out=args.json_out, weights=args.weights)


def cmd_bench_depth(args: argparse.Namespace) -> int:
    from engine.bench import depth

    return depth.run(json_out=args.json_out)


def cmd_render(args: argparse.Namespace) -> int:
    from engine.render import ProgressBar, RenderJob, load_path_file
    from engine.world import WorldConfig

    config = WorldConfig().with_overrides(args.config)
    if args.memory is not None:
        config = config.with_overrides([f"memory={args.memory}"])
    notes: list[str] = []
    path = load_path_file(args.path, notes) if args.path is not None else None
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    job = RenderJob(
        source=args.source,
        out=args.out,
        config=config,
        path=path,
        fps=args.fps,
        depth=args.depth,
        mask=args.mask,
        save_world=args.save_world,
        frames=args.frames,
        ply=args.ply,
    )
    bars = []

    def start(world, segments) -> None:
        total = sum(len(s) for s in segments)
        print(
            f"rendering {len(segments)} segments, {total} frames at "
            f"{world.config.width}x{world.config.height} ({world.config.memory} memory)",
            file=sys.stderr,
        )
        bars.append(ProgressBar(total))

    try:
        result = job.run(on_start=start, on_event=lambda e: bars[0](e))
    finally:
        if bars:
            bars[0].finish()
    if result.interrupted:
        kept = (
            f"; the {result.frames} frames done are in {result.partial}" if result.partial else ""
        )
        print(f"latentscape: interrupted{kept}", file=sys.stderr)
        return EXIT_INTERRUPTED
    per_segment = ", ".join(f"{s:.3f}" for s in result.seconds_per_frame)
    print(
        f"wrote {result.out} ({result.frames} frames); seconds per frame by segment: {per_segment}"
    )
    for what, where in (
        ("the world", args.save_world),
        ("the frames", args.frames),
        ("the memory", args.ply),
    ):
        if where is not None:
            print(f"wrote {what} to {where}")
    return EXIT_OK


def cmd_path_convert(args: argparse.Namespace) -> int:
    from engine import path as camera_path
    from engine.io import read_json

    data = read_json(args.input, "camera path")
    notes: list[str] = []
    cam_path = camera_path.from_dict(data, str(args.input), notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    own = isinstance(data, dict) and data.get("format") == camera_path.FORMAT
    fmt = args.to or ("nerfstudio" if own else "latentscape")
    out = camera_path.save_path(cam_path, args.output, fmt=fmt)
    print(
        f"wrote {out} ({fmt}: {len(cam_path.keyframes)} keyframes, "
        f"{cam_path.duration:.2f} s at {cam_path.render.fps:g} fps)"
    )
    return EXIT_OK


def cmd_bench_batch(args: argparse.Namespace) -> int:
    from engine.bench import batch

    width, height = args.size
    return batch.run(width, height, args.frames, ray=args.ray, json_out=args.json_out)


def cmd_bench_world(args: argparse.Namespace) -> int:
    if args.generator is not None:
        from engine.bench import video

        given = {"frames": args.frames, "steps": args.steps, "layers": args.layers}
        given |= {"segments": args.segments, "sizes": args.size and tuple(args.size)}
        bench = video.VideoBench.for_machine(args.generator, device=args.device, **given)
        bench.dtype, bench.seed = args.dtype, args.seed
        return video.run(bench, json_out=args.json_out)
    from engine.bench import world

    return world.run(quick=args.quick, json_out=args.json_out, seed=args.seed)


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not (w.isdigit() and h.isdigit()) or int(w) % 32 or int(h) % 32:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in multiples of 32, got {text!r}")
    return int(w), int(h)


def cmd_batch(args: argparse.Namespace) -> int:
    from engine import batch

    jobs = batch.read_jobs(args.jobs)
    out = Path(args.out) if args.out is not None else Path(args.jobs).with_suffix("")
    executor: batch.Executor = (
        batch.RayExecutor(args.ray, cpus=args.cpus or 1, num_cpus=args.local)
        if args.ray is not None
        else batch.LocalExecutor(args.local or 1, cpus=args.cpus)
    )
    print(f"batch: {len(jobs)} jobs into {out}, {executor.describe()}", file=sys.stderr)
    progress = batch.BatchProgress()
    try:
        results = batch.run_batch(jobs, out, executor, retries=args.retries, on_result=progress)
    except KeyboardInterrupt:
        progress.finish()
        print(f"latentscape: interrupted; the finished jobs are kept in {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    progress.finish()
    print(batch.summary_table(results))
    print(f"wrote {out / batch.SUMMARY_FILE}")
    return EXIT_ERROR if any(r.status == "failed" for r in results) else EXIT_OK


def cmd_soak(args: argparse.Namespace) -> int:
    from engine import soak

    settings = soak.SoakSettings(
        minutes=args.minutes,
        budget_mib=args.budget,
        seed=args.seed,
        source=args.source,
        width=args.width,
        height=args.height,
        config=list(args.config),
    )
    _, summary = soak.soak(
        settings, out=lambda line: print(line, flush=True), json_out=args.json_out
    )
    if args.json_out is not None:
        print(f"wrote {args.json_out}")
    if not summary.ok:
        return EXIT_ERROR
    return EXIT_INTERRUPTED if summary.interrupted else EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    if args.source == GENERATION and not Path(GENERATION).exists():
        return cmd_eval_generation(args)
    if args.photos is not None:
        raise ValueError("--photos is for `latentscape eval generation` only")
    from engine.eval import protocol
    from engine.eval.sequence import read_sequence
    from engine.world import WorldConfig

    sequence = read_sequence(args.source)
    for note in sequence.notes:
        print(f"note: {note}", file=sys.stderr)
    settings = protocol.EvalSettings(
        start=args.start,
        offsets=tuple(args.offsets or protocol.default_offsets(sequence)),
        size=protocol.parse_size(args.size) if args.size is not None else None,
        segment_length=args.segment_length,
        erode_pixels=args.erode,
        config=WorldConfig().with_overrides(args.config),
    )
    evaluation = protocol.evaluate(sequence, settings)
    print(protocol.format_table(evaluation))
    if args.out is not None:
        json_path, sheet_path = protocol.write_outputs(evaluation, args.out)
        print(f"wrote {json_path} and {sheet_path}")
    return EXIT_OK


GENERATION = "generation"
"""The `eval` source that runs the generation evaluation (an existing folder of that name wins)."""


def cmd_eval_generation(args: argparse.Namespace) -> int:
    from engine.eval import generation
    from engine.eval.report import parse_size
    from engine.world import WorldConfig

    sequence_only = {
        "--start": args.start != 0,
        "--offsets": args.offsets is not None,
        "--segment-length": args.segment_length != 8,
        "--erode": args.erode != 1,
    }
    given = [option for option, set_ in sequence_only.items() if set_]
    if given:
        raise ValueError(f"{', '.join(given)}: for sequences only, not `eval generation`")
    settings = generation.GenerationSettings(
        size=parse_size(args.size) if args.size is not None else None,
        config=WorldConfig().with_overrides(args.config),
    )
    evaluation = generation.evaluate_generation(args.photos, settings)
    print(generation.format_table(evaluation))
    if args.out is not None:
        json_path, sheet_path = generation.write_outputs(evaluation, args.out)
        print(f"wrote {json_path} and {sheet_path}")
    return EXIT_OK


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        dest="json_out",
        metavar="OUT",
        type=Path,
        default=None,
        help="also write the results as JSON to the file OUT",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentscape",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {engine.__version__}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")

    explore = commands.add_parser(
        "explore",
        help="open the desktop explorer (also what `latentscape` alone does)",
        description="Open the desktop explorer, on SOURCE if given (a photo, a sample scene "
        "name or a saved world folder), else on its start page.",
    )
    explore.add_argument("source", nargs="?", default=None, metavar="SOURCE")
    explore.add_argument(
        "--exit-after-first-frame",
        action="store_true",
        help="a start-up check (the desktop bundle's smoke test): open SOURCE with the default "
        "settings, exit 0 once its first view is drawn, 1 with a message on an error or after "
        "--timeout; the user's settings and recovery copy are not touched",
    )
    explore.add_argument(
        "--timeout",
        type=float,
        default=FIRST_FRAME_TIMEOUT,
        metavar="SECONDS",
        help=f"with --exit-after-first-frame: give up after this long (default: "
        f"{FIRST_FRAME_TIMEOUT:g})",
    )

    info = commands.add_parser(
        "info",
        help="show versions, torch threads and which GUI packages are found",
        description="Show versions, torch threads and which GUI packages are found.",
    )
    info.set_defaults(func=cmd_info)

    render = commands.add_parser(
        "render",
        help="render a camera path through a world generated from a photo into an MP4",
        description=(
            "Seed a world from SOURCE (a photo, a sample scene name or a saved world folder), "
            "generate every segment of the camera path and write the frames to an MP4. "
            "Ctrl+C stops between frames and keeps the frames done as OUT.partial.mp4."
        ),
    )
    render.add_argument(
        "source", metavar="SOURCE", help="photo file, sample scene name or world folder"
    )
    render.add_argument(
        "--path",
        metavar="PATH.json",
        default=None,
        help="a camera path: the project's JSON, nerfstudio's camera_path.json, or a pose list "
        "(default: walk forward, turn around, walk back, turn again)",
    )
    render.add_argument("--out", metavar="OUT.mp4", type=Path, required=True, help="video to write")
    render.add_argument(
        "--depth", metavar="FILE", default=None, help="depth map given with the photo"
    )
    render.add_argument(
        "--save-world", metavar="DIR", type=Path, default=None, help="also save the world"
    )
    render.add_argument(
        "--config",
        metavar="KEY=VALUE",
        nargs="*",
        default=[],
        help="world settings, e.g. seed=3 frames_per_segment=12 (see WorldConfig)",
    )
    render.add_argument("--memory", choices=MEMORIES, default=None, help="memory kind")
    render.add_argument(
        "--mask",
        metavar="FILE",
        default=None,
        help="image marking dynamic things (nonzero pixels) to keep out of the memory",
    )
    render.add_argument(
        "--frames",
        metavar="DIR",
        type=Path,
        default=None,
        help="also write the frames with transforms.json (nerfstudio) and COLMAP text cameras",
    )
    render.add_argument(
        "--ply", metavar="FILE", type=Path, default=None, help="also write the memory as a PLY"
    )
    render.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frames per second (default: the camera path's, else 24)",
    )
    render.set_defaults(func=cmd_render)

    path = commands.add_parser(
        "path", help="camera path files", description="Work with camera path files."
    )
    path_commands = path.add_subparsers(dest="path_command", metavar="ACTION", required=True)
    convert = path_commands.add_parser(
        "convert",
        help="convert between the project's camera path JSON and nerfstudio's camera_path.json",
        description=(
            "Read a camera path (the project's JSON or nerfstudio's camera_path.json, told "
            "apart by their contents) and write it in the other format, or in --to's."
        ),
    )
    convert.add_argument("input", metavar="IN.json", type=Path)
    convert.add_argument("output", metavar="OUT.json", type=Path)
    convert.add_argument(
        "--to",
        choices=("latentscape", "nerfstudio"),
        default=None,
        help="format to write (default: the other one)",
    )
    convert.set_defaults(func=cmd_path_convert)

    evaluation = commands.add_parser(
        "eval",
        help="compare the world's frames with a real capture, beside an RGB warp and the codec",
        description=(
            "Seed a world from one frame of a real capture (a nerfstudio folder with "
            "transforms.json, or COLMAP text; or `motorcycle`, the Middlebury stereo pair "
            "that scikit-image ships), fly its real trajectory and compare the frames at "
            "fixed offsets with the real photos: PSNR and SSIM over the co-visible pixels "
            "and the whole frame, and blockiness, for the latent memory (ours), a "
            "full-resolution RGB forward warp of the seed photo, the RGB memory and the codec "
            "ceiling. Prints a table; --out writes eval.json and sheet.png. The protocol is "
            "in the README (Evaluation on real captures). SOURCE `generation` instead flies "
            "the default path from each of a set of photos and measures the generated "
            "frames against the photo (contrast, texture facing away, blockiness, seams, "
            "colour); --out writes eval-generation.json and sheet-generation.png."
        ),
    )
    evaluation.add_argument(
        "source",
        metavar="SOURCE",
        help="sequence folder (transforms.json or COLMAP text), motorcycle, or generation",
    )
    evaluation.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="write DIR/eval.json and DIR/sheet.png (generation: DIR/eval-generation.json "
        "and DIR/sheet-generation.png)",
    )
    evaluation.add_argument(
        "--photos",
        metavar="P",
        nargs="+",
        default=None,
        help="generation only: photo files, sample scene names or skimage.NAME (default: "
        "skimage.astronaut, .coffee, .chelsea, .rocket, ../shared/eval/photos/*.jpg when "
        "present, and the sample scenes)",
    )
    evaluation.add_argument(
        "--start", type=int, default=0, metavar="S", help="seed frame index (default: 0)"
    )
    evaluation.add_argument(
        "--offsets",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="frames after the seed to compare (default: 4 8 16 24; those past the end are "
        "dropped; the stereo pair has offset 1 only)",
    )
    evaluation.add_argument(
        "--size",
        metavar="WxH",
        default=None,
        help="world size, rounded to multiples of 8; frames cropped to its aspect and "
        "resized (default: the frames' size cropped to multiples of 8; generation: the "
        "world config's, 512x384)",
    )
    evaluation.add_argument(
        "--segment-length",
        type=int,
        default=8,
        metavar="N",
        help="poses per world segment (default: 8)",
    )
    evaluation.add_argument(
        "--erode",
        type=int,
        default=1,
        metavar="PX",
        help="co-visible mask = RGB warp coverage eroded by PX pixels (default: 1)",
    )
    evaluation.add_argument(
        "--config",
        metavar="KEY=VALUE",
        nargs="*",
        default=[],
        help="world settings for ours, e.g. depth=transformers (width and height are set "
        "by the sequence or --size; rgb-memory is the same with memory=rgb)",
    )
    evaluation.set_defaults(func=cmd_eval)

    bench = commands.add_parser(
        "bench",
        help="run a benchmark",
        description="Run a benchmark and print its results.",
    )
    benchmarks = bench.add_subparsers(
        dest="benchmark", title="benchmarks", metavar="BENCHMARK", required=True
    )
    memory = benchmarks.add_parser(
        "memory",
        help="latent memory against the RGB baseline: time per frame and cache size",
        description=(
            "Run the same camera path with the latent memory and with the RGB point-cloud "
            "baseline, and report time per frame, memory size and their ratios."
        ),
    )
    memory.add_argument(
        "--quick", action="store_true", help="small, fast run (the smoke test run in CI)"
    )
    memory.add_argument(
        "--json",
        dest="json_out",
        metavar="OUT",
        type=Path,
        default=None,
        help="also write the results as JSON to the file OUT",
    )
    memory.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    memory.set_defaults(func=cmd_bench_memory)

    codec = benchmarks.add_parser(
        "codec",
        help="embedded codec against a PCA codec: PSNR on photos, encode/decode time",
        description=(
            "Encode and decode the evaluation photos (scikit-image's astronaut, coffee, "
            "chelsea, rocket, motorcycle_left and matplotlib's grace_hopper, centre-cropped "
            "to 512x384) with the embedded codec and with a PCA codec of the same latent size "
            "fitted on the same training data; report PSNR and timing. Needs the bench "
            "extras: pip install -e '.[bench]'."
        ),
    )
    _json_option(codec)
    codec.add_argument(
        "--weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="embedded codec weights to measure (default: the shipped ones)",
    )
    codec.set_defaults(func=cmd_bench_codec)

    depth = benchmarks.add_parser(
        "depth",
        help="embedded depth on the synthetic scenes: AbsRel after median scaling",
        description="Run the embedded depth estimator on synthetic scenes with ground truth.",
    )
    _json_option(depth)
    depth.set_defaults(func=cmd_bench_depth)

    world = benchmarks.add_parser(
        "world",
        help="the whole cycle with latent and RGB memory: s/frame, memory path, cache, PSNR",
        description=(
            "Fly the default path through the room with the latent memory and with the RGB "
            "baseline (embedded codec, then TAESD-size and SD-VAE-size codecs for timing); "
            "print per segment seconds per frame, memory path cost and cache size with their "
            "ratios, then the closed-loop and ground-truth PSNR."
        ),
    )
    world.add_argument("--quick", action="store_true", help="small, fast run (CI smoke test)")
    _json_option(world)
    world.add_argument("--seed", type=int, default=0, metavar="N", help="world seed (default: 0)")
    video = world.add_argument_group(
        "video generator (Mirage's efficiency figure)",
        "With --generator diffusers-wan-vace:random-full (or random-tiny): the Wan VACE "
        "segment cycle with random weights, latent memory against the RGB memory (rasterise "
        "+ Wan VAE encode), per segment. On a GPU the paper's setting; on the CPU a reduced "
        "one, said in the report, for what is not given.",
    )
    video.add_argument("--generator", metavar="NAME", help="diffusers-wan-vace:random-<size>")
    video.add_argument(
        "--size",
        type=_size,
        action="append",
        metavar="WxH",
        help="frame size, repeatable (default: 832x480 and 1280x704)",
    )
    video.add_argument("--frames", type=int, metavar="N", help="new frames per segment (32)")
    video.add_argument("--segments", type=int, metavar="N", help="segments (5)")
    video.add_argument("--steps", type=int, metavar="N", help="denoising steps (20)")
    video.add_argument("--layers", type=int, metavar="N", help="transformer layers kept (all)")
    video.add_argument("--device", default="auto", help="auto, cpu, cuda[:n], mps (auto)")
    video.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    world.set_defaults(func=cmd_bench_world)

    scaling = benchmarks.add_parser(
        "batch",
        help="8 renders of the sample scenes with 1 and 2 workers: wall time and speed-up",
        description=(
            "Render 8 jobs (the four sample scenes, two seeds each) with `latentscape batch`'s "
            "local pool, 1 worker on all cores and then 2 workers sharing them (and Ray on "
            "this machine with --ray); print the wall times, the speed-up and the time per "
            "job and per frame."
        ),
    )
    scaling.add_argument(
        "--size", type=_size, default=(256, 192), metavar="WxH", help="frame size (256x192)"
    )
    scaling.add_argument("--frames", type=int, default=4, metavar="N", help="frames a segment (4)")
    scaling.add_argument("--ray", action="store_true", help="also run on Ray (needs .[batch])")
    _json_option(scaling)
    scaling.set_defaults(func=cmd_bench_batch)

    batch = commands.add_parser(
        "batch",
        help="render a list of jobs (photo or world + camera path) on a process pool or Ray",
        description=(
            "Render every job of JOBS (a JSON list of objects or a CSV with a header: name, "
            "source, path, config, depth, mask, fps) as `latentscape render` would, each "
            "into OUT/<name>/ (video.mp4, frames/ with transforms.json and COLMAP cameras, "
            "job.json), written whole or not at all. A job that fails is tried again "
            "(--retries), then reported; the others go on. Run again, the jobs already done "
            "(same job, same inputs) are skipped. Ctrl+C stops, keeping the finished jobs. "
            "Exit code 1 if a job failed."
        ),
    )
    batch.add_argument("jobs", metavar="JOBS", help="job list, .json or .csv")
    batch.add_argument(
        "--out", metavar="DIR", help="output folder (default: the job list's name beside it)"
    )
    where = batch.add_mutually_exclusive_group()
    where.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on Ray: a cluster's address ('auto': the one this machine is in) or "
        "'local' (Ray on this machine, --local CPUs); needs pip install -e '.[batch]'",
    )
    batch.add_argument(
        "--local",
        type=int,
        metavar="N",
        help="workers of the local process pool (default 1); with --ray local, its CPUs",
    )
    batch.add_argument(
        "--cpus", type=int, metavar="N", help="CPUs (torch threads) per job (default: shared out)"
    )
    batch.add_argument(
        "--retries", type=int, default=2, metavar="N", help="tries after a failure (default 2)"
    )
    batch.set_defaults(func=cmd_batch)

    soak = commands.add_parser(
        "soak",
        help="a long random flight with generation on: RSS, memory, s/frame each minute",
        description=(
            "Open SOURCE (default: the sample scene room) at the world config's size "
            "(512x384 unless --width/--height say otherwise; on a 2-core CPU a segment takes "
            "some seconds there, 256x192 is four times faster), turn generation on and fly a "
            "seeded random path (smooth turns and moves, back over known ground now and "
            "then) for N minutes. Each minute: resident memory (RSS), memory entries and "
            "MiB, segments, seconds per generated frame, exceptions so far; then a summary: "
            "RSS growth after the first 5 minutes (after the first one in shorter runs), "
            "the most the memory held against --budget, the exceptions. An exception is "
            "counted, printed with its traceback, and the flight goes on; Ctrl+C stops with "
            "the summary. Exit code 1 if there was an exception or the memory went over "
            "the budget. The app's window flies the same way under Xvfb with "
            "scripts/soak_app.py."
        ),
    )
    soak.add_argument(
        "--minutes", type=float, required=True, metavar="N", help="how long to fly (minutes)"
    )
    soak.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="MIB",
        help="the latent memory's byte budget in MiB (default: none)",
    )
    soak.add_argument(
        "--seed", type=int, default=0, metavar="S", help="the flight's random seed (default: 0)"
    )
    soak.add_argument(
        "--source",
        default="room",
        metavar="SOURCE",
        help="a sample scene name, a photo or a saved world (default: room)",
    )
    soak.add_argument("--width", type=int, default=None, help="world width in pixels")
    soak.add_argument("--height", type=int, default=None, help="world height in pixels")
    soak.add_argument(
        "--config",
        metavar="KEY=VALUE",
        nargs="*",
        default=[],
        help="other world settings, e.g. seed=3 frames_per_segment=4 (see WorldConfig)",
    )
    _json_option(soak)
    soak.set_defaults(func=cmd_soak)
    return parser


def main(argv: list[str] | None = None, explore=None) -> int:
    """The command line. explore(source or None) -> exit code starts the desktop explorer;
    the launcher in app/main.py passes it (engine/ never imports the GUI)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    if args.command in (None, "explore"):
        source = getattr(args, "source", None)
        check = getattr(args, "exit_after_first_frame", False)
        if check and source is None:
            message = "latentscape explore: error: --exit-after-first-frame needs SOURCE"
            print(message, file=sys.stderr)
            return EXIT_USAGE
        if explore is not None:
            if check:
                return explore(source, exit_after_first_frame=True, timeout=args.timeout)
            return explore(source)
        parser.print_help()
        print()
        print(NO_GUI)
        return EXIT_OK

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("latentscape: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        # Point stdout at devnull so that flushing it at exit raises nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except (ValueError, OSError) as exc:  # OSError: a missing file, a full disk, no access
        print(f"latentscape: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
