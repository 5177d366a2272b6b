"""`latentscape batch JOBS`: many render jobs at once, on a local process pool or on Ray.

A job list is JSON (a list of objects, or {"jobs": [...]}) or CSV with a header row; a job:

    name     its output folder's name: unique, letters, digits, '-', '_', '.'
    source   photo, sample scene name or saved world folder (as `latentscape render`)
    path     camera path file (the project's JSON, nerfstudio's camera_path.json, a pose
             list); empty: the default path
    config   world config overrides: an object in JSON, "key=value; key=value" in CSV
    depth, mask, fps   as `latentscape render` takes them

Relative file names are read from the job list's folder. Each job is one `RenderJob` (one
world) in one worker; its output is

    OUT/<name>/video.mp4                        the render
    OUT/<name>/frames/                          frames + transforms.json + COLMAP cameras
    OUT/<name>/job.json                         the job, its digest, time, frames, attempts

written into `OUT/.<name>.partial-<token>/` and renamed to `OUT/<name>/` once complete, so
an output folder is whole or absent. A re-run skips a job whose `job.json` holds the same
digest (the job's fields and the world config they give); a changed job is rendered again
and its old output replaced when the new one is complete. A failed job is tried again up to
`retries` times, then reported with its error; the other jobs go on. Ctrl+C stops the
batch: finished jobs are kept, unfinished ones leave nothing but their partial folders,
removed by the next run.

Models: a worker keeps the codec, depth estimator and generator of its last job and gives
them to its next job when that one names the same backends (cached_backends): a diffusion
model's weights load once per worker, not once per job.

Torch threads: a job's config `threads` when it sets one, else the CPUs its worker was given
(`cpus` per job). The CPU kernels' sums differ in their last bits with the thread count, so
a job renders bit for bit like `latentscape render ... --config threads=<the same>`.

Executors: `LocalExecutor` (a process pool, `--local N`: N workers sharing the machine's
cores) and `RayExecutor` (`--ray ADDRESS`: a Ray cluster, or `--ray local` for Ray on this
machine; one task per job, `cpus` CPUs, one GPU when the job's device is CUDA). Both run
`run_job` in their workers; the driver (`run_batch`) does the retries, the skipping, the
progress and the summary the same way for both.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from engine.world import WorldConfig

from engine.files import atomic_write, remove_folder, replace_folder

FIELDS = ("name", "source", "path", "config", "depth", "mask", "fps")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
JOB_FILE = "job.json"
SUMMARY_FILE = "batch.json"


@dataclass
class BatchJob:
    """One line of a job list (module docstring), its file names resolved."""

    name: str
    source: str
    path: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    depth: str | None = None
    mask: str | None = None
    fps: float | None = None

    def world_config(self) -> WorldConfig:
        """The WorldConfig the job renders with (ValueError naming a bad override)."""
        from engine.world import WorldConfig

        return WorldConfig.from_dict({**WorldConfig().to_dict(), **self.config})

    def digest(self) -> str:
        """What makes two runs of the job the same render: its fields, the world config they
        give, and the size and time of every input file (a changed photo renders again)."""
        inputs = {}
        for key in ("source", "path", "depth", "mask"):
            value = getattr(self, key)
            if value and Path(value).exists():
                inputs[key] = _file_stamps(Path(value))
        record = {"job": asdict(self), "config": self.world_config().to_dict(), "inputs": inputs}
        text = json.dumps(record, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def uses_gpu(self) -> bool:
        return str(self.config.get("device", "cpu")).startswith("cuda")


def _file_stamps(path: Path) -> list[list[object]]:
    """Size and modification time of a file, or of each file of a folder (a saved world,
    saved again as a new folder by its atomic swap), by name."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    stamps: list[list[object]] = []
    for f in files:
        stat = f.stat()
        stamps.append([f.name, stat.st_size, stat.st_mtime_ns])
    return stamps


@dataclass
class JobResult:
    """What became of one job."""

    name: str
    status: str  # "done", "skipped" (done before, same digest) or "failed"
    attempts: int = 0
    seconds: float = 0.0  # the last attempt's wall time in its worker
    frames: int = 0
    error: str | None = None  # the last attempt's error, one line
    detail: str | None = None  # its traceback's end
    out: str | None = None  # the job's output folder

    @property
    def seconds_per_frame(self) -> float | None:
        return self.seconds / self.frames if self.frames else None


# --------------------------------------------------------------------------- job lists


def read_jobs(path: str | os.PathLike[str]) -> list[BatchJob]:
    """The jobs of a JSON or CSV job list (module docstring); ValueError naming the file, the
    job and the problem for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"job list {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"job list {path} cannot be read: {e}") from None
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(text, path)
    else:
        rows = _json_rows(text, path)
    if not rows:
        raise ValueError(f"job list {path} holds no jobs")
    base = path.parent
    jobs, seen = [], set()
    for i, row in enumerate(rows, start=1):
        job = _job(row, base, f"job list {path}, job {i}")
        if job.name in seen:
            raise ValueError(f"job list {path}: the name {job.name!r} is used twice")
        seen.add(job.name)
        jobs.append(job)
    return jobs


def _json_rows(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"job list {path} is not JSON: {e}") from None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"job list {path}: expected a list of job objects (or {{'jobs': [...]}})")
    return data


def _csv_rows(text: str, path: Path) -> list[dict[str, Any]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        raise ValueError(f"job list {path}: a CSV job list needs a header row")
    rows = []
    for row in reader:
        if None in row:
            raise ValueError(f"job list {path}, line {reader.line_num}: more cells than headers")
        rows.append({k.strip(): (v or "").strip() for k, v in row.items() if k is not None})
    return rows


def _job(row: dict[str, Any], base: Path, where: str) -> BatchJob:
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}; known: {list(FIELDS)}")
    name = str(row.get("name") or "").strip()
    if not NAME.match(name):
        raise ValueError(
            f"{where}: name {name!r} must be letters, digits, '-', '_' or '.' (a folder name)"
        )
    source = str(row.get("source") or "").strip()
    if not source:
        raise ValueError(f"{where} ({name}): no source (a photo, scene name or saved world)")
    config = row.get("config") or {}
    if isinstance(config, str):
        config = _config_cells(config, f"{where} ({name})")
    if not isinstance(config, dict):
        raise ValueError(f"{where} ({name}): config must be an object of world settings")
    fps = row.get("fps")
    try:
        fps = None if fps in (None, "") else float(fps)
    except (TypeError, ValueError):
        raise ValueError(f"{where} ({name}): fps {fps!r} is not a number") from None
    job = BatchJob(
        name=name,
        source=_resolve(source, base, scene_ok=True) or source,
        path=_resolve(row.get("path"), base),
        config=dict(config),
        depth=_resolve(row.get("depth"), base),
        mask=_resolve(row.get("mask"), base),
        fps=fps,
    )
    try:
        job.world_config()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} ({name}): {e}") from None
    return job


def _config_cells(text: str, where: str) -> dict[str, Any]:
    """ "key=value; key=value" -> a dict typed by the WorldConfig field."""
    from engine.world import WorldConfig

    items = [s.strip() for s in text.split(";") if s.strip()]
    try:
        config = WorldConfig().with_overrides(items).to_dict()
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    keys = {item.partition("=")[0].strip() for item in items}
    return {k: config[k] for k in keys}


def _resolve(value: object, base: Path, scene_ok: bool = False) -> str | None:
    """A file name relative to the job list's folder; a sample scene's name as it is."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    path = Path(text).expanduser()
    if path.is_absolute():
        return str(path)
    if scene_ok and not (base / path).exists():
        from engine import scenes

        if text in scenes.list_scenes():
            return text
    return str(base / path)


# --------------------------------------------------------------------------- one job


_MODELS: dict[tuple[Any, ...], dict[str, Any]] = {}
"""The models a worker made for its last job (cached_backends): one set at most."""


def backend_key(config: WorldConfig) -> tuple[Any, ...]:
    """What makes a world's codec, depth estimator and generator (World.__init__)."""
    names = (config.codec, config.depth, config.generator, config.device, config.dtype)
    return (*names, config.offload, config.prompt, config.steps, config.guidance)


def cached_backends(config: WorldConfig) -> dict[str, Any]:
    """The codec, depth estimator and generator for a world of `config`: those made for the
    worker's previous job when its backend settings were the same (loading a diffusion
    model's weights costs far more than a short job), else made now (as World makes them)
    and kept in place of the previous set. The three keep no state between worlds."""
    import torch

    from engine.world import World

    key = backend_key(config)
    if key not in _MODELS:
        _MODELS.clear()  # one set of models in a worker's memory at a time
        threads = torch.get_num_threads()  # World sets config.threads; the job sets its own
        try:
            world = World(config)
            made = {"codec": world.codec, "estimator": world.depth_estimator}
            _MODELS[key] = made | {"generator": world.generator}
        finally:
            torch.set_num_threads(threads)
    return _MODELS[key]


def _source_config(job: BatchJob, config: WorldConfig) -> WorldConfig:
    """The config a job's world is made with: a saved world's own, else the job's."""
    from engine.files import folder_to_read
    from engine.world import WorldConfig

    folder = folder_to_read(Path(job.source))
    try:
        header = json.loads((folder / "world.json").read_text())
        return WorldConfig.from_dict(header["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return config  # not a saved world (or a bad one: opening it says why)


def run_job(job: BatchJob, out_root: str, cpus: int = 1) -> dict[str, Any]:
    """Render one job into out_root/<name>/ (module docstring); runs in a worker. Returns a
    JobResult as a dict; an error is caught and returned (the worker lives on), but Ctrl+C
    is not: the partial folder is removed and KeyboardInterrupt goes up."""
    from engine.render import RenderJob, load_path_file

    t0 = time.perf_counter()
    target = Path(out_root) / job.name
    partial = Path(out_root) / f".{job.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        config = job.world_config()
        if not config.threads:  # the worker's CPUs, unless the job says
            config = config.with_overrides([f"threads={max(1, cpus)}"])
        notes: list[str] = []
        path = load_path_file(job.path, notes) if job.path else None
        partial.mkdir(parents=True)
        render = RenderJob(
            source=job.source,
            out=partial / "video.mp4",
            config=config,
            path=path,
            fps=job.fps,
            depth=job.depth,
            mask=job.mask,
            frames=partial / "frames",
        )
        result = render.run(**cached_backends(_source_config(job, config)))
        if result.interrupted:
            raise KeyboardInterrupt
        seconds = time.perf_counter() - t0
        record = {
            "job": asdict(job),
            "digest": job.digest(),
            "config": config.to_dict(),
            "seconds": seconds,
            "frames": result.frames,
            "notes": notes,
        }
        atomic_write(partial / JOB_FILE, json.dumps(record, indent=1) + "\n")
        replace_folder(partial, target)
        return asdict(JobResult(job.name, "done", 1, seconds, result.frames, out=str(target)))
    except KeyboardInterrupt:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    except Exception as e:
        shutil.rmtree(partial, ignore_errors=True)
        tail = "".join(traceback.format_exception(e)[-3:])
        message = f"{type(e).__name__}: {e}".splitlines()[0]
        seconds = time.perf_counter() - t0
        return asdict(JobResult(job.name, "failed", 1, seconds, error=message, detail=tail))


def finished(job: BatchJob, out_root: str | os.PathLike[str]) -> JobResult | None:
    """The job's earlier result when out_root/<name>/ holds it with the same digest."""
    target = Path(out_root) / job.name
    try:
        record = json.loads((target / JOB_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("digest") != job.digest():
        return None
    if not (target / "video.mp4").is_file():
        return None
    seconds = float(record.get("seconds", 0.0))
    return JobResult(job.name, "skipped", 0, seconds, int(record.get("frames", 0)), out=str(target))


# --------------------------------------------------------------------------- executors


class Executor(Protocol):
    """Where jobs run: submit gives a handle, wait the handles that ended, result a
    handle's JobResult dict; used as a context manager around a batch."""

    def describe(self) -> str: ...
    def __enter__(self) -> Executor: ...
    def __exit__(self, *exc: object) -> None: ...
    def submit(self, job: BatchJob, out_root: str) -> Any: ...
    def wait(self, pending: Iterable[Any], timeout: float | None = None) -> list[Any]: ...
    def result(self, handle: Any) -> dict[str, Any]: ...
    def cancel(self, pending: Iterable[Any]) -> None: ...


class LocalExecutor:
    """A pool of `workers` processes on this machine, `cpus` torch threads each (default:
    the machine's cores shared out)."""

    def __init__(self, workers: int = 1, cpus: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"--local needs at least 1 worker, got {workers}")
        self.workers = workers
        self.cpus = cpus or max(1, (os.cpu_count() or 1) // workers)
        self.pool: cf.ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"{self.workers} local worker(s), {self.cpus} CPU(s) each"

    def __enter__(self) -> LocalExecutor:
        # spawn: a fresh interpreter per worker (torch and fork do not mix)
        context = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)

    def submit(self, job: BatchJob, out_root: str) -> Any:
        assert self.pool is not None  # inside `with`
        return self.pool.submit(run_job, job, out_root, self.cpus)

    def wait(self, pending: Iterable[Any], timeout: float | None = None) -> list[Any]:
        done, _ = cf.wait(list(pending), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def result(self, handle: Any) -> dict[str, Any]:
        result: dict[str, Any] = handle.result()
        return result

    def cancel(self, pending: Iterable[Any]) -> None:
        """Cancel the jobs not started; stop the running ones by ending their workers
        (what they leave half-written is removed by the driver)."""
        handles = list(pending)
        for handle in handles:
            handle.cancel()
        if self.pool is not None and any(h.running() for h in handles):
            processes = list(getattr(self.pool, "_processes", {}).values())
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(10)


class RayExecutor:
    """Ray tasks, one per job: on the cluster at `address` ("auto": the one this machine
    belongs to; "local" or None: a Ray started here with `num_cpus`). A task asks for `cpus`
    CPUs, and one GPU when its job runs on CUDA. Usage statistics and the dashboard are off
    (nothing leaves the machine)."""

    def __init__(
        self, address: str | None = None, cpus: int = 1, num_cpus: int | None = None
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError("--ray needs the ray package: pip install -e '.[batch]'") from None
        self.ray = ray
        self.address = None if address in (None, "local") else address
        self.cpus = max(1, cpus)
        self.num_cpus = num_cpus
        self.started = False
        self.task = None

    def describe(self) -> str:
        where = self.address or f"Ray on this machine ({self.num_cpus or os.cpu_count()} CPUs)"
        return f"{where}, {self.cpus} CPU(s) a job"

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR"}
            if self.address is None:
                kw["num_cpus"] = self.num_cpus or os.cpu_count()
            ray.init(address=self.address, **kw)
            self.started = True
        # max_calls=0: a worker lives on after a task, GPU tasks too (Ray's default for those
        # is 1), so it keeps its models for the next job (cached_backends)
        self.task = ray.remote(max_calls=0)(run_job)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.ray.shutdown()

    def submit(self, job: BatchJob, out_root: str) -> Any:
        assert self.task is not None  # inside `with`
        options = {"num_cpus": self.cpus, "num_gpus": 1 if job.uses_gpu else 0, "max_retries": 0}
        return self.task.options(**options).remote(job, out_root, self.cpus)

    def wait(self, pending: Iterable[Any], timeout: float | None = None) -> list[Any]:
        done, _ = self.ray.wait(list(pending), num_returns=1, timeout=timeout)
        return list(done)

    def result(self, handle: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.ray.get(handle)
        return result

    def cancel(self, pending: Iterable[Any]) -> None:
        """Cancel the jobs, ending the workers that run them, and wait for them to end."""
        handles = list(pending)
        for handle in handles:
            self.ray.cancel(handle, force=True)
        if handles:
            self.ray.wait(handles, num_returns=len(handles), timeout=10)


# --------------------------------------------------------------------------- the driver


def run_batch(
    jobs: Sequence[BatchJob],
    out_root: str | os.PathLike[str],
    executor: Executor,
    retries: int = 2,
    on_result: Callable[[JobResult, int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[JobResult]:
    """Run the jobs on the executor (LocalExecutor or RayExecutor), skipping those already
    done, retrying a failure up to `retries` times; on_result(result, done, total) after
    each job ends (skipped ones first). cancel is polled between results; when it returns
    True (or on Ctrl+C) the unfinished jobs are cancelled and KeyboardInterrupt is raised,
    with the finished ones kept. Returns one JobResult per job, in the jobs' order; the
    summary is also written to out_root/batch.json."""
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    _remove_partials(out)
    results: dict[str, JobResult] = {}
    total = len(jobs)

    def report(r: JobResult) -> None:
        results[r.name] = r
        if on_result is not None:
            on_result(r, len(results), total)

    todo = []
    for job in jobs:
        earlier = finished(job, out)
        if earlier is not None:
            report(earlier)
        else:
            todo.append(job)
    attempts = {job.name: 0 for job in todo}
    by_name = {job.name: job for job in todo}
    with executor:
        pending: dict[Any, str] = {}
        for job in todo:
            attempts[job.name] += 1
            pending[executor.submit(job, str(out))] = job.name
        try:
            while pending:
                if cancel is not None and cancel():
                    raise KeyboardInterrupt
                for handle in executor.wait(pending, timeout=0.5):
                    name = pending.pop(handle)
                    result = _collect(executor, handle, name)
                    result.attempts = attempts[name]
                    if result.status == "failed" and attempts[name] <= retries:
                        attempts[name] += 1
                        pending[executor.submit(by_name[name], str(out))] = name
                        continue
                    report(result)
        except KeyboardInterrupt:
            executor.cancel(list(pending))
            _remove_partials(out)  # what the stopped workers were writing
            _write_summary(out, jobs, results, interrupted=True)
            raise
    _write_summary(out, jobs, results, interrupted=False)
    return [results[job.name] for job in jobs]


def _collect(executor: Executor, handle: Any, name: str) -> JobResult:
    """A job's result; a worker that died (killed, out of memory) is a failure too."""
    try:
        return JobResult(**executor.result(handle))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # the worker itself failed: BrokenProcessPool, RayError
        message = f"the worker failed: {type(e).__name__}: {e}".splitlines()[0]
        return JobResult(name, "failed", error=message)


def _remove_partials(out: Path) -> None:
    for partial in out.glob(".*.partial-*"):
        remove_folder(partial)


def _write_summary(
    out: Path, jobs: Sequence[BatchJob], results: dict[str, JobResult], interrupted: bool
) -> None:
    rows = [
        asdict(results[j.name]) if j.name in results else {"name": j.name, "status": "not run"}
        for j in jobs
    ]
    summary = {"interrupted": interrupted, "jobs": rows}
    atomic_write(out / SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")


def summary_table(results: Sequence[JobResult]) -> str:
    """The results as a text table: name, status, attempts, seconds, frames, s/frame, error."""
    head = (
        f"{'job':<24} {'status':<8} {'tries':>5} {'seconds':>8} {'frames':>6} {'s/frame':>8}  error"
    )
    lines = [head]
    for r in results:
        spf = f"{r.seconds_per_frame:.2f}" if r.seconds_per_frame is not None else "-"
        lines.append(
            f"{r.name[:24]:<24} {r.status:<8} {r.attempts:>5} {r.seconds:>8.1f} {r.frames:>6} "
            f"{spf:>8}  {r.error or ''}"
        )
    done = sum(r.status in ("done", "skipped") for r in results)
    failed = sum(r.status == "failed" for r in results)
    lines.append(f"{done} of {len(results)} jobs done ({failed} failed)")
    return "\n".join(lines)


class BatchProgress:
    """One bar for the batch on stderr (redrawn in place on a terminal) and a line per job
    that ends."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.t0 = time.perf_counter()

    def __call__(self, result: JobResult, done: int, total: int) -> None:
        tty = self.stream.isatty()
        line = f"{result.name}: {result.status}"
        if result.status != "skipped":
            line += f" in {result.seconds:.1f} s"
        if result.frames:
            line += f", {result.frames} frames"
        if result.attempts > 1:
            line += f", {result.attempts} attempts"
        if result.error:
            line += f" ({result.error})"
        self.stream.write(("\r\033[K" if tty else "") + line + "\n")
        width = 30
        filled = int(width * done / max(1, total))
        elapsed = time.perf_counter() - self.t0
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} jobs, {elapsed:.0f} s"
        self.stream.write(bar + ("" if tty else "\n"))
        self.stream.flush()

    def finish(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")
        self.stream.flush()
