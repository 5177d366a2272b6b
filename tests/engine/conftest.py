"""Fixtures of the engine tests: a fault in one stage of a segment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

STAGES = ("readout", "refine", "generate", "depth", "update", "decode")
"""The stages of a segment's frame (engine/world.py), in the order World runs them, except
decode, which comes before the update."""


class StageFault:
    """Makes one stage of a segment raise RuntimeError("<stage> failed") once the segment
    has written to the memory (the second frame's stage; for "update", right after the
    second frame's write): a segment that fails halfway, with a memory already changed.
    `fired`: the entries the memory had when it raised (None: not reached); disarm()."""

    def __init__(self, world: Any, stage: str) -> None:
        self.world, self.stage = world, stage
        self.writes = 0
        self.armed = True
        self.fired: int | None = None

    def disarm(self) -> None:
        self.armed = False

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if stage == "update":
                out = fn(*args, **kwargs)
                self.writes += 1
                self.fail_at(stage, self.writes >= 2)
                return out
            self.fail_at(stage, self.writes >= 1)
            return fn(*args, **kwargs)

        return wrapped

    def fail_at(self, stage: str, now: bool) -> None:
        if self.armed and stage == self.stage and now:
            self.armed = False
            self.fired = len(self.world.memory)
            raise RuntimeError(f"{stage} failed")


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    """Each stage of a segment in turn (STAGES)."""
    return str(request.param)


@pytest.fixture
def stage_fault(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any, str], StageFault]:
    """stage_fault(world, stage) -> a StageFault armed in that world's backends (patched on
    their classes: a memory restored from its copy is patched too) until the test ends."""
    import engine.world

    def arm(world: Any, stage: str) -> StageFault:
        assert stage in STAGES
        fault = StageFault(world, stage)
        targets: dict[str, tuple[Any, str]] = {
            "readout": (type(world.memory), "readout"),
            "refine": (type(world.refiner), "refine"),
            "generate": (type(world.generator), "fill"),
            "depth": (engine.world, "layout_depth"),
            "update": (type(world.memory), "update"),
            "decode": (type(world.codec), "decode"),
        }
        for name, (owner, attr) in targets.items():
            if name == stage or name == "update":  # updates are counted in every case
                monkeypatch.setattr(owner, attr, fault.wrap(name, getattr(owner, attr)))
        return fault

    return arm
