"""engine.images: every kind of file a user may open, made here with Pillow (or by hand)."""

import os
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from engine import images
from engine.images import MIN_SIDE, ImageLoadError, load_image, save_png_atomic


def write_png(path, width: int, height: int, bit_depth: int, colour_type: int, rows: bytes):
    """A PNG written by hand (Pillow cannot write 16-bit RGB), filter 0 on every row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def gradient(width: int = 64, height: int = 48) -> np.ndarray:
    """(H, W, 3) uint8 test picture: red ramps along x, green along y, blue constant."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return np.stack([x, y, np.full_like(x, 100)], -1).round().astype(np.uint8)


def check_rgb(loaded, width: int, height: int) -> None:
    assert loaded.rgb.shape == (3, height, width) and loaded.rgb.dtype == torch.float32
    assert float(loaded.rgb.min()) >= 0.0 and float(loaded.rgb.max()) <= 1.0
    assert (loaded.width, loaded.height) == (width, height)


# --------------------------------------------------------------------------- plain images


def test_rgb_png_is_exact(tmp_path):
    pixels = gradient()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    check_rgb(loaded, 64, 48)
    expected = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    assert torch.equal(loaded.rgb, expected)
    assert loaded.notes == [] and loaded.original_size == (64, 48)
    assert loaded.path == tmp_path / "a.png"


def test_jpeg_is_close(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "a.jpg", quality=95)
    loaded = load_image(str(tmp_path / "a.jpg"))
    check_rgb(loaded, 64, 48)
    expected = torch.from_numpy(gradient()).permute(2, 0, 1).float() / 255
    assert float((loaded.rgb - expected).abs().mean()) < 0.02


def test_grey_l_is_repeated_to_three_channels(tmp_path):
    Image.fromarray(gradient()[:, :, 1]).save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    check_rgb(loaded, 64, 48)
    assert torch.equal(loaded.rgb[0], loaded.rgb[2])
    assert float(loaded.rgb[0, -1, 0]) == 1.0 and float(loaded.rgb[0, 0, 0]) == 0.0


def test_one_bit_image(tmp_path):
    Image.fromarray(gradient()[:, :, 0] > 128).save(tmp_path / "b.png")
    loaded = load_image(tmp_path / "b.png")
    check_rgb(loaded, 64, 48)
    assert set(loaded.rgb.unique().tolist()) == {0.0, 1.0}


# --------------------------------------------------------------------------- 16 bit, I, F


def test_sixteen_bit_grey_png_scales_to_unit_range(tmp_path):
    values = np.array([[0, 32768, 65535, 1000]] * 16, dtype=np.uint16).repeat(4, 1)  # 16x16
    Image.fromarray(values).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")  # really 16-bit on disk
    loaded = load_image(tmp_path / "g16.png")
    check_rgb(loaded, 16, 16)
    row = loaded.rgb[0, 0, ::4]
    torch.testing.assert_close(row, torch.tensor([0.0, 32768, 65535, 1000]) / 65535)
    assert any("65535" in note for note in loaded.notes)


def test_sixteen_bit_rgb_png_scales_to_unit_range(tmp_path):
    # 16 x 16, every pixel (65535, 32896, 0): Pillow keeps the high byte, 255 / 128 / 0.
    pixel = struct.pack(">HHH", 65535, 32896, 0)
    rows = b"".join(b"\x00" + pixel * 16 for _ in range(16))
    write_png(tmp_path / "rgb16.png", 16, 16, 16, 2, rows)
    loaded = load_image(tmp_path / "rgb16.png")
    check_rgb(loaded, 16, 16)
    torch.testing.assert_close(loaded.rgb[:, 5, 5], torch.tensor([1.0, 128 / 255, 0.0]))


def test_int32_image_within_16_bits_and_beyond(tmp_path):
    small = np.full((20, 20), 65535, dtype=np.int32)
    small[:10] = 0
    Image.fromarray(small, "I").save(tmp_path / "i.tif")
    loaded = load_image(tmp_path / "i.tif")
    assert float(loaded.rgb[0, 0, 0]) == 0.0 and float(loaded.rgb[0, -1, 0]) == 1.0
    big = np.full((20, 20), 10**6, dtype=np.int32)
    big[:10] = -(10**6)
    Image.fromarray(big, "I").save(tmp_path / "big.tif")
    loaded = load_image(tmp_path / "big.tif")
    assert float(loaded.rgb[0, 0, 0]) == 0.0 and float(loaded.rgb[0, -1, 0]) == 1.0
    assert any("stretched" in note for note in loaded.notes)


def test_float_image_in_range_kept_out_of_range_stretched_nan_zeroed(tmp_path):
    unit = np.linspace(0, 1, 400, dtype=np.float32).reshape(20, 20)
    Image.fromarray(unit, "F").save(tmp_path / "f.tif")
    loaded = load_image(tmp_path / "f.tif")
    torch.testing.assert_close(loaded.rgb[1], torch.from_numpy(unit))
    wide = unit * 50 - 10
    wide[0, 0] = np.nan
    Image.fromarray(wide, "F").save(tmp_path / "wide.tif")
    loaded = load_image(tmp_path / "wide.tif")
    check_rgb(loaded, 20, 20)
    assert any("NaN" in note for note in loaded.notes)
    assert any("stretched" in note for note in loaded.notes)
    assert torch.isfinite(loaded.rgb).all()


# --------------------------------------------------------------------------- palette, alpha, CMYK


def test_palette_image(tmp_path):
    Image.fromarray(gradient()).convert("P", palette=Image.Palette.ADAPTIVE).save(
        tmp_path / "p.png"
    )
    loaded = load_image(tmp_path / "p.png")
    check_rgb(loaded, 64, 48)
    assert any("palette" in note for note in loaded.notes)


def test_palette_with_transparency_is_composited(tmp_path):
    im = Image.new("P", (16, 16), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (0, 0, 16, 8))  # top half blue, bottom red; index 1 (blue) transparent
    im.save(tmp_path / "pt.png", transparency=1)
    loaded = load_image(tmp_path / "pt.png")
    torch.testing.assert_close(loaded.rgb[:, 0, 0], torch.full((3,), 128 / 255))
    torch.testing.assert_close(loaded.rgb[:, -1, 0], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_over_grey(tmp_path, mode):
    im = Image.new(mode, (16, 16), (255, 255) if mode == "LA" else (255, 255, 255, 255))
    im.paste((255, 0) if mode == "LA" else (255, 255, 255, 0), (0, 0, 16, 8))  # transparent
    im.save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    check_rgb(loaded, 16, 16)
    torch.testing.assert_close(loaded.rgb[:, 0, 0], torch.full((3,), 128 / 255))
    torch.testing.assert_close(loaded.rgb[:, -1, 0], torch.ones(3))
    assert any("composited" in note for note in loaded.notes)


def test_opaque_alpha_is_dropped_with_a_note(tmp_path):
    Image.fromarray(gradient()).convert("RGBA").save(tmp_path / "o.png")
    loaded = load_image(tmp_path / "o.png")
    expected = torch.from_numpy(gradient()).permute(2, 0, 1).float() / 255
    assert torch.equal(loaded.rgb, expected)
    assert any("opaque" in note for note in loaded.notes)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_is_converted(tmp_path, suffix):
    im = Image.new("CMYK", (32, 32), (0, 0, 0, 0))  # white
    im.paste((0, 255, 255, 0), (0, 16, 32, 32))  # bottom half red
    im.save(tmp_path / f"c{suffix}")
    loaded = load_image(tmp_path / f"c{suffix}")
    check_rgb(loaded, 32, 32)
    torch.testing.assert_close(loaded.rgb[:, 2, 2], torch.ones(3), atol=0.03, rtol=0)
    torch.testing.assert_close(loaded.rgb[:, -3, 2], torch.tensor([1.0, 0, 0]), atol=0.05, rtol=0)
    assert any("CMYK" in note for note in loaded.notes)


def test_multi_frame_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    loaded = load_image(tmp_path / "anim.gif")
    assert float(loaded.rgb[0].mean()) > 0.9 and float(loaded.rgb[2].mean()) < 0.1
    assert any("2 frames" in note for note in loaded.notes)


# --------------------------------------------------------------------------- EXIF rotation


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    pixels = np.zeros((32, 64, 3), np.uint8)  # stored landscape: left red, right blue
    pixels[:, :32, 0] = 255
    pixels[:, 32:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # display after turning 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "r.jpg")
    check_rgb(loaded, 32, 64)  # upright portrait
    assert loaded.original_size == (32, 64)
    assert float(loaded.rgb[0, 5, 16]) > 0.9 and float(loaded.rgb[2, 5, 16]) < 0.1  # top red
    assert float(loaded.rgb[2, -5, 16]) > 0.9  # bottom blue
    assert any("EXIF orientation 6" in note for note in loaded.notes)


# --------------------------------------------------------------------------- sizes


def test_large_png_is_resized_to_max_pixels(tmp_path):
    Image.fromarray(gradient(300, 200)).save(tmp_path / "big.png")
    loaded = load_image(tmp_path / "big.png", max_pixels=6000)
    assert loaded.width * loaded.height <= 6000
    assert abs(loaded.width / loaded.height - 1.5) < 0.05
    assert loaded.original_size == (300, 200)
    assert any("resized" in note for note in loaded.notes)
    # the ramp survives the resize
    assert float(loaded.rgb[0, :, 0].mean()) < 0.05 and float(loaded.rgb[0, :, -1].mean()) > 0.95


@pytest.fixture(scope="session")
def fifty_megapixel_jpeg(tmp_path_factory):
    """A 8660 x 5774 (50 MP) gradient JPEG, made once per session (~1 MB on disk)."""
    path = tmp_path_factory.mktemp("big") / "50mp.jpg"
    width, height = 8660, 5774
    ramp = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)
    plane = np.broadcast_to(ramp, (height, width))
    pixels = np.stack([plane, plane[:, ::-1], np.full_like(plane, 128)], -1)
    Image.fromarray(pixels).save(path, quality=80)
    return path


def test_fifty_megapixel_jpeg_is_decoded_reduced(fifty_megapixel_jpeg):
    start = time.perf_counter()
    loaded = load_image(fifty_megapixel_jpeg)
    elapsed = time.perf_counter() - start  # about 0.5 s here; reported, not asserted
    assert loaded.width * loaded.height <= images.DEFAULT_MAX_PIXELS
    assert loaded.original_size == (8660, 5774)
    assert any("reduced size" in note for note in loaded.notes), (loaded.notes, elapsed)
    assert any("resized" in note for note in loaded.notes)
    assert (
        float(loaded.rgb[0, :, :10].mean()) < 0.05 and float(loaded.rgb[0, :, -10:].mean()) > 0.95
    )


def test_small_images_are_refused_and_the_minimum_accepted(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(ImageLoadError, match=r"dot\.png.*1x1 is too small.*16x16"):
        load_image(tmp_path / "dot.png")
    Image.new("RGB", (MIN_SIDE, MIN_SIDE)).save(tmp_path / "min.png")
    check_rgb(load_image(tmp_path / "min.png"), MIN_SIDE, MIN_SIDE)
    Image.new("RGB", (500, 8)).save(tmp_path / "strip.png")
    with pytest.raises(ImageLoadError, match="too small"):
        load_image(tmp_path / "strip.png")


def test_extreme_aspect_ratio_cannot_be_reduced(tmp_path):
    Image.new("RGB", (4000, 20)).save(tmp_path / "long.png")
    with pytest.raises(ImageLoadError, match="aspect ratio"):
        load_image(tmp_path / "long.png", max_pixels=20_000)


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path):
    # A PNG whose header claims 30000 x 30000 (900 MP) with almost no data behind it.
    write_png(tmp_path / "bomb.png", 30_000, 30_000, 8, 2, b"\x00" * 10)
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*decompression bomb"):
        load_image(tmp_path / "bomb.png")


def test_own_pixel_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "HARD_MAX_PIXELS", 1000)
    Image.new("RGB", (64, 64)).save(tmp_path / "a.png")
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(tmp_path / "a.png")


def test_max_pixels_is_checked():
    with pytest.raises(ValueError, match="max_pixels"):
        load_image("whatever.png", max_pixels=10)
    with pytest.raises(ValueError, match="max_pixels"):
        load_image("whatever.png", max_pixels=1.5e6)


# --------------------------------------------------------------------------- bad files


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.jpg: the file is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("these are not pixels\n" * 20)
    with pytest.raises(ImageLoadError, match=r"notes\.png: not an image"):
        load_image(tmp_path / "notes.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(tmp_path, suffix):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        tmp_path / f"full{suffix}"
    )
    data = (tmp_path / f"full{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\..*cannot be decoded"):
        load_image(tmp_path / f"cut{suffix}")


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.new("RGB", (16, 16)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images, "open", denied, raising=False)  # as a non-root user would see
    with pytest.raises(ImageLoadError, match=r"secret\.png: cannot be read \(Permission denied"):
        load_image(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_by_mode(tmp_path):
    path = tmp_path / "secret.png"
    Image.new("RGB", (16, 16)).save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageLoadError, match="cannot be read"):
            load_image(path)
    finally:
        path.chmod(0o644)


# --------------------------------------------------------------------------- saving


def test_save_png_atomic_round_trip_and_overwrite(tmp_path):
    rgb = torch.from_numpy(gradient()).permute(2, 0, 1).float() / 255
    path = tmp_path / "out.png"
    save_png_atomic(path, rgb)
    assert torch.equal(load_image(path).rgb, rgb)
    save_png_atomic(path, (1 - rgb).numpy())  # arrays too; replaces the file
    torch.testing.assert_close(load_image(path).rgb, 1 - rgb, atol=1 / 255, rtol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left


def test_save_png_atomic_clamps_and_refuses_bad_input(tmp_path):
    save_png_atomic(tmp_path / "c.png", torch.full((3, 16, 16), 2.0))
    assert float(load_image(tmp_path / "c.png").rgb.min()) == 1.0
    with pytest.raises(ValueError, match=r"shape \(3, H, W\)"):
        save_png_atomic(tmp_path / "bad.png", torch.zeros(16, 16))
    with pytest.raises(ValueError, match="NaN"):
        save_png_atomic(tmp_path / "bad.png", torch.full((3, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="float"):
        save_png_atomic(tmp_path / "bad.png", np.zeros((3, 16, 16), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]


def test_save_png_atomic_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(images.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        save_png_atomic(tmp_path / "x.png", torch.zeros(3, 16, 16))
    assert list(tmp_path.iterdir()) == []
