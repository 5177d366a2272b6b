"""engine.files: the one way the project writes files atomically."""

import os
import re
from pathlib import Path

import pytest

from engine.files import (
    atomic_path,
    atomic_write,
    folder_to_read,
    leftovers_beside,
    replace_folder,
    set_aside,
    temporary_beside,
)

ROOT = Path(__file__).resolve().parents[2]


def plain_mode(folder: bool = False) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def test_atomic_write_bytes_and_text(tmp_path):
    target = tmp_path / "sub" / "a.json"
    assert atomic_write(target, "{}\n") == target
    assert target.read_text() == "{}\n"
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert target.stat().st_mode & 0o777 == plain_mode()
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "world.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the ne")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world.bin"]


def test_atomic_path_is_beside_its_target(tmp_path):
    target = tmp_path / "v.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".v.png.")
        assert not target.exists()
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"


def test_temporary_beside_is_a_plain_empty_file(tmp_path):
    tmp = temporary_beside(tmp_path / "deep" / "out.mp4")
    assert tmp.parent == tmp_path / "deep" and tmp.stat().st_size == 0
    assert tmp.stat().st_mode & 0o777 == plain_mode()


def test_replace_folder_swaps_and_refuses_a_file(tmp_path):
    target, new = tmp_path / "w.lsworld", tmp_path / "new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    replace_folder(new, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"] and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.lsworld"]  # the old one gone
    file = tmp_path / "f.lsworld"
    file.write_text("x")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match="not a world folder"):
        replace_folder(other, file)
    assert file.read_text() == "x"


def test_no_other_module_makes_its_own_temporary_files():
    """Temporary files to rename over a target are made by engine.files only (one way to
    write atomically, not five)."""
    pattern = re.compile(r"mkstemp|\.tmp\"\)|name \+ \"\.tmp\"")
    offenders = []
    for folder in ("engine", "app"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "files.py" and path.parent.name == "engine":
                continue
            if pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_a_swap_stopped_between_its_renames_is_read_from_the_folder_set_aside(tmp_path):
    target, new = tmp_path / "w.lsworld", tmp_path / "new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    assert folder_to_read(target) == target
    os.replace(target, set_aside(target))  # a process killed after the swap's first rename
    assert folder_to_read(target) == set_aside(target)
    assert (folder_to_read(target) / "old.txt").read_text() == "old"
    new.mkdir()
    (new / "new.txt").write_text("new")
    replace_folder(new, target)  # the next swap puts the new one in place, drops the old
    assert folder_to_read(target) == target and [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.lsworld"]
    # killed while removing the old folder at the end: the target is complete, and read
    set_aside(target).mkdir()
    (set_aside(target) / "old.txt").write_text("half removed")
    assert folder_to_read(target) == target


def test_leftovers_beside_are_the_temporaries_of_that_target_only(tmp_path):
    target = tmp_path / "w.lsworld"
    stale = [tmp_path / ".w.lsworld.ab_9xy12.tmp", tmp_path / ".w.lsworld.zzzzzzzz.tmp"]
    stale[0].mkdir()
    stale[1].write_bytes(b"")
    others = [".w.lsworld.old", ".w.lsworld.x.ab_9xy12.tmp", ".v.lsworld.ab_9xy12.tmp", "w.tmp"]
    for name in others:
        (tmp_path / name).mkdir()
    assert leftovers_beside(target) == stale
    assert temporary_beside(target) in leftovers_beside(target)
    assert leftovers_beside(tmp_path / "missing" / "w.lsworld") == []
