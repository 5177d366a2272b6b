"""Every key and mouse control of the app, declared once.

The window's menus take their shortcuts from here (`Binding.action`), the viewport's help
overlay (F1) lists `help_rows()`, and the README's table of controls is `markdown_table()`
(a test keeps the README equal to it; `python -m app.keys` prints it). A control the
viewport handles itself (flying, looking) has no action name and no shortcut.

Shortcuts are written as Qt's portable text ("Ctrl+O"): on macOS Qt shows and takes Ctrl as
the Command key, as the platform's own standard keys do.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    keys: str  # as shown ("W / S, A / D"); for a shortcut, the key sequence(s), ", " apart
    does: str  # what it does, as the README says it
    action: str | None = None  # the window's name for it: a menu action with this shortcut
    brief: str | None = None  # shorter text for the help overlay (else `does`)
    in_help: bool = True  # listed in the help overlay

    @property
    def shortcuts(self) -> list[str]:
        """The key sequences of a menu action (its `keys` split at ", ")."""
        return [k.strip() for k in self.keys.split(", ")] if self.action else []


BINDINGS: tuple[Binding, ...] = (
    Binding("W / S, A / D, Q / E", "fly forward / back, left / right, down / up"),
    Binding("Shift", "sprint (3x)"),
    Binding("drag with the left button", "look around", brief="look around (drag)"),
    Binding(
        "C",
        "capture the mouse: every move looks around, no button needed; Esc releases it",
        action="capture",
        brief="capture the mouse to look (Esc releases)",
    ),
    Binding("mouse wheel", "flying speed"),
    Binding(
        "Space",
        "start / pause generation (pausing stops the segment being made)",
        action="generate",
        brief="start / pause generation",
    ),
    Binding(
        "Esc",
        "release the captured mouse, else cancel the segment being generated",
        action="escape",
        brief="release the mouse / cancel the segment",
    ),
    Binding(
        "F",
        "overlay: the generated tokens tinted, then the depth, then none",
        action="overlay",
        brief="overlay: generated tokens / depth / none",
    ),
    Binding(
        "R",
        "record the camera path; R again stops: the flight becomes the path dock's path "
        "(keyframes within 1 cm and 0.5 degrees of every pose flown, at the times flown)",
        action="record",
        brief="record the camera path (again: stop)",
    ),
    Binding("K", "add a keyframe at the view", action="add_keyframe"),
    Binding("U", "the selected keyframe takes the view", action="update_keyframe"),
    Binding(
        "Ctrl+D",
        "duplicate the selected keyframe (halfway to the next)",
        action="duplicate_keyframe",
        in_help=False,
    ),
    Binding("Del", "delete the selected keyframe", action="delete_keyframe", in_help=False),
    Binding("G", "go to the selected keyframe", action="go_to_keyframe"),
    Binding("[", "go to the previous keyframe", action="previous_keyframe", in_help=False),
    Binding("]", "go to the next keyframe", action="next_keyframe", in_help=False),
    Binding("P", "play / pause the path's preview", action="play"),
    Binding("Ctrl+Alt+Z", "undo the last path edit", action="undo_path_edit", in_help=False),
    Binding(
        "Ctrl+Shift+P",
        "open a camera path (the project's JSON or nerfstudio's)",
        action="open_path",
        in_help=False,
    ),
    Binding(
        "Ctrl+Alt+S",
        "save the camera path (the project's JSON or nerfstudio's)",
        action="save_path",
        in_help=False,
    ),
    Binding(
        "Ctrl+Shift+R",
        "render the path to a video, in the background",
        action="render",
        brief="render the camera path to a video",
    ),
    Binding("M", "show / hide the minimap", action="minimap", in_help=False),
    Binding("I", "show / hide the memory inspector", action="inspector", in_help=False),
    Binding("T", "show / hide the camera path strip", action="path_strip"),
    Binding("Ctrl+O", "open a photo", action="open_photo"),
    Binding("Ctrl+Shift+O", "open a saved world", action="open_world", in_help=False),
    Binding("Ctrl+S", "save the world", action="save_world"),
    Binding(
        "Ctrl+Z",
        "undo the last segment or erase (the latest 8 are kept)",
        action="undo",
        brief="undo the last segment or erase",
    ),
    Binding("Ctrl+,", "settings", action="settings", in_help=False),
    Binding(
        "F12",
        "screenshot of the viewport (PNG in your home folder)",
        action="screenshot",
        brief="screenshot",
    ),
    Binding("Ctrl+Q", "quit", action="quit", in_help=False),
    Binding("F1", "this list, over the viewport", action="help", brief="this help"),
)


def binding(action: str) -> Binding:
    """The binding of a window action (KeyError names the unknown action)."""
    for b in BINDINGS:
        if b.action == action:
            return b
    raise KeyError(f"no key binding for the action {action!r}")


def help_rows() -> list[tuple[str, str]]:
    """(keys, text) of the help overlay."""
    return [(b.keys, b.brief or b.does) for b in BINDINGS if b.in_help]


def markdown_table() -> str:
    """The README's table of controls."""
    rows = ["| key | does |", "| --- | --- |"]
    rows += [f"| {b.keys} | {b.does} |" for b in BINDINGS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
