"""The `latentscape` command line: dispatch, help and exit codes."""

import sys
import types

import pytest

import engine
import engine.bench
from engine import cli


@pytest.fixture
def fake_bench(monkeypatch):
    """Replace engine.bench.memory with a stub whose run() does what the test sets."""
    module = types.ModuleType("engine.bench.memory")
    module.calls = []

    def run(**kwargs):
        module.calls.append(kwargs)
        if module.raises is not None:
            raise module.raises
        return 0

    module.run = run
    module.raises = None
    monkeypatch.setitem(sys.modules, "engine.bench.memory", module)
    monkeypatch.setattr(engine.bench, "memory", module, raising=False)
    return module


def test_help_lists_commands_and_exit_codes(capsys):
    assert cli.main(["--help"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    for text in ("info", "bench", "exit codes:", "130"):
        assert text in out


def test_no_arguments_prints_help_and_what_to_try(capsys):
    assert cli.main([]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("usage: latentscape")
    assert "latentscape bench memory --quick" in out


@pytest.mark.parametrize("argv", [["nonsense"], ["bench"], ["bench", "memory", "--seed", "x"]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_version(capsys):
    assert cli.main(["--version"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == f"latentscape {engine.__version__}"


def test_info_reports_torch_and_gui_packages(capsys):
    assert cli.main(["info"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "torch" in out and "threads" in out
    assert "PySide6" in out and "moderngl" in out


def test_bench_memory_passes_options(fake_bench, tmp_path):
    out = tmp_path / "bench-memory.json"
    argv = ["bench", "memory", "--quick", "--json", str(out), "--seed", "7"]
    assert cli.main(argv) == 0
    assert fake_bench.calls == [{"quick": True, "json_out": out, "seed": 7}]

    assert cli.main(["bench", "memory"]) == 0
    assert fake_bench.calls[-1] == {"quick": False, "json_out": None, "seed": 0}


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (ValueError("bad size"), cli.EXIT_ERROR, "latentscape: error: bad size"),
        (FileNotFoundError("no.png"), cli.EXIT_ERROR, "latentscape: error: no.png"),
        (
            OSError("cannot write to x: the disk is full"),
            cli.EXIT_ERROR,
            "latentscape: error: cannot write to x: the disk is full",
        ),
        (KeyboardInterrupt(), cli.EXIT_INTERRUPTED, "latentscape: interrupted"),
    ],
)
def test_errors_become_exit_codes(fake_bench, capsys, error, code, message):
    fake_bench.raises = error
    assert cli.main(["bench", "memory", "--quick"]) == code
    assert capsys.readouterr().err.strip() == message


def test_launcher_without_a_display_says_how_to_run(monkeypatch, capsys):
    from app import main as launcher

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(launcher.sys, "platform", "linux")
    assert launcher.main([]) == 1
    assert "xvfb-run" in capsys.readouterr().err
    assert launcher.main(["explore", "room"]) == 1
    # every other command still goes to the command line
    assert launcher.main(["--version"]) == 0
