"""engine.models.registry: backend names -> codecs / depth estimators, and the backend list."""

import importlib.util
import re
import subprocess
import sys

import pytest
import torch

from engine.models.codec import Codec, DiffusersCodec, PCACodec, TAESDCodec
from engine.models.registry import (
    CODEC_FORMS,
    DEPTH_FORMS,
    TRAIN_CODEC,
    available_backends,
    make_codec,
    make_depth,
)


@pytest.fixture(scope="module")
def rgb() -> torch.Tensor:
    return torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))


def test_pca_file(tmp_path, rgb):
    path = tmp_path / "pca.safetensors"
    PCACodec(factor=8, channels=6).fit(rgb).save(path)
    codec = make_codec(f"pca:{path}")
    assert isinstance(codec, PCACodec) and isinstance(codec, Codec)
    assert (codec.factor, codec.channels, codec.name) == (8, 6, f"pca:{path}")
    again = make_codec(codec.name)
    assert torch.equal(again.encode(rgb), codec.encode(rgb))


def test_pca_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_codec(f"pca:{tmp_path / 'none.safetensors'}")


def test_taesd_random(rgb):
    codec = make_codec("taesd-random:8")
    assert isinstance(codec, TAESDCodec)
    assert (codec.factor, codec.channels, codec.name) == (8, 8, "taesd-random:8")
    assert make_codec("taesd-random").channels == 4
    assert torch.equal(make_codec(codec.name).encode(rgb), codec.encode(rgb))  # seeded
    for bad in ("taesd-random:0", "taesd-random:x", "taesd-random:-2"):
        with pytest.raises(ValueError, match="positive integer"):
            make_codec(bad)


def test_diffusers_folder(tmp_path, rgb):
    taesd = TAESDCodec.random(latent_channels=4, seed=2, tiny=True)
    taesd.save_pretrained(tmp_path / "vae")
    name = f"diffusers:{tmp_path / 'vae'}"
    codec = make_codec(name)
    assert isinstance(codec, DiffusersCodec) and codec.kind == "tiny"
    assert codec.name == name
    assert torch.equal(codec.encode(rgb), taesd.encode(rgb))


def test_diffusers_missing_folder_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="hf download"):
        make_codec(f"diffusers:{tmp_path / 'none'}")


def test_embedded_codec_missing_weights_say_how_to_produce_them(tmp_path):
    with pytest.raises((FileNotFoundError, ImportError), match=re.escape(TRAIN_CODEC)):
        make_codec(f"embedded:{tmp_path / 'none.safetensors'}")


def test_embedded_codec_loads_or_says_how_to_produce_it():
    try:
        codec = make_codec("embedded")
    except (FileNotFoundError, ImportError) as e:  # weights not trained in this checkout
        assert TRAIN_CODEC in str(e)
    else:
        assert isinstance(codec, Codec) and codec.name == "embedded"


@pytest.mark.parametrize(
    "name", ["", "nope", "pca", "pca:", "diffusers", "diffusers:", "PCA:x.safetensors"]
)
def test_unknown_codec_names_list_the_valid_forms(name):
    with pytest.raises(ValueError, match="unknown codec backend") as info:
        make_codec(name)
    for form in CODEC_FORMS:
        assert form in str(info.value)


@pytest.mark.parametrize("name", ["", "nope", "file", "file:", "transformers", "embedded:x"])
def test_unknown_depth_names_list_the_valid_forms(name):
    with pytest.raises(ValueError, match="unknown depth backend") as info:
        make_depth(name)
    for form in DEPTH_FORMS:
        assert form in str(info.value)


def test_names_must_be_strings():
    with pytest.raises(ValueError, match="must be a string"):
        make_codec(None)
    with pytest.raises(ValueError, match="must be a string"):
        make_depth(3)


def test_available_backends_lists_every_form():
    backends = available_backends()
    assert set(backends) == {"codec", "depth", "generator", "refiner"}
    assert [b["form"] for b in backends["codec"]] == list(CODEC_FORMS)
    assert [b["form"] for b in backends["depth"]] == list(DEPTH_FORMS)
    for entry in backends["codec"] + backends["depth"]:
        assert set(entry) == {"form", "description", "available", "missing", "needs"}
        assert entry["description"]
        assert entry["available"] == (entry["missing"] is None)
    by_form = {b["form"]: b for b in backends["codec"] + backends["depth"]}
    assert by_form["pca:<file.safetensors>"]["available"]
    assert by_form["diffusers:<path or id>"]["available"]  # diffusers is a dependency
    transformers = by_form["transformers:<path or id>"]
    if importlib.util.find_spec("transformers") is None:
        assert not transformers["available"] and "transformers" in transformers["missing"]
    embedded = by_form["embedded[:<weights.safetensors>]"]
    if not embedded["available"]:
        assert "engine/models/embedded_codec.py" in embedded["missing"] or (
            TRAIN_CODEC in embedded["missing"]
        )


def test_listing_backends_imports_no_model_library():
    code = (
        "import sys; from engine.models.registry import available_backends; "
        "available_backends(); "
        "print(sorted(m for m in ('diffusers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_generators_by_name(tmp_path, monkeypatch):
    from engine.models.generator import ExemplarGenerator
    from engine.models.quilt import QuiltGenerator
    from engine.models.registry import GENERATOR_FORMS, make_generator

    assert [b["form"] for b in available_backends()["generator"]] == list(GENERATOR_FORMS)
    gen = make_generator("embedded", block=5)
    assert isinstance(gen, QuiltGenerator) and gen.block == 5
    gen = make_generator("exemplar", patch=3)
    assert isinstance(gen, ExemplarGenerator) and gen.patch == 3
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="hf download"):
        make_generator("diffusers-inpaint:someone/missing-inpainting")
    with pytest.raises(ValueError, match="diffusers-inpaint:<path or id>"):
        make_generator("stable-diffusion")


def test_refiners_by_name(tmp_path):
    from engine.models.codec import PCACodec
    from engine.models.embedded_codec import EmbeddedCodec
    from engine.models.refiner import EmbeddedRefiner, NoRefiner, RefinerConfig
    from engine.models.registry import REFINER_FORMS, make_refiner

    assert [b["form"] for b in available_backends()["refiner"]] == list(REFINER_FORMS)
    pca = PCACodec(factor=8, channels=8)
    assert isinstance(make_refiner("none", pca), NoRefiner)
    assert isinstance(make_refiner("auto", pca), NoRefiner)  # trained for the embedded codec only
    weights = tmp_path / "r.safetensors"
    EmbeddedRefiner.random(RefinerConfig(channels=4, width=8, blocks=1)).save(weights)
    with pytest.raises(ValueError, match="4-channel latents"):
        make_refiner(f"embedded:{weights}", pca)
    codec = EmbeddedCodec.random()
    assert isinstance(
        make_refiner(f"embedded:{weights}", PCACodec(factor=8, channels=4)), EmbeddedRefiner
    )
    notes: list[str] = []
    refiner = make_refiner("auto", codec, notes)  # named "embedded-random": not the shipped one
    assert isinstance(refiner, NoRefiner) and notes == []
    with pytest.raises(FileNotFoundError, match="engine.train.refiner"):
        make_refiner(f"embedded:{tmp_path / 'missing.safetensors'}", codec)
    with pytest.raises(ValueError, match="auto, embedded"):
        make_refiner("sharpen", codec)
