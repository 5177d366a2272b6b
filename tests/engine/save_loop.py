"""A process that saves worlds over one folder until it is killed: test_io's kill test.

    python tests/engine/save_loop.py FOLDER

builds two tiny worlds of the room, one and two segments long, saves the first to FOLDER and
prints one JSON line: {"worlds": [[segments, entries], ...] of the two, "save_s": seconds one
save takes}. Then, for each line "fork" read from stdin, it forks a child that saves the two
worlds over FOLDER in turn, without end, and prints the child's pid; once the child is dead
(the test kills it with SIGKILL), it prints "killed". For "window", the child kills itself
in the middle of its first save, between the two renames that swap the folders. Forking
spares each of the 50 children the seconds of importing torch; torch runs on one thread, so
the children inherit no thread pool.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import torch

torch.set_num_threads(1)  # before any torch work: a forked child must not need a thread pool

from engine.camera import Camera  # noqa: E402
from engine.io import save_world  # noqa: E402
from engine.models.codec import PCACodec  # noqa: E402
from engine.models.depth import EmbeddedDepth  # noqa: E402
from engine.synth import room_scene  # noqa: E402
from engine.world import World, WorldConfig  # noqa: E402

W, H = 64, 48


def tiny_worlds() -> list[World]:
    """The room seeded at 64 x 48, after one segment and after two."""
    room = room_scene(0)
    camera = Camera.from_fov(60.0, W, H)
    view = room.render(camera)
    codec = PCACodec(factor=8, channels=8).fit(view.rgb[None], seed=0)
    poses = room.sample_path("loop", n=12)
    worlds = []
    for segments in (1, 2):
        world = World(WorldConfig(width=W, height=H), codec=codec, depth=EmbeddedDepth())
        world.seed(view.rgb, depth=view.depth, intrinsics=camera)
        for k in range(segments):
            world.segment(poses[3 * k + 2 : 3 * k + 5])
        worlds.append(world)
    return worlds


def main(folder: str) -> None:
    worlds = tiny_worlds()
    t = time.perf_counter()
    save_world(worlds[0], folder)
    save_s = time.perf_counter() - t
    print(json.dumps({"worlds": [[w.segments, len(w.memory)] for w in worlds], "save_s": save_s}))
    sys.stdout.flush()
    for line in sys.stdin:
        command = line.strip()
        if command not in ("fork", "window"):
            break
        pid = os.fork()
        if pid == 0:  # the child: saves until killed
            try:
                if command == "window":
                    kill_in_the_swap(folder)
                k = 1
                while True:
                    save_world(worlds[k % 2], folder)
                    k += 1
            finally:
                os._exit(1)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print("killed" if killed else f"ended by itself ({status})", flush=True)


def kill_in_the_swap(folder: str) -> None:
    """Make this process SIGKILL itself at the worst moment of a save: the old world moved
    aside, the new one not yet renamed into its place (engine.files.replace_folder)."""
    rename = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if os.path.abspath(dst) == os.path.abspath(folder) and not os.path.exists(folder):
            os.kill(os.getpid(), signal.SIGKILL)
        rename(src, dst)

    os.replace = replace  # type: ignore[assignment]


if __name__ == "__main__":
    main(sys.argv[1])
