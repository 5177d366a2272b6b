"""Weights of the embedded models on disk: `<name>.safetensors` + `<name>.json` beside it
(the model's config under "config", the training record next to it). Shared by the embedded
codec and the embedded depth network."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from torch import nn

from engine.files import atomic_path, atomic_write


def save_model(model: nn.Module, config, path: str | os.PathLike, extra: dict | None = None):
    """Write the weights and {"config": asdict(config), **extra}, each file atomically
    (engine.files: a reader never sees half a file)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    record = {"config": asdict(config), **(extra or {})}
    atomic_write(path.with_suffix(".json"), json.dumps(record, indent=2) + "\n")


M = TypeVar("M", bound=nn.Module)


def load_model(path: Path, config_class, model_class: type[M], what: str, train: str) -> M:
    """The model_class(config_class(**json["config"])) with the weights at `path`; clear
    errors for a missing file (saying `train`), a bad config or weights that do not fit."""
    from safetensors.torch import load_file

    cfg_path = path.with_suffix(".json")
    if not path.is_file() or not cfg_path.is_file():
        raise FileNotFoundError(
            f"{what} weights not found at {path} (and {cfg_path.name}); train them with `{train}`"
        )
    try:
        cfg = config_class(**json.loads(cfg_path.read_text())["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{cfg_path}: not an {what} config ({e})") from None
    model = model_class(cfg)
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as e:  # safetensors and torch raise several types here
        raise ValueError(f"{path}: weights do not fit the config ({e})") from None
    return model
