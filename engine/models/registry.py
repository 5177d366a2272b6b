"""Backend names -> objects: the strings WorldConfig stores, and what the settings dialog lists.

A name is `<kind>` or `<kind>:<argument>`; everything after the first colon is the argument,
so paths with colons of their own (C:\\models\\vae) pass through. The forms:

codec
    embedded[:<weights.safetensors>]   the shipped autoencoder (engine.models.embedded_codec)
    pca:<file.safetensors>             a PCACodec written by PCACodec.save
    taesd-random[:<channels>]          TAESD architecture, random weights (benchmarks only)
    diffusers:<path or id>             a diffusers VAE (DiffusersCodec)
    wan-random[:tiny|full]             a Wan2.2 video VAE with random weights (tests, benchmarks)
depth
    embedded                           the embedded depth prior (engine.models.depth)
    file:<path>                        a depth file given with the photo
    transformers:<path or id>          the transformers depth-estimation pipeline
generator
    embedded                           exemplar-based latent completion (no weights)
    diffusers-inpaint:<path or id>     a Stable Diffusion inpainting pipeline's UNet
    diffusers-wan-vace:<path or id>    a Wan VACE video transformer, segment-level (wan_vace.py);
                                       random-tiny / random-full: random weights (timing only)
refiner (turns a readout into the latent the codec would give for the view)
    auto                               embedded for the embedded codec, none for the others
    embedded[:<weights.safetensors>]   the shipped refiner (engine.models.refiner)
    none                               the readout as it is

Backend modules are imported only when their name is asked for, so listing or parsing names
never imports diffusers or transformers. Each codec's `name` is a valid name for this
registry, so a codec can be made again from the name a world was saved with.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from engine.assets import MODELS
from engine.models.codec import Codec, DiffusersCodec, PCACodec, TAESDCodec

CODEC_FORMS = (
    "embedded[:<weights.safetensors>]",
    "pca:<file.safetensors>",
    "taesd-random[:<channels>]",
    "diffusers:<path or id>",
    "wan-random[:tiny|full]",
)
DEPTH_FORMS = ("embedded", "file:<path>", "transformers:<path or id>")
GENERATOR_FORMS = (
    "embedded",
    "exemplar",
    "diffusers-inpaint:<path or id>",
    "diffusers-wan-vace:<path or id>",
)
REFINER_FORMS = ("auto", "embedded[:<weights.safetensors>]", "none")
TRAIN_REFINER = "python -m engine.train.refiner"

TRAIN_CODEC = "python -m engine.train.codec"
# Where engine.models.embedded_codec keeps its weights; read from that module when it exists.
EMBEDDED_CODEC_WEIGHTS = MODELS / "codec-embedded.safetensors"


def make_codec(name: str, device: str | torch.device | None = None) -> Codec:
    """The codec a backend name stands for; ValueError listing the valid forms if unknown.
    device: where a diffusers VAE runs (float32 there, as the Wan pipelines keep their VAE);
    the embedded and PCA codecs stay on the CPU."""
    kind, arg = _split(name, "codec")
    if kind == "embedded":
        embedded = _embedded_codec_module()
        path = Path(arg).expanduser() if arg else _embedded_codec_weights()
        if not path.is_file():
            raise FileNotFoundError(
                f"embedded codec weights not found at {path}: produce them with `{TRAIN_CODEC}`"
            )
        codec = embedded.EmbeddedCodec.load(path)
        codec.name = name
        return codec
    if kind == "pca" and arg:
        codec = PCACodec.load(Path(arg).expanduser())
        codec.name = name
        return codec
    if kind == "taesd-random":
        if arg and not (arg.isdigit() and int(arg) > 0):
            raise ValueError(f"taesd-random:<channels> needs a positive integer, got {name!r}")
        codec = TAESDCodec.random(latent_channels=int(arg or 4), seed=0)
        codec.name = f"taesd-random:{codec.channels}"
        return codec
    if kind == "diffusers" and arg:
        return DiffusersCodec.from_pretrained(arg, device=device)
    if kind == "wan-random" and arg in ("", "tiny", "full"):
        from diffusers import AutoencoderKLWan

        from engine.models.wan_vace import ARCHITECTURES

        with torch.random.fork_rng(devices=[]):  # seeded, the caller's state kept
            torch.manual_seed(0)
            model = AutoencoderKLWan(**ARCHITECTURES[arg or "tiny"].vae_config())
        return DiffusersCodec(model.to(device or "cpu"), name=f"wan-random:{arg or 'tiny'}")
    raise _unknown(name, "codec", CODEC_FORMS)


def make_depth(name: str, **kw):
    """The depth estimator a backend name stands for; keyword arguments go to its constructor
    (EmbeddedDepth(**kw), FileDepth(path, **kw), TransformersDepth(id, **kw)).
    ValueError listing the valid forms if the name is unknown."""
    kind, arg = _split(name, "depth")
    if kind == "embedded" and not arg:
        return _depth_module().EmbeddedDepth(**kw)
    if kind == "file" and arg:
        return _depth_module().FileDepth(Path(arg).expanduser(), **kw)
    if kind == "transformers" and arg:
        return _depth_module().TransformersDepth(arg, **kw)
    raise _unknown(name, "depth", DEPTH_FORMS)


def make_generator(name: str, **kw):
    """The generator a backend name stands for; keyword arguments go to its constructor
    (ExemplarGenerator(**kw); InpaintGenerator.from_pretrained(id, **kw): prompt,
    negative_prompt, steps, guidance). ValueError listing the valid forms if unknown."""
    kind, arg = _split(name, "generator")
    if kind == "embedded" and not arg:
        from engine.models.quilt import QuiltGenerator

        return QuiltGenerator(**kw)
    if kind == "exemplar" and not arg:
        from engine.models.generator import ExemplarGenerator

        return ExemplarGenerator(**kw)
    if kind == "diffusers-inpaint" and arg:
        from engine.models.diffusers_inpaint import InpaintGenerator

        return InpaintGenerator.from_pretrained(arg, **kw)
    if kind == "diffusers-wan-vace" and arg:
        from engine.models.wan_vace import WanVaceGenerator

        return WanVaceGenerator.from_pretrained(arg, **kw)
    raise _unknown(name, "generator", GENERATOR_FORMS)


def make_refiner(name: str, codec: Codec, notes: list[str] | None = None):
    """The refiner a backend name stands for, for latents of `codec`. "auto" is the embedded
    refiner when the codec is the shipped embedded one (the refiner is trained for its latent
    space) and its weights exist, otherwise none (said in `notes`). ValueError listing the
    valid forms if unknown, or when an embedded refiner does not fit the codec's channels."""
    from engine.models import refiner as refiners

    kind, arg = _split(name, "refiner")
    if kind == "none" and not arg:
        return refiners.NoRefiner()
    if kind == "auto" and not arg:
        if getattr(codec, "name", None) != "embedded":
            return refiners.NoRefiner()
        if not refiners.DEFAULT_WEIGHTS.is_file():
            if notes is not None:
                notes.append(
                    f"no refiner: weights {refiners.DEFAULT_WEIGHTS} not found "
                    f"(produce them with `{TRAIN_REFINER}`)"
                )
            return refiners.NoRefiner()
        return refiners.EmbeddedRefiner.load()
    if kind == "embedded":
        path = Path(arg).expanduser() if arg else refiners.DEFAULT_WEIGHTS
        refiner = refiners.EmbeddedRefiner.load(path)
        if refiner.channels != codec.channels:
            raise ValueError(
                f"the refiner at {path} works on {refiner.channels}-channel latents; the codec "
                f"{getattr(codec, 'name', '?')!r} has {codec.channels}"
            )
        refiner.name = name
        return refiner
    raise _unknown(name, "refiner", REFINER_FORMS)


def available_backends() -> dict[str, list[dict]]:
    """Every backend form, by kind ("codec", "depth"), for the settings dialog.

    Each entry: form (as in the name, with <placeholders>), description, available (usable
    now) and missing (what to install or produce first; None when available). Forms that
    take a path or a Hub id are available when their package is: whether the file exists is
    checked when the name is made.
    """
    diffusers = _missing_package("diffusers")
    transformers = _missing_package("transformers")
    depth_module = (
        None
        if importlib.util.find_spec("engine.models.depth")
        else "engine/models/depth/ is not in this installation"
    )
    weights = _embedded_codec_weights()
    embedded_codec = (
        "engine/models/embedded_codec.py is not in this installation"
        if importlib.util.find_spec("engine.models.embedded_codec") is None
        else None
        if weights.is_file()
        else f"weights {weights} not found: produce them with `{TRAIN_CODEC}`"
    )
    codec = [
        _entry(CODEC_FORMS[0], "the shipped small autoencoder; fast on a CPU", embedded_codec),
        _entry(CODEC_FORMS[1], "linear PCA patch codec (the baseline)", None),
        _entry(
            CODEC_FORMS[2], "TAESD architecture with random weights: benchmarks only", diffusers
        ),
        _entry(
            CODEC_FORMS[3],
            "diffusers VAE (AutoencoderKL, AutoencoderTiny, Wan) from a folder or the HF cache",
            diffusers,
        ),
        _entry(
            CODEC_FORMS[4],
            "Wan2.2 video VAE architecture with random weights: tests and benchmarks only",
            diffusers,
        ),
    ]
    depth = [
        _entry(DEPTH_FORMS[0], "the embedded depth prior; no download", depth_module),
        _entry(
            DEPTH_FORMS[1],
            "a depth file given with the photo (16-bit PNG, .npy, .exr)",
            depth_module,
        ),
        _entry(
            DEPTH_FORMS[2],
            "transformers depth-estimation model (Depth Anything V2 and the like)",
            depth_module or transformers,
        ),
    ]
    generator = [
        _entry(
            GENERATOR_FORMS[0],
            "latent quilting guided by the scene's layout (copies, never averages); no weights",
            None,
        ),
        _entry(
            GENERATOR_FORMS[1],
            "exemplar-based latent completion (search and vote, coarse to fine); no weights",
            None,
        ),
        _entry(
            GENERATOR_FORMS[2],
            "Stable Diffusion inpainting UNet (9 channels) from a folder or the HF cache",
            diffusers,
        ),
        _entry(
            GENERATOR_FORMS[3],
            "Wan VACE video transformer (Mirage's generator): a whole segment at once, the "
            "memory's readouts as its context; the codec must be its own Wan VAE "
            "(diffusers:<the same folder>); random-tiny / random-full: random weights",
            diffusers or _missing_package("accelerate"),
            needs=wan_vace_needs(),
        ),
    ]
    from engine.models.refiner import DEFAULT_WEIGHTS as refiner_weights

    refiner_missing = (
        None
        if refiner_weights.is_file()
        else f"weights {refiner_weights} not found: produce them with `{TRAIN_REFINER}`"
    )
    refiner = [
        _entry(REFINER_FORMS[0], "the embedded refiner with the embedded codec, else none", None),
        _entry(REFINER_FORMS[1], "the shipped refiner (embedded codec only)", refiner_missing),
        _entry(REFINER_FORMS[2], "the readout as it is: blocky when the camera moves", None),
    ]
    return {"codec": codec, "depth": depth, "generator": generator, "refiner": refiner}


# --------------------------------------------------------------------------- helpers


def _split(name: str, what: str) -> tuple[str, str]:
    """Split a name into kind and argument (empty when the name has no colon)."""
    if not isinstance(name, str):
        raise ValueError(f"a {what} backend name must be a string, got {type(name).__name__}")
    kind, _, arg = name.partition(":")
    return kind, arg


def _unknown(name: str, what: str, forms: tuple[str, ...]) -> ValueError:
    return ValueError(f"unknown {what} backend {name!r}; valid forms: {', '.join(forms)}")


def _entry(form: str, description: str, missing: str | None, needs: str | None = None) -> dict:
    return {
        "form": form,
        "description": description,
        "available": missing is None,
        "missing": missing,
        "needs": needs,
    }


WAN_WEIGHTS_HINT = (
    "the weights: a diffusers Wan VACE pipeline folder (transformer/, vae/, scheduler/, "
    "text_encoder/, tokenizer/) on disk, named as diffusers-wan-vace:<folder> and "
    "diffusers:<folder>; for example `hf download Wan-AI/Wan2.1-VACE-1.3B-diffusers "
    "--local-dir models/Wan2.1-VACE-1.3B` (the README's \"Running Mirage's own model\")"
)


def wan_vace_needs() -> str | None:
    """What a real (not random) Wan VACE model needs that this machine lacks, and how to get
    it: a GPU, and always the weights folder (it is named, not found)."""
    needs = []
    mps = getattr(torch.backends, "mps", None)
    if not torch.cuda.is_available() and not (mps is not None and mps.is_available()):
        build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
        needs.append(
            f"a GPU: torch {torch.__version__} sees none ({build}); Wan2.2-5B in bfloat16 "
            "wants a CUDA GPU with 24 GB or more (offload=model for less); on the CPU only "
            "random-tiny is practical"
        )
    needs.append(WAN_WEIGHTS_HINT)
    return "; ".join(needs)


def _missing_package(package: str) -> str | None:
    if importlib.util.find_spec(package) is None:
        return f"the {package} package is not installed (pip install {package})"
    return None


def _embedded_codec_module():
    try:
        import engine.models.embedded_codec as embedded
    except ImportError as e:
        raise ImportError(
            f"the embedded codec is not available ({e}): it needs "
            f"engine/models/embedded_codec.py and weights made by `{TRAIN_CODEC}`"
        ) from e
    return embedded


def _embedded_codec_weights() -> Path:
    try:
        from engine.models.embedded_codec import DEFAULT_WEIGHTS
    except ImportError:
        return EMBEDDED_CODEC_WEIGHTS
    return Path(DEFAULT_WEIGHTS)


def _depth_module():
    try:
        import engine.models.depth as depth
    except ImportError as e:
        raise ImportError(f"depth backends are not available: {e}") from e
    return depth
