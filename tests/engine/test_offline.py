"""The embedded stack needs no network: it imports and runs with sockets disabled."""

import subprocess
import sys
import textwrap

import pytest

from engine.models.depth_net import DEFAULT_WEIGHTS as DEPTH_NET_WEIGHTS
from engine.models.embedded_codec import DEFAULT_WEIGHTS

SCRIPT = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    import torch
    from engine.models.registry import make_codec, make_depth
    from engine.scenes import load_scene

    scene = load_scene("room")
    depth = make_depth("embedded").estimate(scene.rgb)
    assert torch.isfinite(depth.depth).all() and (depth.depth > 0).all()
    assert not DEPTH_NET or any("depth network" in note for note in depth.notes), depth.notes
    if WEIGHTS:
        codec = make_codec("embedded")
        z = codec.encode(scene.rgb[None])
        assert codec.decode(z).shape == scene.rgb[None].shape
    print("ok")
    """
)


@pytest.mark.slow
def test_embedded_stack_runs_without_network():
    code = SCRIPT.replace("DEPTH_NET", str(DEPTH_NET_WEIGHTS.is_file()))
    code = code.replace("WEIGHTS", str(DEFAULT_WEIGHTS.is_file()))
    env = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
