"""The bad-input corpus: small files a user might hand the program, each either opened
(perhaps with a note saying what was repaired) or refused with a message that names the
file and the problem.

`make_corpus(folder)` writes every case into `folder` and returns the cases; the tests
(tests/engine/test_bad_inputs.py, tests/app/test_bad_inputs.py) build it once per session
in a temporary folder, in about two seconds, so no binary file is kept in git. To look at
the files:

    python -m tests.bad_inputs OUT_FOLDER

Everything is made from fixed arrays and the sample room scene: the same bytes every run.
The README's "Bad input" table lists what each case gets.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

DEPTH_SIZE = (48, 64)
"""(H, W) of the photo the depth files are checked against."""


@dataclass(frozen=True)
class Case:
    """One bad input."""

    kind: str  # "image", "depth", "path" (camera path), "poses", "world" or "settings"
    name: str  # the file or folder in the corpus
    what: str  # the case, in words
    problem: str | None  # None: it opens; else a regex the refusal's message must match
    names: str = ""  # the file the message must name, when not `name` (a sidecar)

    @property
    def named(self) -> str:
        return self.names or self.name


CASES: list[Case] = []
_WRITERS: dict[str, Callable[[Path], object]] = {}


def case(
    kind: str, name: str, what: str, problem: str | None, names: str = ""
) -> Callable[[Callable[[Path], object]], Callable[[Path], object]]:
    """Register a writer: writer(target) makes the file or folder `target`."""

    def register(writer: Callable[[Path], object]) -> Callable[[Path], object]:
        CASES.append(Case(kind, name, what, problem, names))
        _WRITERS[name] = writer
        return writer

    return register


def make_corpus(folder: Path) -> list[Case]:
    """Write every case into `folder` (made if needed); the cases, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for c in CASES:
        _WRITERS[c.name](folder / c.name)
    return list(CASES)


# --------------------------------------------------------------------------- images


def _picture(width: int = 48, height: int = 32) -> np.ndarray:
    """A smooth colour gradient, (height, width, 3) uint8."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256])
    return rgb.transpose(1, 2, 0).astype(np.uint8)


def _rgb_image(width: int = 48, height: int = 32) -> Image.Image:
    return Image.fromarray(_picture(width, height), "RGB")


def _jpeg(im: Image.Image, **options: object) -> bytes:
    out = BytesIO()
    im.save(out, format="JPEG", quality=90, **options)
    return out.getvalue()


def _png(im: Image.Image, **options: object) -> bytes:
    out = BytesIO()
    im.save(out, format="PNG", **options)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@case("image", "cmyk.jpg", "CMYK JPEG (Adobe marker)", None)
def _cmyk(target: Path) -> None:
    target.write_bytes(_jpeg(_rgb_image().convert("CMYK")))


@case("image", "ycck.jpg", "YCCK JPEG (a CMYK JPEG whose Adobe marker says YCCK)", None)
def _ycck(target: Path) -> None:
    # libjpeg writes CMYK with an Adobe APP14 marker whose last byte (transform) is 0; 2 says
    # the first three components are YCbCr, which the decoder then turns back into CMY.
    data = bytearray(_jpeg(_rgb_image().convert("CMYK")))
    at = data.find(b"Adobe") - 4  # the marker: FF EE, a 2-byte length, "Adobe", ...
    assert at >= 0 and data[at : at + 2] == b"\xff\xee", "Pillow wrote no Adobe marker"
    length = struct.unpack(">H", data[at + 2 : at + 4])[0]
    data[at + 2 + length - 1] = 2
    target.write_bytes(bytes(data))


@case("image", "grey16.png", "16-bit grey PNG", None)
def _grey16(target: Path) -> None:
    values = (np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 40).astype(np.uint16)
    target.write_bytes(_png(Image.fromarray(values)))


@case("image", "palette.png", "palette PNG", None)
def _palette(target: Path) -> None:
    target.write_bytes(_png(_rgb_image().convert("P")))


@case("image", "palette_transparent.png", "palette PNG with a transparent colour", None)
def _palette_transparent(target: Path) -> None:
    target.write_bytes(_png(_rgb_image().convert("P"), transparency=0))


@case("image", "grey_alpha.png", "grey with alpha (LA) PNG, half transparent", None)
def _grey_alpha(target: Path) -> None:
    grey = _rgb_image().convert("L")
    alpha = Image.fromarray(np.tile(np.arange(48, dtype=np.uint8) * 5, (32, 1)), "L")
    target.write_bytes(_png(Image.merge("LA", (grey, alpha))))


@case("image", "exif_rotated.jpg", "JPEG with EXIF orientation 6 (rotated 90 degrees)", None)
def _exif_rotated(target: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    target.write_bytes(_jpeg(_rgb_image(), exif=exif.tobytes()))


@case("image", "exif_bad_orientation.jpg", "JPEG with an invalid EXIF orientation (9)", None)
def _exif_bad(target: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 9
    target.write_bytes(_jpeg(_rgb_image(), exif=exif.tobytes()))


@case("image", "progressive.jpg", "progressive JPEG", None)
def _progressive(target: Path) -> None:
    target.write_bytes(_jpeg(_rgb_image(), progressive=True))


@case("image", "truncated.jpg", "JPEG cut in half", "cannot be decoded")
def _truncated_jpeg(target: Path) -> None:
    data = _jpeg(_rgb_image(64, 64))
    target.write_bytes(data[: len(data) // 2])


@case("image", "truncated.png", "PNG cut in half", "cannot be decoded")
def _truncated_png(target: Path) -> None:
    data = _png(_rgb_image(64, 64))
    target.write_bytes(data[: len(data) // 2])


@case("image", "empty.png", "zero bytes", "empty")
def _empty(target: Path) -> None:
    target.write_bytes(b"")


@case("image", "one_pixel.png", "1x1 PNG", "too small")
def _one_pixel(target: Path) -> None:
    target.write_bytes(_png(Image.new("RGB", (1, 1), (200, 10, 10))))


@case("image", "bomb.png", "PNG header claiming 100000 x 100000 pixels", "decompression bomb")
def _bomb(target: Path) -> None:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    target.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@case("image", "animated.gif", "animated GIF, 3 frames", None)
def _animated(target: Path) -> None:
    frames = [_rgb_image().rotate(90 * k).convert("P") for k in range(3)]
    out = BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    target.write_bytes(out.getvalue())


@case("image", "photo.webp", "WebP", None)
def _webp(target: Path) -> None:
    out = BytesIO()
    _rgb_image().save(out, format="WEBP", quality=90)
    target.write_bytes(out.getvalue())


@case("image", "png_named.jpg", "a PNG named .jpg (wrong extension)", None)
def _wrong_extension(target: Path) -> None:
    target.write_bytes(_png(_rgb_image()))


@case("image", "text_named.png", "a text file named .png", "not an image")
def _text_as_png(target: Path) -> None:
    target.write_text("this is not a picture\n")


@case("image", "png_signature_only.png", "PNG signature followed by junk", "cannot be decoded")
def _signature_only(target: Path) -> None:
    target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")


@case("image", "float_nan.tiff", "32-bit float TIFF with NaN pixels", None)
def _float_nan(target: Path) -> None:
    values = np.linspace(0.0, 1.0, 32 * 48, dtype=np.float32).reshape(32, 48)
    values[0, :5] = np.nan
    Image.fromarray(values).save(target, format="TIFF")


@case("image", "folder.png", "a folder named like an image", "scene|folder")
def _folder(target: Path) -> None:
    target.mkdir()


# --------------------------------------------------------------------------- depth files


def _npy(target: Path, array: np.ndarray) -> None:
    np.save(target, array, allow_pickle=True)


def _depth(h: int = DEPTH_SIZE[0], w: int = DEPTH_SIZE[1]) -> np.ndarray:
    return np.linspace(1.0, 5.0, h * w, dtype=np.float32).reshape(h, w)


@case("depth", "depth_ok.npy", "float .npy of the photo's size (the control case)", None)
def _depth_ok(target: Path) -> None:
    _npy(target, _depth())


@case("depth", "depth_wrong_size.npy", "float .npy of another size", "does not match")
def _depth_wrong_size(target: Path) -> None:
    _npy(target, _depth(40, 64))


@case("depth", "depth_nan.npy", "float .npy with NaN", "NaN")
def _depth_nan(target: Path) -> None:
    d = _depth()
    d[3, 4] = np.nan
    _npy(target, d)


@case("depth", "depth_negative.npy", "float .npy with negative values", "negative")
def _depth_negative(target: Path) -> None:
    _npy(target, _depth() - 3.0)


@case("depth", "depth_all_zero.npy", "all zero (all unknown)", "no finite depth")
def _depth_zero(target: Path) -> None:
    _npy(target, np.zeros(DEPTH_SIZE, np.float32))


@case("depth", "depth_all_inf.npy", "all +inf (all sky)", "no finite depth")
def _depth_inf(target: Path) -> None:
    _npy(target, np.full(DEPTH_SIZE, np.inf, np.float32))


@case("depth", "depth_complex.npy", "complex dtype", "float or integer")
def _depth_complex(target: Path) -> None:
    _npy(target, _depth().astype(np.complex64))


@case("depth", "depth_bool.npy", "bool dtype", "float or integer")
def _depth_bool(target: Path) -> None:
    _npy(target, _depth() > 2)


@case("depth", "depth_int_no_scale.npy", "integer .npy without a scale", "scale")
def _depth_int(target: Path) -> None:
    _npy(target, (_depth() * 1000).astype(np.int32))


@case("depth", "depth_object.npy", "pickled object array", "cannot be read")
def _depth_object(target: Path) -> None:
    _npy(target, np.array([{"depth": 1.0}], dtype=object))


@case("depth", "depth_rgb.npy", "(H, W, 3) array", "2-D")
def _depth_rgb(target: Path) -> None:
    _npy(target, np.repeat(_depth()[:, :, None], 3, axis=2))


@case("depth", "depth_truncated.npy", ".npy cut in half", "cannot be read")
def _depth_truncated(target: Path) -> None:
    buffer = BytesIO()
    np.save(buffer, _depth())
    data = buffer.getvalue()
    target.write_bytes(data[: len(data) // 2])


@case("depth", "depth_empty.npy", "zero bytes", "empty")
def _depth_empty(target: Path) -> None:
    target.write_bytes(b"")


@case("depth", "depth8.png", "8-bit grey PNG (a picture of depth)", "16-bit")
def _depth8(target: Path) -> None:
    target.write_bytes(_png(Image.fromarray((_depth() * 40).astype(np.uint8), "L")))


@case("depth", "depth16_no_scale.png", "16-bit PNG without a scale", "scale")
def _depth16_no_scale(target: Path) -> None:
    target.write_bytes(_png(Image.fromarray((_depth() * 1000).astype(np.uint16))))


@case("depth", "depth16.png", "16-bit PNG with a depth_scale sidecar (depth16.json)", None)
def _depth16(target: Path) -> None:
    _depth16_no_scale(target)
    target.with_suffix(".json").write_text(json.dumps({"depth_scale": 0.001}))


@case(
    "depth",
    "depth16_bad_sidecar.png",
    "16-bit PNG whose sidecar is not JSON",
    "JSON",
    names="depth16_bad_sidecar.json",
)
def _depth16_bad_sidecar(target: Path) -> None:
    _depth16_no_scale(target)
    target.with_suffix(".json").write_text('{"depth_scale": ')


@case(
    "depth",
    "depth16_deep_sidecar.png",
    "16-bit PNG whose sidecar is JSON nested 100000 deep",
    "JSON",
    names="depth16_deep_sidecar.json",
)
def _depth16_deep_sidecar(target: Path) -> None:
    _depth16_no_scale(target)
    target.with_suffix(".json").write_text("[" * 100_000)


@case("depth", "depth_truncated.png", "16-bit PNG cut in half", "cannot be read")
def _depth_png_truncated(target: Path) -> None:
    data = _png(Image.fromarray((_depth() * 1000).astype(np.uint16)))
    target.write_bytes(data[: len(data) // 2])


@case("depth", "depth.exr", "an .exr that is not EXR", "EXR|OpenEXR")
def _depth_exr(target: Path) -> None:
    target.write_bytes(b"v/1\x01 not an exr file")


@case("depth", "depth.txt", "a text file", "unsupported depth file type")
def _depth_txt(target: Path) -> None:
    target.write_text("1 2 3\n")


# --------------------------------------------------------------------------- camera paths


def _pose(tx: float = 0.0) -> list[list[float]]:
    return [[1.0, 0, 0, tx], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]


def _own_path(keyframes: list[dict], **extra: object) -> dict:
    return {"format": "latentscape.camera_path", "version": 1, "keyframes": keyframes, **extra}


def _keys(*poses: object) -> list[dict]:
    return [{"pose": p, "fov": 60.0, "time": float(i)} for i, p in enumerate(poses)]


def _json(data: object) -> Callable[[Path], object]:
    def write(target: Path) -> None:
        target.write_text(json.dumps(data))  # NaN and Infinity are written as such

    return write


def _text(text: str) -> Callable[[Path], object]:
    def write(target: Path) -> None:
        target.write_text(text)

    return write


_PATHS: list[tuple[str, str, str | None, Callable[[Path], object]]] = [
    (
        "path_ok.json",
        "own camera path, two keyframes (the control case)",
        None,
        _json(_own_path(_keys(_pose(), _pose(1.0)))),
    ),
    (
        "path_malformed.json",
        "malformed JSON",
        "not valid JSON",
        _text('{"format": "latentscape.camera_path", "keyframes": ['),
    ),
    ("path_empty.json", "zero bytes", "not valid JSON", _text("")),
    (
        "path_binary.json",
        "bytes that are not UTF-8",
        "not valid JSON",
        lambda t: t.write_bytes(b"\xff\xfe\x00garbage"),
    ),
    ("path_deep.json", "JSON nested 100000 deep", "not valid JSON|too deep", _text("[" * 100_000)),
    ("path_list.json", "a JSON list", "JSON object|'segments' or 'poses'", _json([1, 2])),
    (
        "path_version.json",
        "own format, version 99",
        "version",
        _json(_own_path(_keys(_pose(), _pose(1.0)), version=99)),
    ),
    (
        "path_missing_pose.json",
        "keyframe without its pose",
        "pose",
        _json(_own_path([{"fov": 60.0, "time": 0.0}, {"fov": 60.0, "time": 1.0}])),
    ),
    (
        "path_one_key.json",
        "one keyframe",
        "at least two keyframes",
        _json(_own_path(_keys(_pose()))),
    ),
    (
        "path_huge.json",
        "translation 1e308 and fov 1e308",
        "fov",
        _json(
            _own_path(
                [
                    {"pose": _pose(1e308), "fov": 1e308, "time": 0.0},
                    {"pose": _pose(), "fov": 60.0, "time": 1.0},
                ]
            )
        ),
    ),
    (
        "path_overflow.json",
        "translation 1e400 (infinite when read)",
        "finite",
        _text(json.dumps(_own_path(_keys(_pose(), _pose(1.0)))).replace("1.0]", "1e400]", 1)),
    ),
    (
        "path_nan.json",
        "NaN in a pose",
        "finite",
        _json(_own_path(_keys(_pose(float("nan")), _pose(1.0)))),
    ),
    (
        "path_wrong_shape.json",
        "a 3x3 pose",
        "shape",
        _json(_own_path(_keys([[1, 0, 0], [0, 1, 0], [0, 0, 1]], _pose(1.0)))),
    ),
    (
        "path_strings.json",
        "pose of strings",
        "pose",
        _json(_own_path(_keys([["a"] * 4] * 4, _pose(1.0)))),
    ),
    (
        "path_ns_missing_matrix.json",
        "nerfstudio keyframes without 'matrix'",
        "matrix",
        _json({"keyframes": [{"fov": 50.0}, {"fov": 50.0}], "fps": 24}),
    ),
    (
        "path_ns_short_matrix.json",
        "nerfstudio matrix of 15 numbers",
        "nerfstudio",
        _json({"keyframes": [{"matrix": [1.0] * 15}, {"matrix": [1.0] * 15}]}),
    ),
    (
        "path_huge_render.json",
        "own format, render width 1e400",
        "width|infinity",
        _text(
            json.dumps(_own_path(_keys(_pose(), _pose(1.0)), render={"width": 0.5})).replace(
                "0.5", "1e400"
            )
        ),
    ),
    (
        "path_ns_huge_size.json",
        "nerfstudio render_height 1e400",
        "nerfstudio",
        _text(
            json.dumps(
                {"camera_path": [{"camera_to_world": sum(_pose(), [])}] * 2, "render_height": 0.5}
            ).replace("0.5", "1e400")
        ),
    ),
    (
        "path_ns_bad_fps.json",
        "nerfstudio camera_path with fps 0",
        "fps|render",
        _json({"camera_path": [{"camera_to_world": sum(_pose(), [])}] * 2, "fps": 0}),
    ),
]
for _name, _what, _problem, _writer in _PATHS:
    case("path", _name, _what, _problem)(_writer)


def _poses(*poses: object, **extra: object) -> dict:
    return {"format": "latentscape.poses", "version": 1, "segments": [list(poses)], **extra}


_POSE_LISTS: list[tuple[str, str, str | None, Callable[[Path], object]]] = [
    (
        "poses_ok.json",
        "pose list, one segment of two (the control case)",
        None,
        _json(_poses(_pose(), _pose(0.1))),
    ),
    ("poses_malformed.json", "malformed JSON", "not valid JSON", _text('{"segments": [[')),
    (
        "poses_missing_key.json",
        "no 'segments' or 'poses'",
        "no poses",
        _json({"format": "latentscape.poses", "version": 1}),
    ),
    ("poses_empty_segment.json", "an empty segment", "no poses", _json({"segments": [[]]})),
    ("poses_version.json", "version 2", "version", _json(_poses(_pose(), version=2))),
    (
        "poses_deep.json",
        "JSON nested 100000 deep",
        "not valid JSON",
        _text('{"poses": ' + "[" * 100_000),
    ),
    ("poses_huge.json", "translation 1e308", None, _json(_poses(_pose(1e308)))),
    (
        "poses_overflow.json",
        "translation 1e400 (infinite when read)",
        "finite",
        _text(json.dumps(_poses(_pose(1.0))).replace("1.0]", "1e400]", 1)),
    ),
    ("poses_nan.json", "NaN in a pose", "finite", _json(_poses(_pose(float("nan"))))),
    ("poses_wrong_shape.json", "a 3x4 pose", "shape", _json(_poses(_pose()[:3]))),
    (
        "poses_scaled.json",
        "a scaled (not rigid) pose",
        "orthonormal|rotation",
        _json(_poses([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1.0]])),
    ),
    ("poses_strings.json", "pose of strings", "pose", _json(_poses([["x"] * 4] * 4))),
    ("poses_number.json", "a pose that is a number", "pose", _json(_poses(7))),
]
for _name, _what, _problem, _writer in _POSE_LISTS:
    case("poses", _name, _what, _problem)(_writer)


# --------------------------------------------------------------------------- worlds

_good_world: dict[str, bytes] = {}


def _saved_world() -> dict[str, bytes]:
    """The files of a small saved world (the room at 64 x 48), made once."""
    if not _good_world:
        import tempfile

        from engine.io import save_world
        from engine.render import open_source
        from engine.world import WorldConfig

        world = open_source("room", WorldConfig(width=64, height=48, frames_per_segment=2))
        with tempfile.TemporaryDirectory() as tmp:
            path = save_world(world, Path(tmp) / "w.lsworld")
            _good_world.update({f.name: f.read_bytes() for f in path.iterdir()})
    return _good_world


def _world(change: Callable[[Path], object] | None = None) -> Callable[[Path], object]:
    def write(target: Path) -> None:
        target.mkdir()
        for name, data in _saved_world().items():
            (target / name).write_bytes(data)
        if change is not None:
            change(target)

    return write


def _header(change: Callable[[dict], None]) -> Callable[[Path], object]:
    def edit(target: Path) -> None:
        header = json.loads((target / "world.json").read_text())
        change(header)
        (target / "world.json").write_text(json.dumps(header))

    return _world(edit)


def _cut(name: str) -> Callable[[Path], object]:
    def cut(target: Path) -> None:
        data = (target / name).read_bytes()
        (target / name).write_bytes(data[: len(data) // 2])

    return _world(cut)


def _remove(name: str) -> Callable[[Path], object]:
    return _world(lambda t: (t / name).unlink())


def _arrays(name: str, change: Callable[[dict], None]) -> Callable[[Path], object]:
    """Rewrite the safetensors file `name` with change(arrays) applied (metadata kept)."""

    def edit(target: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(target / name), framework="pt") as f:
            arrays = {k: f.get_tensor(k) for k in f.keys()}
            metadata = f.metadata()
        change(arrays)
        arrays = {k: v.contiguous() for k, v in arrays.items()}
        save_file(arrays, str(target / name), metadata=metadata)

    return _world(edit)


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda h: h.__setitem__(key, value)


def _double_seed(arrays: dict) -> None:
    arrays["seed_latent"] = arrays["seed_latent"].double()


def _small_seed(arrays: dict) -> None:
    arrays["seed_latent"] = arrays["seed_latent"][:, :2]


def _nan_seed(arrays: dict) -> None:
    arrays["seed_latent"] = arrays["seed_latent"].clone()
    arrays["seed_latent"][0, 0, 0] = float("nan")


def _memory_scale_dtype(arrays: dict) -> None:
    arrays["scale"] = arrays["scale"].double()


def _memory_bad_column(arrays: dict) -> None:
    name = next(k for k in arrays if k.startswith("col."))
    arrays[name] = arrays[name][:1]


_WORLDS: list[tuple[str, str, str | None, Callable[[Path], object]]] = [
    ("ok.lsworld", "a good saved world (the control case)", None, _world()),
    ("no_thumbnail.lsworld", "thumbnail.png missing", None, _remove("thumbnail.png")),
    (
        "truncated_memory.lsworld",
        "memory.safetensors cut in half",
        "memory",
        _cut("memory.safetensors"),
    ),
    (
        "truncated_state.lsworld",
        "state.safetensors cut in half",
        "missing or damaged",
        _cut("state.safetensors"),
    ),
    ("truncated_json.lsworld", "world.json cut in half", "damaged", _cut("world.json")),
    ("no_memory.lsworld", "memory.safetensors missing", "memory", _remove("memory.safetensors")),
    (
        "no_state.lsworld",
        "state.safetensors missing",
        "missing or damaged",
        _remove("state.safetensors"),
    ),
    ("no_json.lsworld", "world.json missing", "world.json is missing", _remove("world.json")),
    ("newer_version.lsworld", "version 9", "newer Latentscape", _header(_set("version", 9))),
    ("string_version.lsworld", 'version "1" (a string)', "version", _header(_set("version", "1"))),
    (
        "not_a_world.lsworld",
        "world.json of another format",
        "not a Latentscape world",
        _header(_set("format", "something.else")),
    ),
    (
        "deep_json.lsworld",
        "world.json nested 100000 deep",
        "damaged",
        _world(lambda t: (t / "world.json").write_text("[" * 100_000)),
    ),
    (
        "json_list.lsworld",
        "world.json holding a list",
        "not a Latentscape world",
        _world(lambda t: (t / "world.json").write_text("[]")),
    ),
    (
        "codec_lies.lsworld",
        "world.json says 4 codec channels (the memory has more)",
        "codec of 4 channels",
        _header(lambda h: h["codec"].__setitem__("channels", 4)),
    ),
    (
        "codec_factor_lies.lsworld",
        "world.json says codec factor 16",
        "factor 16",
        _header(lambda h: h["codec"].__setitem__("factor", 16)),
    ),
    (
        "unknown_codec.lsworld",
        "config names a codec that does not exist",
        "codec",
        _header(lambda h: h["config"].__setitem__("codec", "no-such-codec")),
    ),
    (
        "bad_config.lsworld",
        "config width -5",
        "width",
        _header(lambda h: h["config"].__setitem__("width", -5)),
    ),
    (
        "no_camera.lsworld",
        "the camera missing from world.json",
        "camera",
        _header(lambda h: h.pop("camera")),
    ),
    (
        "huge_segments.lsworld",
        "segments 1e400 (infinite when read)",
        "segments|header",
        _header(_set("segments", float("inf"))),
    ),
    ("many_segments.lsworld", "segments 10**30", "segment_ends", _header(_set("segments", 10**30))),
    (
        "bad_trajectory.lsworld",
        "trajectory poses of shape 2x2",
        "trajectory",
        _header(_set("trajectory", [[[1, 0], [0, 1]]])),
    ),
    (
        "seed_dtype.lsworld",
        "seed_latent stored as float64",
        "seed_latent",
        _arrays("state.safetensors", _double_seed),
    ),
    (
        "seed_shape.lsworld",
        "seed_latent of the wrong shape",
        "seed_latent",
        _arrays("state.safetensors", _small_seed),
    ),
    ("seed_nan.lsworld", "seed_latent with NaN", "NaN", _arrays("state.safetensors", _nan_seed)),
    (
        "memory_dtype.lsworld",
        "the memory's 'scale' stored as float64",
        "scale",
        _arrays("memory.safetensors", _memory_scale_dtype),
    ),
    (
        "memory_shape.lsworld",
        "a memory column of the wrong length",
        "col|shape",
        _arrays("memory.safetensors", _memory_bad_column),
    ),
]
for _name, _what, _problem, _writer in _WORLDS:
    case("world", _name, _what, _problem)(_writer)


# --------------------------------------------------------------------------- settings

# world/config as the app stores it (a JSON object of the WorldConfig fields that differ
# from the defaults), in a QSettings ini file; load_config must give a usable config and
# say what it dropped.
_SETTINGS: list[tuple[str, str, str | None, str]] = [
    ("settings_not_json.ini", "world/config not JSON", "unreadable", '"{broken'),
    ("settings_list.ini", "world/config a JSON list", "not a JSON object", '"[1, 2]"'),
    ("settings_unknown_key.ini", "an unknown setting", "warp_drive", '"{\\"warp_drive\\": 9}"'),
    ("settings_bad_value.ini", "width -5", "width", '"{\\"width\\": -5}"'),
    ("settings_wrong_type.ini", 'width "wide"', "width", '"{\\"width\\": \\"wide\\"}"'),
    ("settings_big_seed.ini", "seed 10**30", "seed", '"{\\"seed\\": ' + str(10**30) + '}"'),
    ("settings_deep.ini", "world/config nested 100000 deep", "unreadable", "[" * 100_000),
    (
        "settings_seed_2_40.ini",
        "seed 2**40 (over the dialog's box)",
        None,
        '"{\\"seed\\": ' + str(2**40) + '}"',
    ),
    ("settings_big_width.ini", "width 10**9", "width", '"{\\"width\\": 1000000000}"'),
    ("settings_huge.ini", "width 1e400 (infinite)", "width", '"{\\"width\\": 1e400}"'),
    ("settings_nan.ini", "fov NaN", "fov_y_deg", '"{\\"fov_y_deg\\": NaN}"'),
    ("settings_bad_device.ini", 'device "tpu"', "device", '"{\\"device\\": \\"tpu\\"}"'),
    ("settings_bad_dtype.ini", 'dtype "float8"', "dtype", '"{\\"dtype\\": \\"float8\\"}"'),
]


def _settings(value: str) -> Callable[[Path], object]:
    def write(target: Path) -> None:
        target.write_text(
            f"[world]\nconfig={value}\n\n[autosave]\nevery=often\n\n[models]\nfolders=@Invalid(\n"
        )

    return write


for _name, _what, _problem, _value in _SETTINGS:
    case("settings", _name, _what, _problem)(_settings(_value))


@case("settings", "settings_binary.ini", "a settings file of binary junk", None)
def _settings_binary(target: Path) -> None:
    target.write_bytes(bytes(range(256)) * 4)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.bad_inputs OUT_FOLDER")
    out = Path(sys.argv[1])
    if out.exists():
        shutil.rmtree(out)
    for c in make_corpus(out):
        print(f"{c.kind:9} {c.name:32} {'refused' if c.problem else 'opens':8} {c.what}")
