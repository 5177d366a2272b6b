"""The bad-input corpus (tests/bad_inputs.py) through the readers the app and the CLI use:
each case opens, or is refused with a ValueError / OSError whose message names the file and
the problem. No other exception escapes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.bad_inputs import CASES, DEPTH_SIZE, Case, make_corpus

ENGINE_KINDS = ("image", "depth", "path", "poses", "world")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    make_corpus(folder)
    return folder


def _open_image(path: Path) -> Any:
    from engine.render import load_photo

    return load_photo(str(path))


def _open_depth(path: Path) -> Any:
    from engine.models.depth import load_depth_file

    return load_depth_file(path, size=DEPTH_SIZE)


def _open_path(path: Path) -> Any:
    from engine.path import load_path
    from engine.render import load_path_file

    load_path_file(str(path))  # what `latentscape render --path` reads
    return load_path(path)  # what the app's path editor reads


def _open_poses(path: Path) -> Any:
    from engine.io import load_poses
    from engine.render import load_path_file

    load_path_file(str(path))
    return load_poses(path)


def _open_world(path: Path) -> Any:
    from engine.render import open_source
    from engine.world import WorldConfig

    torch.set_num_threads(1)
    return open_source(str(path), WorldConfig(width=64, height=48))


READERS: dict[str, Callable[[Path], Any]] = {
    "image": _open_image,
    "depth": _open_depth,
    "path": _open_path,
    "poses": _open_poses,
    "world": _open_world,
}


def check_case(c: Case, path: Path, read: Callable[[Path], Any]) -> Any:
    """Read `path`; a case that should open opens, one that should not raises a ValueError or
    OSError naming the file and matching c.problem. Returns what was read (None if refused)."""
    if c.problem is None:
        return read(path)
    with pytest.raises((ValueError, OSError)) as refused:
        read(path)
    message = str(refused.value)
    assert c.named in message, f"the message does not name {c.named}: {message}"
    assert re.search(c.problem, message, re.IGNORECASE), f"{c.problem!r} not in: {message}"
    return None


@pytest.mark.parametrize(
    "c", [c for c in CASES if c.kind in ENGINE_KINDS], ids=lambda c: f"{c.kind}-{c.name}"
)
def test_each_bad_input_opens_or_is_refused_by_name(c: Case, corpus: Path) -> None:
    result = check_case(c, corpus / c.name, READERS[c.kind])
    if c.problem is None and c.kind == "image":
        assert result.rgb.shape[0] == 3 and torch.isfinite(result.rgb).all()


def test_what_the_opened_images_were_told(corpus: Path) -> None:
    """The repairs are said in the notes."""
    notes = {
        c.name: " ".join(_open_image(corpus / c.name).notes)
        for c in CASES
        if c.kind == "image" and c.problem is None
    }
    assert "CMYK" in notes["cmyk.jpg"] and "CMYK" in notes["ycck.jpg"]
    assert "16-bit" in notes["grey16.png"]
    assert "palette" in notes["palette.png"] and "composited" in notes["palette_transparent.png"]
    assert "composited" in notes["grey_alpha.png"]
    assert "orientation 6" in notes["exif_rotated.jpg"]
    assert "invalid EXIF orientation" in notes["exif_bad_orientation.jpg"]
    assert "3 frames" in notes["animated.gif"]
    assert "NaN" in notes["float_nan.tiff"]
    assert notes["progressive.jpg"] == notes["photo.webp"] == notes["png_named.jpg"] == ""
    rotated = _open_image(corpus / "exif_rotated.jpg").rgb
    assert tuple(rotated.shape[1:]) == (48, 32)  # stored 48 wide, 32 high


def test_the_readme_lists_every_case() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Bad input", 1)[1].split("\n## ", 1)[0]
    missing = [c.name for c in CASES if f"`{c.name}`" not in section]
    assert not missing, f"README's Bad input table lacks {missing}"


def test_the_corpus_images_are_what_they_claim(corpus: Path) -> None:
    from PIL import Image

    def info(name: str) -> tuple:
        with Image.open(corpus / name) as im:
            return im.format, im.mode, im.info.get("adobe_transform"), getattr(im, "n_frames", 1)

    assert info("cmyk.jpg") == ("JPEG", "CMYK", 0, 1)
    assert info("ycck.jpg") == ("JPEG", "CMYK", 2, 1)  # Adobe transform 2: YCCK
    assert info("grey16.png")[:2] == ("PNG", "I;16") and info("grey_alpha.png")[1] == "LA"
    assert info("palette.png")[1] == "P" and info("animated.gif")[3] == 3
    assert info("photo.webp")[0] == "WEBP" and info("png_named.jpg")[0] == "PNG"
    with Image.open(corpus / "progressive.jpg") as im:
        assert im.info.get("progressive") == 1
    assert (corpus / "bomb.png").stat().st_size < 200
