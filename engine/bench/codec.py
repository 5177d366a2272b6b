"""`latentscape bench codec`: the embedded codec on real photos, against a linear codec.

Evaluation photos (none of them is used for training): scikit-image's astronaut, coffee,
chelsea, rocket and motorcycle_left, and matplotlib's grace_hopper, each centre-cropped to
512x384 at its native resolution; an image smaller than that (chelsea, 451x300) is first
upscaled just enough to cover it (bilinear, aspect kept).

The linear baseline is the PCA codec with the same latent size that engine/train/codec.py
fitted on the same training data (assets/models/codec-pca8.safetensors). Timing: median of
encode and decode of one 512x384 image, torch on 2 threads, after warm-up.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.bench import write_json
from engine.bench.timing import median_ms
from engine.eval.metrics import psnr
from engine.models.codec import PCACodec
from engine.models.embedded_codec import DEFAULT_WEIGHTS, EmbeddedCodec

WIDTH, HEIGHT = 512, 384
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "grace_hopper"]


def centre_crop(rgb: torch.Tensor, width: int = WIDTH, height: int = HEIGHT) -> torch.Tensor:
    """(3, H, W) -> (3, height, width): the centre, upscaled first only if too small."""
    _, h, w = rgb.shape
    s = max(width / w, height / h, 1.0)
    size = (max(height, round(h * s)), max(width, round(w * s)))
    if size != (h, w):
        rgb = F.interpolate(rgb[None], size=size, mode="bilinear", antialias=True)[0]
    y, x = (size[0] - height) // 2, (size[1] - width) // 2
    return rgb[:, y : y + height, x : x + width].clamp(0, 1).contiguous()


def _tensor(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.array(img))
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    return x[..., :3].permute(2, 0, 1).contiguous()


def evaluation_photos() -> dict[str, torch.Tensor]:
    """The six evaluation photos, centre-cropped to 512x384. Needs scikit-image and
    matplotlib (the bench extras); raises a clear error naming what is missing."""
    try:
        from skimage import data as skdata
    except ImportError:
        raise RuntimeError(
            "bench codec needs scikit-image for its evaluation photos: "
            "pip install -e '.[bench]' (or pip install scikit-image)"
        ) from None
    try:
        import matplotlib.cbook
    except ImportError:
        raise RuntimeError(
            "bench codec needs matplotlib for grace_hopper: pip install -e '.[bench]'"
        ) from None
    from PIL import Image

    photos = {
        "astronaut": skdata.astronaut(),
        "coffee": skdata.coffee(),
        "chelsea": skdata.chelsea(),
        "rocket": skdata.rocket(),
        "motorcycle_left": skdata.stereo_motorcycle()[0],
    }
    # a file object: matplotlib's stub adds the ndarray it returns for .npy / .npz files
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:  # type: ignore[union-attr]
        photos["grace_hopper"] = np.asarray(Image.open(f).convert("RGB"))
    return {k: centre_crop(_tensor(v)) for k, v in photos.items()}


def measure(codec, photos: dict[str, torch.Tensor]) -> dict:
    scores = {}
    for name, rgb in photos.items():
        x = rgb[None]
        scores[name] = psnr(codec.decode(codec.encode(x))[0], rgb)
    x = next(iter(photos.values()))[None]
    z = codec.encode(x)
    return {
        "psnr_db": scores,
        "mean_psnr_db": statistics.mean(scores.values()),
        "encode_ms": median_ms(lambda: codec.encode(x)),
        "decode_ms": median_ms(lambda: codec.decode(z)),
    }


def run(json_out: Path | None = None, weights: Path | None = None) -> int:
    weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        t0 = time.perf_counter()
        embedded = EmbeddedCodec.load(weights)
        load_ms = 1e3 * (time.perf_counter() - t0)
        pca_path = weights.parent / f"codec-pca{embedded.channels}.safetensors"
        pca = PCACodec.load(pca_path)
        photos = evaluation_photos()
        print(f"evaluating on {len(photos)} photos at {WIDTH}x{HEIGHT}", file=sys.stderr)
        results = {"embedded": measure(embedded, photos), "pca": measure(pca, photos)}
    finally:
        torch.set_num_threads(threads)
    emb, lin = results["embedded"], results["pca"]
    print(f"\nCodec on {len(photos)} photos, {WIDTH}x{HEIGHT}, factor 8, {embedded.channels} ch")
    print(f"{'photo':<16} {'embedded':>9} {'pca':>9} {'gain':>7}")
    for name in photos:
        a, b = emb["psnr_db"][name], lin["psnr_db"][name]
        print(f"{name:<16} {a:7.2f}dB {b:7.2f}dB {a - b:+6.2f}")
    gain = emb["mean_psnr_db"] - lin["mean_psnr_db"]
    print(f"{'mean':<16} {emb['mean_psnr_db']:7.2f}dB {lin['mean_psnr_db']:7.2f}dB {gain:+6.2f}")
    print(f"embedded weights loaded in {load_ms:.0f} ms")
    print(
        f"time per 512x384 image (2 threads): embedded encode {emb['encode_ms']:.1f} ms, "
        f"decode {emb['decode_ms']:.1f} ms; pca encode {lin['encode_ms']:.1f} ms, "
        f"decode {lin['decode_ms']:.1f} ms"
    )
    result = {
        "photos": list(photos),
        "size": [WIDTH, HEIGHT],
        "channels": embedded.channels,
        "weights": weights.name,
        "embedded": emb,
        "pca": lin,
        "gain_db": gain,
        "load_ms": load_ms,
        "torch": torch.__version__,
    }
    if json_out is not None:
        write_json(result, json_out)
    return 0
