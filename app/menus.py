"""The window's menu bar, declared as a table.

`menu_table(window)` lists each menu's items as (text, slot, binding): the binding names the
control in app.keys, which gives the shortcut (None: no shortcut); a list in place of the
slot is a submenu; None is a separator. `build_menus` makes the actions, adds them to the
window too (their shortcuts work while the menu bar is hidden) and returns them by binding
name, so the window can keep the checkable ones in step.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from app.keys import binding

CHECKABLE = ("generate", "record", "overlay")


def menu_table(w) -> list[tuple[str, list]]:
    """The menus of the MainWindow `w`."""
    from engine.scenes import list_scenes

    dock = w.path_dock
    samples = [(name, partial(w.open_source, name), None) for name in list_scenes()]
    return [
        (
            "&File",
            [
                ("&Open photo...", w.open_photo_dialog, "open_photo"),
                ("Open &world...", w.open_world_dialog, "open_world"),
                ("Open &sample scene", samples, None),
                ("&Save world...", w.save_world_dialog, "save_world"),
                None,
                ("Open camera pat&h...", dock.open_path_dialog, "open_path"),
                ("Save camera &path...", dock.save_path_dialog, "save_path"),
                ("&Render path to video...", w.renders.dialog, "render"),
                ("Render a &batch of paths...", w.batches.dialog, None),
                ("Screens&hot", w.screenshot, "screenshot"),
                None,
                ("&Quit", w.close, "quit"),
            ],
        ),
        (
            "&Edit",
            [
                ("&Undo last segment or erase", w.bridge.undo, "undo"),
                None,
                ("Se&ttings...", w.settings_dialog, "settings"),
            ],
        ),
        (
            "&World",
            [
                ("&Generate (start / pause)", w.toggle_generation, "generate"),
                ("Release mouse / &cancel segment", w.escape, "escape"),
            ],
        ),
        (
            "&Path",
            [
                ("&Record path", dock.toggle_recording, "record"),
                ("&Add keyframe at the view", dock.add_from_view, "add_keyframe"),
                ("&Update keyframe to the view", dock.update_from_view, "update_keyframe"),
                ("D&uplicate keyframe", dock.duplicate_selected, "duplicate_keyframe"),
                ("&Delete keyframe", dock.delete_selected, "delete_keyframe"),
                ("&Go to keyframe", lambda: dock.go_to(dock.editor.selected), "go_to_keyframe"),
                ("Pre&vious keyframe", lambda: dock.step(-1), "previous_keyframe"),
                ("&Next keyframe", lambda: dock.step(1), "next_keyframe"),
                ("&Play / pause preview", dock.toggle_play, "play"),
                ("Undo path &edit", dock.undo, "undo_path_edit"),
                ("&Clear path", dock.clear, None),
                ("Cancel &render", w.renders.cancel, None),
                ("Cancel &batch", w.batches.cancel, None),
            ],
        ),
        (
            "&View",
            [
                ("&Overlay (generated tokens / depth / none)", w.next_overlay, "overlay"),
                (
                    "&Capture mouse (Esc releases)",
                    lambda: w.viewport.set_captured(True),
                    "capture",
                ),
                None,
            ],
        ),
        ("&Help", [("&Controls", w.viewport.toggle_help, "help")]),
    ]


def build_menus(w) -> dict[str, QAction]:
    """The menu bar of the MainWindow `w`; its actions with a binding, by binding name."""
    actions: dict[str, QAction] = {}

    def add(menu, items) -> None:
        for item in items:
            if item is None:
                menu.addSeparator()
                continue
            text, slot, key = item
            if isinstance(slot, list):
                add(menu.addMenu(text), slot)
                continue
            action = QAction(text, w)
            if key is not None:
                action.setShortcuts([QKeySequence(k) for k in binding(key).shortcuts])
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                action.setCheckable(key in CHECKABLE)
                actions[key] = action
            action.triggered.connect(lambda _=False, slot=slot: slot())
            menu.addAction(action)
            w.addAction(action)  # shortcuts work while the menu bar is hidden too

    menus = {}
    for title, items in menu_table(w):
        menus[title] = w.menuBar().addMenu(title)
        add(menus[title], items)
    # the docks' own show / hide actions, with their shortcuts, then the log's
    view = menus["&View"]
    for dock, key in (
        ("minimap_dock", "minimap"),
        ("inspector_dock", "inspector"),
        ("path_dock_widget", "path_strip"),
    ):
        action = getattr(w, dock).toggleViewAction()
        action.setShortcuts([QKeySequence(k) for k in binding(key).shortcuts])
        view.addAction(action)
        w.addAction(action)
    view.addAction(w.log_dock.toggleViewAction())
    return actions
