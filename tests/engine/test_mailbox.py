"""The engine thread's mailbox: commands in order before the newest pose, a pose replacing
the one not taken, answers carried, and a close that drains or not."""

import threading
from concurrent.futures import Future

import numpy as np

from engine.mailbox import Mailbox


def pose(x: float) -> np.ndarray:
    p = np.eye(4)
    p[0, 3] = x
    return p


def test_commands_in_order_then_only_the_newest_pose():
    box = Mailbox()
    box.put_pose(pose(1), 1.0, False)
    answer: Future = Future()
    box.post("open", "room", answer)
    box.put_pose(pose(2), 2.0, True)  # replaces the first, not taken yet
    box.post("save", "w.lsworld")
    assert box.take() == ("open", "room", answer)
    assert box.take() == ("save", "w.lsworld", None)
    kind, (p, at, generating), future = box.take()
    assert kind == "move" and p[0, 3] == 2 and at == 2.0 and generating and future is None


def test_take_waits_and_close_ends_it_with_or_without_draining():
    box = Mailbox()
    taken = []
    worker = threading.Thread(target=lambda: taken.append(box.take()))
    worker.start()
    box.post("undo")
    worker.join(10)
    assert taken == [("undo", None, None)]
    box.post("save", "a")
    box.put_pose(pose(1), 1.0, False)
    box.close(drain=True)  # the save still runs, the pose is dropped
    assert box.take() == ("save", "a", None) and box.take() is None
    box = Mailbox()
    box.post("save", "b")
    box.close()
    assert box.take() is None
