"""Analytic synthetic scenes, ray-cast in torch for any Camera (no GL).

Used for tests, benchmarks and codec training: every view comes with exact depth, so a
memory readout can be checked against ground truth. Scenes are deterministic by seed.

Conventions are those of engine.camera (OpenCV axes: +x right, +y DOWN, +z forward). World
up is -y, so the floor of the room is the plane y = +1.5 and the ceiling y = -1.5.

Two scene kinds, each a class with `render(camera, time=0.0) -> SynthView`,
`sample_path(kind, n, ...)` and `clearance(point)`, built by a `<kind>_scene(seed)` function:

- `room_scene`: an interior room (8 wide in x, 3 high in y, 10 deep in z) whose far wall has a
  doorway, through a short passage (the wall thickness), into a second, smaller room; 4 to 6
  furniture boxes are placed by the seed along the side walls and in the back room, leaving a
  free corridor |x| < 1.6 where camera paths run. Nothing in it moves.
- `street_scene`: an exterior, a street along +z with a ground plane at y = +1.5 (road,
  markings, kerbs, pavements), rows of buildings with facade textures (windows, bricks,
  plaster) on both sides, closed by a building across each end, trees, planters and lamp
  posts on the pavements, a procedural sky (gradient, sun glow, soft clouds) where rays
  escape, and two cars that drive along their lanes as a function of time
  (`SynthView.dynamic` marks them).

`scene_by_name` builds the named scenes that the sample scenes on disk are made from.

Ray casting works on two kinds of boxes and, in the street, a ground plane:

- cells: the rooms and the passage, seen from inside. A ray leaves its cell through the
  nearest face (slab method, exit distance); if the exit point lies in a portal (the
  doorway) it carries on in the next cell, otherwise it has hit that wall.
- solids: furniture, buildings, cars, seen from outside (slab method, entry distance),
  nearest box wins; in the street a box is tested only against the pixels it covers.
- the ground (street only): the plane y = +1.5 seen from above, bounded by the street's
  `extent`; rays that meet neither ground nor box escape to the sky (depth +inf).

Every step is vectorised over all pixels (P = H * W rays); loops run only over the few
cells, portals, boxes and texture kinds. The slab helpers, textures and shading are shared by
the scene kinds.

Shading is world-anchored: the colour of a point depends only on its world position, the
face it lies on and a Lambert term of that face's normal (fixed lights, no shadows), so two
cameras that see the same surface point see the same colour. Moving objects carry their
texture with them (it is anchored to the object's own frame), and the sky's colour depends
only on the ray direction.

The package: `common` (constants, the data types, the box and texture tables), `rays` (ray
casting and lighting), `textures`, `sky` (the sky and the weathers), `room` and `street`
(the two scenes), `paths` (their sample paths); the public names are importable from here.
"""

from __future__ import annotations

from engine.synth.common import (
    CORRIDOR_HALF_WIDTH,
    FACE_NAMES,
    GROUND_Y,
    TEXTURE_KINDS,
    Box,
    Portal,
    SynthView,
    Texture,
)
from engine.synth.room import RoomScene, room_scene
from engine.synth.sky import WEATHERS, Weather, vary
from engine.synth.street import Mover, StreetScene, street_scene
from engine.synth.textures import BRICK_LENGTH, STOREY_HEIGHT

__all__ = [
    "BRICK_LENGTH",
    "CORRIDOR_HALF_WIDTH",
    "FACE_NAMES",
    "GROUND_Y",
    "SCENE_NAMES",
    "STOREY_HEIGHT",
    "TEXTURE_KINDS",
    "WEATHERS",
    "Box",
    "Mover",
    "Portal",
    "RoomScene",
    "StreetScene",
    "SynthView",
    "Texture",
    "Weather",
    "room_scene",
    "scene_by_name",
    "street_scene",
    "vary",
]


SCENE_NAMES = ("room", "room-2", "street")
"""The synthetic scenes `scene_by_name` knows; the sample scenes on disk are made from them."""


def scene_by_name(name: str) -> RoomScene | StreetScene:
    """The synthetic scene called `name`.

    "room": room_scene(0); "room-2": room_scene(1), the same two rooms with other wallpaper,
    floor and furniture; "street": street_scene(0).
    """
    if name == "room":
        return room_scene(0)
    if name == "room-2":
        return room_scene(1)
    if name == "street":
        return street_scene(0)
    raise ValueError(f"unknown synthetic scene {name!r}, expected one of {list(SCENE_NAMES)}")
