"""Write the sample scenes in assets/scenes/ (engine.assets.SCENES), deterministically.

    .venv/bin/python scripts/make_scenes.py [--out DIR] [NAME ...]

Synthetic scenes ("room", "room-2", "street"): engine.synth.scene_by_name(NAME) rendered at
512x384, vertical field of view 60 degrees, identity pose, time 0; depth is the exact
ray-cast depth (0 on the sky).

"motorcycle": the left image of the Middlebury 2014 "Motorcycle" stereo pair as bundled with
scikit-image (`skimage.data.stereo_motorcycle()`; needs `pip install scikit-image`, 0.26.0
was used), with its ground-truth disparity turned into metric depth, resized to 512 wide.

The calibration, from the docstring of skimage.data.stereo_motorcycle (scikit-image 0.26.0),
is already for skimage's images, which are the benchmark's images down-sampled by 4 with
skimage.transform.downscale_local_mean (the benchmark's calib.txt divided by 4:
f = 3979.911 / 4, cx = 1244.772 / 4, cy = 1019.507 / 4, doffs = 124.343 / 4):

    focal length f = 994.978 px, principal point (311.193, 254.877) px,
    doffs = 31.086 px (difference of the two cameras' principal points in x),
    baseline B = 193.001 mm.

Depth from disparity (Middlebury's formula; d and doffs in the same, down-sampled, pixels):

    Z = B f / (d + doffs)

Pixel convention: Middlebury's principal point counts pixel centres at integers (0-based, as
OpenCV does); engine.camera puts the centre of pixel j at j + 0.5. In continuous coordinates
the full-size principal point is cx_full + 0.5, and dividing by 4 gives cx_full / 4 + 0.125,
so cx = 311.193 + 0.125 and cy = 254.877 + 0.125 here (skimage's plain division by 4 leaves
this 1/8-pixel shift out). Resizing 741x500 to 512x345 then scales fx, cx by 512 / 741 and
fy, cy by 345 / 500 (continuous pixels: no half-pixel term). The photo is resized with a
Lanczos filter; depth is resampled by nearest neighbour (no averaging across depth edges),
and pixels without ground truth (NaN or inf disparity: occlusions, missing data) get depth 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.assets import SCENES  # noqa: E402
from engine.camera import Camera  # noqa: E402
from engine.scenes import save_scene  # noqa: E402
from engine.synth import scene_by_name  # noqa: E402

WIDTH, HEIGHT, FOV_Y_DEG = 512, 384, 60.0  # synthetic scenes
MOTORCYCLE_WIDTH = 512

PROJECT_LICENCE = (
    "Made by Latentscape's scripts/make_scenes.py from engine/synth.py; same licence as the "
    "Latentscape project"
)
SYNTHETIC = {
    "room": "Synthetic interior (engine.synth room_scene(0)): a room with striped wallpaper, "
    "plank floor and furniture boxes, a doorway into a second room.",
    "room-2": "Synthetic interior (engine.synth room_scene(1)): the same two rooms with other "
    "wallpaper, floor and furniture.",
    "street": "Synthetic exterior (engine.synth street_scene(0)): a street between brick and "
    "plaster buildings with windows, trees, planters, lamp posts, sky with clouds and two "
    "cars (the cars move in the synthetic scene; here they stand where they are at time 0).",
}

# scikit-image 0.26.0, skimage.data.stereo_motorcycle docstring (down-sampled by 4)
MOTORCYCLE_CALIBRATION = {
    "focal_px": 994.978,
    "cx_px": 311.193,
    "cy_px": 254.877,
    "doffs_px": 31.086,
    "baseline_mm": 193.001,
}
HALF_PIXEL_SHIFT = 0.5 / 4  # integer-centred -> continuous pixels, then down-sampled by 4

DEPTH_SCALES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1)


def depth_scale_for(depth: torch.Tensor) -> float:
    """The finest scale from DEPTH_SCALES at which the largest known depth fits 16 bits."""
    known = torch.isfinite(depth) & (depth > 0)
    largest = float(depth[known].max())
    for scale in DEPTH_SCALES:
        if largest / scale <= 65535:
            return scale
    raise ValueError(f"depth up to {largest} does not fit 16 bits at any scale")


def make_synthetic(name: str, out: Path) -> Path:
    camera = Camera.from_fov(FOV_Y_DEG, WIDTH, HEIGHT)
    view = scene_by_name(name).render(camera, time=0.0)
    depth = torch.where(view.sky, 0.0, view.depth)
    return save_scene(
        out / name,
        view.rgb,
        depth,
        camera,
        depth_scale=depth_scale_for(depth),
        depth_unit="m",
        source=f"synthetic: engine.synth.scene_by_name({name!r}).render(camera, time=0.0)",
        licence=PROJECT_LICENCE,
        description=SYNTHETIC[name],
        extra={"synthetic": {"scene": name, "time": 0.0, "fov_y_deg": FOV_Y_DEG}},
    )


def motorcycle_depth(disparity: np.ndarray) -> np.ndarray:
    """Metric depth (m) from skimage's down-sampled disparity (px); 0 where it is unknown."""
    c = MOTORCYCLE_CALIBRATION
    known = np.isfinite(disparity) & (disparity + c["doffs_px"] > 0)
    d = np.where(known, disparity, 0.0).astype(np.float64)
    # Z = B f / (d + doffs), B in mm -> m
    z = c["baseline_mm"] / 1000.0 * c["focal_px"] / (d + c["doffs_px"])
    return np.where(known, z, 0.0)


def resize_nearest(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resampling: output pixel centre (j + 0.5) maps to source column
    floor((j + 0.5) * W / width), likewise for rows."""
    rows = np.floor((np.arange(height) + 0.5) * values.shape[0] / height).astype(np.int64)
    cols = np.floor((np.arange(width) + 0.5) * values.shape[1] / width).astype(np.int64)
    return values[rows[:, None], cols[None, :]]


def make_motorcycle(out: Path) -> Path:
    try:
        import skimage
        from skimage.data import stereo_motorcycle
    except ImportError:
        raise SystemExit(
            "the motorcycle scene needs scikit-image: .venv/bin/pip install scikit-image"
        ) from None
    left, _right, disparity = stereo_motorcycle()
    src_h, src_w = disparity.shape
    width = MOTORCYCLE_WIDTH
    height = round(src_h * width / src_w)
    sx, sy = width / src_w, height / src_h
    c = MOTORCYCLE_CALIBRATION
    camera = Camera(
        fx=c["focal_px"] * sx,
        fy=c["focal_px"] * sy,
        cx=(c["cx_px"] + HALF_PIXEL_SHIFT) * sx,
        cy=(c["cy_px"] + HALF_PIXEL_SHIFT) * sy,
        width=width,
        height=height,
    )
    photo = Image.fromarray(left).resize((width, height), Image.Resampling.LANCZOS)
    rgb = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255.0).permute(2, 0, 1)
    depth = resize_nearest(motorcycle_depth(disparity), width, height)
    return save_scene(
        out / "motorcycle",
        rgb,
        torch.from_numpy(depth.astype(np.float32)),
        camera,
        depth_scale=1e-4,
        depth_unit="m",
        source=(
            "Middlebury 2014 stereo dataset, scene 'Motorcycle' (left image, ground-truth "
            "disparity), as bundled with scikit-image "
            f"{skimage.__version__} (skimage.data.stereo_motorcycle), resized from "
            f"{src_w}x{src_h} to {width}x{height}"
        ),
        licence=(
            "Middlebury stereo datasets (D. Scharstein et al., GCPR 2014; "
            "vision.middlebury.edu/stereo/data/scenes2014/); scikit-image documents no "
            "licence for this image, only its source and the paper to cite"
        ),
        description=(
            "Real photo: a motorcycle in a workshop, with structured-light ground-truth depth "
            "(0 where the ground truth has no value)."
        ),
        extra={
            "stereo": {
                **MOTORCYCLE_CALIBRATION,
                "calibration_image_size": [src_w, src_h],
                "depth_formula": "Z = baseline * focal / (disparity + doffs)",
                "pixel_convention_shift_px": HALF_PIXEL_SHIFT,
            },
            "citation": (
                "D. Scharstein, H. Hirschmueller, Y. Kitajima, G. Krathwohl, N. Nesic, "
                "X. Wang, and P. Westling. High-resolution stereo datasets with "
                "subpixel-accurate ground truth. GCPR 2014."
            ),
        },
    )


def main(argv: list[str] | None = None) -> None:
    names = [*SYNTHETIC, "motorcycle"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"some of {names} (default: all)")
    parser.add_argument("--out", type=Path, default=SCENES, help=f"default: {SCENES}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in names]
    if unknown:
        parser.error(f"unknown scene names {unknown}, expected some of {names}")
    for name in args.names or names:
        folder = (
            make_motorcycle(args.out) if name == "motorcycle" else make_synthetic(name, args.out)
        )
        sizes = ", ".join(
            f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in sorted(folder.iterdir())
        )
        print(f"{folder}: {sizes}")


if __name__ == "__main__":
    main()
