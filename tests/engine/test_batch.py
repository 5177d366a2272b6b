"""`latentscape batch`: job lists, the local pool and Ray in local mode; a batch's videos equal
`latentscape render` run by hand bit for bit, a failure is reported and retried, a re-run
skips what is done, an interrupted batch keeps what finished."""

from __future__ import annotations

import json

import pytest

from engine import batch, cli
from engine.batch import BatchJob, LocalExecutor, read_jobs, run_batch

SMALL = {"width": 128, "height": 96, "frames_per_segment": 2}


def _jobs_file(folder, jobs) -> str:
    path = folder / "jobs.json"
    path.write_text(json.dumps(jobs))
    return str(path)


def _three(folder) -> list[BatchJob]:
    return read_jobs(
        _jobs_file(
            folder,
            [
                {"name": "room", "source": "room", "config": SMALL},
                {"name": "street", "source": "street", "config": SMALL},
                {"name": "broken", "source": "no-such-photo.jpg", "config": SMALL},
            ],
        )
    )


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory):
    """The two good jobs rendered by `latentscape render`, one torch thread (what a batch
    worker with one CPU uses)."""
    folder = tmp_path_factory.mktemp("by-hand")
    videos = {}
    for scene in ("room", "street"):
        out = folder / f"{scene}.mp4"
        config = [f"{k}={v}" for k, v in SMALL.items()] + ["threads=1"]
        assert cli.main(["render", scene, "--out", str(out), "--config", *config]) == 0
        videos[scene] = out.read_bytes()
    return videos


def _check_batch(results, out, by_hand, retries):
    status = {r.name: r for r in results}
    assert [r.name for r in results] == ["room", "street", "broken"]
    for name in ("room", "street"):
        r = status[name]
        assert r.status == "done" and r.attempts == 1 and r.frames == 10
        assert (out / name / "video.mp4").read_bytes() == by_hand[name]  # bit for bit
        frames = out / name / "frames"
        assert (frames / "transforms.json").is_file()
        assert len(list((frames / "images").glob("*.png"))) == 10
        record = json.loads((out / name / "job.json").read_text())
        assert record["frames"] == 10 and record["config"]["threads"] == 1
    broken = status["broken"]
    assert broken.status == "failed" and broken.attempts == retries + 1
    assert "no-such-photo.jpg" in broken.error and "FileNotFoundError" in broken.error
    assert not (out / "broken").exists()
    assert not list(out.glob(".*partial*"))  # nothing half-written is left
    summary = json.loads((out / "batch.json").read_text())
    assert [row["status"] for row in summary["jobs"]] == ["done", "done", "failed"]


def test_local_pool_renders_like_render_by_hand_reports_the_failure_and_skips_on_rerun(
    tmp_path, by_hand
):
    jobs = _three(tmp_path)
    out = tmp_path / "out"
    seen = []
    results = run_batch(
        jobs, out, LocalExecutor(2, cpus=1), retries=1, on_result=lambda r, d, t: seen.append(d)
    )
    _check_batch(results, out, by_hand, retries=1)
    assert seen == [1, 2, 3]
    mtime = (out / "room" / "video.mp4").stat().st_mtime_ns
    again = run_batch(jobs, out, LocalExecutor(1, cpus=1), retries=0)
    assert [r.status for r in again] == ["skipped", "skipped", "failed"]
    assert (out / "room" / "video.mp4").stat().st_mtime_ns == mtime  # not rendered again
    # a changed job is rendered again, its old output replaced
    changed = [BatchJob("room", "room", config={**SMALL, "seed": 5}), *jobs[1:2]]
    third = run_batch(changed, out, LocalExecutor(1, cpus=1), retries=0)
    assert [r.status for r in third] == ["done", "skipped"]
    assert (out / "room" / "video.mp4").read_bytes() != by_hand["room"]


def test_ray_local_mode_renders_the_same_and_reports_the_failure(tmp_path, by_hand):
    ray = pytest.importorskip("ray")
    jobs = _three(tmp_path)
    out = tmp_path / "out"
    executor = batch.RayExecutor(None, cpus=1, num_cpus=2)
    try:
        results = run_batch(jobs, out, executor, retries=1)
    finally:
        assert not ray.is_initialized()  # the executor shut down the Ray it started
    _check_batch(results, out, by_hand, retries=1)
    rerun = run_batch(jobs[:2], out, batch.RayExecutor(None, cpus=1, num_cpus=2))
    assert [r.status for r in rerun] == ["skipped", "skipped"]


def test_cancel_keeps_the_finished_jobs_and_the_next_run_does_the_rest(tmp_path):
    jobs = read_jobs(
        _jobs_file(
            tmp_path,
            [{"name": f"j{i}", "source": "room", "config": {**SMALL, "seed": i}} for i in range(3)],
        )
    )
    out = tmp_path / "out"
    ended = []
    with pytest.raises(KeyboardInterrupt):
        run_batch(
            jobs,
            out,
            LocalExecutor(1, cpus=1),
            on_result=lambda r, d, t: ended.append(r.name),
            cancel=lambda: len(ended) >= 1,
        )
    summary = json.loads((out / "batch.json").read_text())
    assert summary["interrupted"] is True
    done = [row["name"] for row in summary["jobs"] if row["status"] == "done"]
    assert done == ended and all((out / n / "video.mp4").is_file() for n in done)
    (out / ".j2.partial-dead").mkdir()  # what a killed worker leaves
    results = run_batch(jobs, out, LocalExecutor(1, cpus=1))
    assert [r.status for r in results].count("skipped") == len(done)
    assert all(r.status in ("done", "skipped") for r in results)
    assert not (out / ".j2.partial-dead").exists()


def test_the_command_line_prints_a_summary_and_exits_1_on_a_failure(tmp_path, capsys):
    jobs = _jobs_file(
        tmp_path,
        [
            {"name": "room", "source": "room", "config": SMALL},
            {"name": "bad", "source": "nowhere.png"},
        ],
    )
    out = tmp_path / "o"
    code = cli.main(["batch", jobs, "--out", str(out), "--retries", "0"])
    assert code == cli.EXIT_ERROR
    printed = capsys.readouterr()
    assert "1 of 2 jobs done (1 failed)" in printed.out
    assert "room: done" in printed.err and "bad: failed" in printed.err
    assert (out / "room" / "video.mp4").is_file()


def test_csv_job_lists_read_config_cells_and_relative_files(tmp_path):
    (tmp_path / "paths").mkdir()
    (tmp_path / "paths" / "p.json").write_text("{}")
    csv = tmp_path / "jobs.csv"
    csv.write_text(
        "name,source,path,config,fps\na,room,paths/p.json,width=128; seed=3,12\nb,photo.jpg,,,\n"
    )
    a, b = read_jobs(csv)
    assert a.config == {"width": 128, "seed": 3} and a.fps == 12.0
    assert a.source == "room" and a.path == str(tmp_path / "paths" / "p.json")
    assert b.source == str(tmp_path / "photo.jpg") and b.path is None and b.config == {}
    assert a.digest() != BatchJob(a.name, a.source, a.path, {**a.config, "seed": 4}).digest()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[", "is not JSON"),
        ('{"a": 1}', "a list of job objects"),
        ("[]", "holds no jobs"),
        ('[{"name": "a b", "source": "room"}]', "name 'a b' must be"),
        ('[{"name": "a"}]', "no source"),
        ('[{"name": "a", "source": "room", "colour": 1}]', "unknown fields ['colour']"),
        ('[{"name": "a", "source": "room", "config": {"warp": 9}}]', "warp"),
        ('[{"name": "a", "source": "room", "config": {"width": -5}}]', "width"),
        ('[{"name": "a", "source": "room", "fps": "fast"}]', "fps 'fast'"),
        ('[{"name": "a", "source": "room"}, {"name": "a", "source": "room"}]', "used twice"),
    ],
)
def test_bad_job_lists_are_refused_by_name(tmp_path, content, problem):
    path = tmp_path / "jobs.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="jobs.json") as e:
        read_jobs(path)
    assert problem in str(e.value)


def test_a_missing_job_list_and_a_bad_csv_cell(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_jobs(tmp_path / "none.json")
    csv = tmp_path / "j.csv"
    csv.write_text("name,source,config\na,room,width=wide\n")
    with pytest.raises(ValueError, match="width: 'wide' is not a int"):
        read_jobs(csv)


def test_ctrl_c_stops_the_command_and_keeps_the_finished_jobs(tmp_path):
    """SIGINT to `latentscape batch` once a job has ended: exit 130, that job kept, the
    running one stopped and nothing half-written left."""
    import signal
    import subprocess
    import sys

    jobs = _jobs_file(
        tmp_path,
        [{"name": f"j{i}", "source": "room", "config": {**SMALL, "seed": i}} for i in range(4)],
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "engine.cli", "batch", jobs, "--out", str(out)]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # the progress lines, one per job that ends
        if ": done" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == cli.EXIT_INTERRUPTED
    assert "the finished jobs are kept" in rest
    kept = [p.name for p in out.iterdir() if p.is_dir() and (p / "video.mp4").is_file()]
    assert 1 <= len(kept) < 4
    assert not list(out.glob(".*partial*"))
    assert json.loads((out / "batch.json").read_text())["interrupted"] is True


def test_a_worker_keeps_its_models_for_the_next_job_and_renders_the_same(tmp_path, by_hand):
    """Two jobs in one worker (here: this process): the second gets the first's codec,
    depth estimator and generator, and both videos are still those of render by hand."""
    import torch

    batch._MODELS.clear()
    threads = torch.get_num_threads()
    made = []
    real = batch.cached_backends

    def spy(config):
        backends = real(config)
        made.append(backends)
        return backends

    out = tmp_path / "out"
    out.mkdir()
    try:
        batch.cached_backends = spy
        for scene in ("room", "street"):
            record = batch.run_job(BatchJob(scene, scene, config=SMALL), str(out), cpus=1)
            assert record["status"] == "done"
            assert (out / scene / "video.mp4").read_bytes() == by_hand[scene]
    finally:
        batch.cached_backends = real
    assert made[0] is made[1] and made[0]["codec"] is made[1]["codec"]
    assert torch.get_num_threads() == threads  # put back
    other = batch.cached_backends(
        BatchJob("x", "room", config={**SMALL, "depth": "file:d.npy"}).world_config()
    )
    assert other is not made[0]  # other backend names: made again, the old set let go
    assert len(batch._MODELS) == 1
