"""The memories on a device: device="cpu" is the default bit for bit, `to` moves everything,
files stay CPU, no tensor is made off the memory's device, and (with a GPU) cuda agrees with
the CPU."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from engine.camera import Camera, rotation_about
from engine.memory import load_memory, make_memory
from engine.memory.latent import LatentMemory, Readout

C = 4
W, H = 16, 12
READOUT_FIELDS = ("latent", "known", "depth", "ids", "sky", "offset", "scale")


class _Codec:
    """What make_memory reads of a codec for the latent memory."""

    channels = C
    factor = 8


def _camera(gen: torch.Generator, spread: float = 0.6, turn: float = 0.4) -> Camera:
    pose = torch.eye(4, dtype=torch.float64)
    yaw = float((torch.rand(1, generator=gen) - 0.5) * 2 * turn)
    pose[:3, :3] = rotation_about((0, -1, 0), yaw)
    pose[:3, 3] = (torch.rand(3, generator=gen, dtype=torch.float64) - 0.5) * 2 * spread
    return Camera.from_fov(60.0, W, H, pose=pose)


def _frame(gen: torch.Generator):
    """latent (C, H, W), depth (H, W) with a sky band on top, keep and sky masks."""
    latent = torch.randn(C, H, W, generator=gen)
    coarse = torch.rand(1, 1, 3, 4, generator=gen)
    depth = 1.5 + 4 * torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear")[0, 0]
    sky = torch.zeros(H, W, dtype=torch.bool)
    sky[:2] = True
    depth[sky] = math.inf
    keep = torch.rand(H, W, generator=gen) > 0.05
    depth[torch.rand(H, W, generator=gen) < 0.05] = 0.0  # unknown: dropped
    return latent, depth, keep, sky


def _scenario(mem, device: str | torch.device = "cpu", seed: int = 0) -> list[Readout]:
    """Lift, updates (with a compact between, so both the main part and the tail are read),
    an erase, and readouts; inputs are made on the CPU and given on `device`."""
    gen = torch.Generator().manual_seed(seed)

    def on(*ts):
        return [t.to(device) for t in ts]

    latent, depth, keep, sky = on(*_frame(gen))
    mem.lift(latent, depth, _camera(gen), keep=keep, sky=sky)
    out = []
    for k in range(6):
        latent, depth, keep, sky = on(*_frame(gen))
        mem.update(latent, depth, _camera(gen), keep=keep, sky=sky, segment=k + 1)
        if k == 2:
            mem.compact()
        out.append(mem.readout(_camera(gen)))
    mem.erase(box=on(torch.tensor([0.0, -9, -9]), torch.tensor([0.3, 9, 9])))
    out.append(mem.readout(_camera(gen)))
    return out


def _assert_same(a: LatentMemory, b: LatentMemory, ra: list[Readout], rb: list[Readout]) -> None:
    assert len(a) == len(b) and a.nbytes == b.nbytes
    for x, y in zip(ra, rb, strict=True):
        for f in READOUT_FIELDS:
            assert torch.equal(getattr(x, f), getattr(y, f)), f
    n = torch.arange(len(a))
    for k, v in a.entries(n).items():
        assert torch.equal(v, b.entries(n)[k]), k
    oa, ob = a.occupancy(32), b.occupancy(32)
    assert torch.equal(oa.count, ob.count) and torch.equal(oa.segment, ob.segment)


def test_device_cpu_is_the_default_bit_for_bit(tmp_path):
    default = LatentMemory(C, budget_bytes=85_000)
    on_cpu = LatentMemory(C, budget_bytes=85_000, device="cpu")
    made = make_memory("latent", _Codec(), budget_bytes=85_000, device=torch.device("cpu"))
    runs = [_scenario(m) for m in (default, on_cpu, made)]
    for m, r in ((on_cpu, runs[1]), (made, runs[2])):
        assert m.device == torch.device("cpu")
        _assert_same(default, m, runs[0], r)
    paths = [tmp_path / f"{i}.safetensors" for i in range(2)]
    default.save(paths[0])
    on_cpu.save(paths[1])
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_to_cpu_round_trip_and_load_on_a_device(tmp_path):
    mem = LatentMemory(C)
    _scenario(mem, seed=1)
    before = tmp_path / "before.safetensors"
    mem.save(before)
    cam = _camera(torch.Generator().manual_seed(9), spread=0.1)
    r0 = mem.readout(cam)
    assert mem.to("cpu") is mem and mem.to(torch.device("cpu")).device.type == "cpu"
    r1 = mem.readout(cam)
    for f in READOUT_FIELDS:
        assert torch.equal(getattr(r0, f), getattr(r1, f)), f
    after = tmp_path / "after.safetensors"
    mem.save(after)
    assert before.read_bytes() == after.read_bytes()
    back = load_memory("latent", after, _Codec(), device="cpu")
    assert back.device == torch.device("cpu") and len(back) == len(mem)
    r2 = back.readout(cam)
    for f in READOUT_FIELDS:
        assert torch.equal(getattr(r0, f), getattr(r2, f)), f


def test_rgb_memory_takes_a_device():
    mem = make_memory("rgb", _Codec(), device="cpu")
    assert mem.device == torch.device("cpu") and mem.to("cpu") is mem


# -- static scan: no tensor made off the memory's device ------------------------------------

MEMORY_DIR = Path(__file__).resolve().parents[2] / "engine" / "memory"
FACTORIES = {"zeros", "ones", "empty", "full", "arange", "tensor", "as_tensor", "eye"}
FACTORIES |= {"linspace", "rand", "randn", "randint", "randperm", "Generator"}
ALLOWED = {
    # (file, function, factory): why it may make a CPU tensor
    ("latent.py", "from_dict", "tensor"): "GroundFrame stays on the CPU by design (docstring)",
    ("latent.py", "load", "zeros"): "a version-1 file's missing column, made beside the file's "
    "CPU arrays; store.load_state moves them all to the memory's device",
}
SKIPPED_FILES = {"reference.py": "the slow numpy twin used only by tests; no torch tensors"}


def _bare_factory_calls(path: Path) -> list[tuple[str, str, int]]:
    """(function, factory, line) of torch.<factory>(...) calls with neither device= nor out=."""
    found = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = func
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and isinstance(child.func.value, ast.Name)
                and child.func.value.id == "torch"
                and child.func.attr in FACTORIES
                and not {kw.arg for kw in child.keywords} & {"device", "out"}
            ):
                found.append((name, child.func.attr, child.lineno))
            visit(child, name)

    visit(ast.parse(path.read_text()), "<module>")
    return found


def test_memory_code_makes_no_tensor_without_a_device():
    files = sorted(p for p in MEMORY_DIR.glob("*.py") if p.name not in SKIPPED_FILES)
    assert {"latent.py", "store.py", "sky.py", "rgb.py"} <= {p.name for p in files}
    bare, used = [], set()
    for path in files:
        for func, factory, line in _bare_factory_calls(path):
            key = (path.name, func, factory)
            if key in ALLOWED:
                used.add(key)
            else:
                bare.append(f"{path.name}:{line} {func}: torch.{factory} without device=")
    assert not bare, "\n".join(bare)
    assert used == set(ALLOWED), f"stale allowlist entries: {set(ALLOWED) - used}"


def test_the_scan_sees_a_bare_factory(tmp_path):
    src = tmp_path / "x.py"
    src.write_text(
        "import torch\n"
        "def f(n, d):\n"
        "    a = torch.zeros(n, device=d)\n"
        "    torch.arange(n, out=a)\n"
        "    return torch.full((n,), 1)\n"
    )
    assert _bare_factory_calls(src) == [("f", "full", 5)]


# -- cuda against the CPU -------------------------------------------------------------------


def _mismatch(a: Readout, b: Readout) -> float:
    """Fraction of pixels where two readouts disagree (known, or latent / depth where both
    know the pixel)."""
    a_cpu = {f: getattr(a, f).cpu() for f in ("latent", "known", "depth")}
    both = a_cpu["known"] & b.known
    close = torch.isclose(a_cpu["latent"], b.latent, atol=1e-4).all(0)
    close &= torch.isclose(a_cpu["depth"], b.depth, rtol=1e-4) | (b.depth == math.inf)
    bad = (a_cpu["known"] != b.known) | (both & ~close)
    return float(bad.float().mean())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
@pytest.mark.parametrize("inputs_on", ["cpu", "cuda"])
def test_cuda_memory_agrees_with_the_cpu(tmp_path, inputs_on):
    # float32 features: no int8 rounding that a last-bit difference could flip
    cpu = LatentMemory(C, feature_dtype="float32")
    gpu = make_memory("latent", _Codec(), feature_dtype="float32", device="cuda")
    r_cpu = _scenario(cpu)
    r_gpu = _scenario(gpu, device=inputs_on)  # inputs on the CPU are moved to cuda
    assert gpu.device.type == "cuda"
    assert gpu.store.pos.device.type == "cuda" and gpu.sky.feat is not None
    assert gpu.sky.feat.device.type == "cuda" and gpu.scale.device.type == "cuda"
    # float32 projections may round differently on the GPU: a token on a pixel edge may land
    # in the neighbouring pixel, so a few disagreements are allowed, not more
    assert abs(len(gpu) - len(cpu)) <= 0.01 * len(cpu)
    for a, b in zip(r_gpu, r_cpu, strict=True):
        for f in READOUT_FIELDS:
            assert getattr(a, f).device.type == "cuda", f
        assert _mismatch(a, b) <= 0.02
    occ = gpu.occupancy(32)
    assert occ.count.device.type == "cuda"
    # the file is CPU and loads anywhere
    path = tmp_path / "gpu.safetensors"
    gpu.save(path)
    back = LatentMemory.load(path)
    assert back.device.type == "cpu" and len(back) == len(gpu)
    cam = _camera(torch.Generator().manual_seed(5), spread=0.1)
    assert _mismatch(gpu.readout(cam), back.readout(cam)) <= 0.02
    assert gpu.to("cpu") is gpu and gpu.store.pos.device.type == "cpu"
    assert gpu.readout(cam).latent.device.type == "cpu"
