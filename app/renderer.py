"""The viewport's drawing, free of any window: a moderngl context in, pixels out.

`FrameRenderer` draws the latest engine frame (a `ViewFrame`: numpy arrays, never tensors)
into whatever framebuffer is bound, through the program in shaders/frame.glsl: as it is, or
reprojected by its depth to the camera the user has moved to since (timewarp), with an
overlay when asked (the generated tokens tinted, or the depth). The viewport and the tests
give it a headless context (`offscreen_context`, EGL) and read the pixels back
(`render_offscreen` for tests and screenshots).

Conventions: poses are camera-to-world 4x4 (OpenCV axes: +x right, +y down, +z forward),
intrinsics in pixels of the frame; images are (H, W, 3) uint8, row 0 at the top.
"""

from __future__ import annotations

import re

import moderngl
import numpy as np

from engine.assets import SHADERS
from engine.messages import ViewFrame

# what the viewport can lay over the frame (F cycles through them): nothing, the tokens
# generated for this frame tinted, the frame's depth (near warm and bright, far cool)
OVERLAYS = ("none", "generated", "depth")


def load_program_source(name: str) -> tuple[str, str]:
    """(vertex, fragment) sources of shaders/<name>.glsl: one file, two sections selected by
    `#if defined VERTEX_SHADER` / `#elif defined FRAGMENT_SHADER`."""
    path = SHADERS / f"{name}.glsl"
    if not path.is_file():
        raise FileNotFoundError(f"no shader program {name!r} at {path}")
    text = path.read_text()
    if not re.search(r"defined\s+VERTEX_SHADER", text) or "FRAGMENT_SHADER" not in text:
        raise ValueError(f"{path} needs VERTEX_SHADER and FRAGMENT_SHADER sections")
    head = "#version 330 core\n"
    return head + "#define VERTEX_SHADER\n" + text, head + "#define FRAGMENT_SHADER\n" + text


def corner_depths(depth: np.ndarray) -> np.ndarray:
    """Depth at the (h + 1, w + 1) corners of the latent tokens: the mean of the known
    tokens (depth > 0) that touch each corner, 0 where none does."""
    d = np.pad(depth, 1)
    known = (d > 0).astype(np.float32)
    total = d[:-1, :-1] + d[1:, :-1] + d[:-1, 1:] + d[1:, 1:]
    count = known[:-1, :-1] + known[1:, :-1] + known[:-1, 1:] + known[1:, 1:]
    return np.where(count > 0, total / np.maximum(count, 1), 0).astype(np.float32)


class FrameRenderer:
    """Draws ViewFrames with a moderngl context (see the module docstring)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        vertex, fragment = load_program_source("frame")
        self.program = ctx.program(vertex_shader=vertex, fragment_shader=fragment)
        self.frame: ViewFrame | None = None
        self.overlay = "none"  # one of OVERLAYS
        self.hole_tint = (1.0, 0.35, 0.8)
        self.far_depth = 1e3
        self.background = (0.08, 0.08, 0.09)  # where nothing is drawn (RGB in [0, 1])
        self._texture: moderngl.Texture | None = None
        self._holes: moderngl.Texture | None = None
        self._vao: moderngl.VertexArray | None = None
        self._buffers: list[moderngl.Buffer] = []
        self._grid: tuple[int, int] | None = None

    # ---- input

    def set_frame(self, frame: ViewFrame) -> None:
        """Upload a frame (texture, hole mask, the warp grid's depths)."""
        h, w, _ = frame.rgb.shape
        if self._texture is None or self._texture.size != (w, h):
            if self._texture is not None:
                self._texture.release()
            self._texture = self.ctx.texture((w, h), 3, dtype="f1")
            self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._texture.repeat_x = self._texture.repeat_y = False
        self._texture.write(frame.rgb.tobytes())
        lh, lw = frame.depth.shape
        if self._holes is None or self._holes.size != (lw, lh):
            if self._holes is not None:
                self._holes.release()
            self._holes = self.ctx.texture((lw, lh), 1, dtype="f1")
            self._holes.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._holes.write((frame.holes.astype(np.uint8) * 255).tobytes())
        self._upload_grid(corner_depths(frame.depth))
        p = self.program
        p["size"].value = (float(w), float(h))
        p["K"].write(frame.K.T.astype("f4").tobytes())  # GLSL matrices are column-major
        p["K_inv"].write(np.linalg.inv(frame.K).T.astype("f4").tobytes())
        known = frame.depth[frame.depth > 0]
        p["near_depth"].value = float(np.percentile(known, 2)) if known.size else 1.0
        self.frame = frame

    def _upload_grid(self, corners: np.ndarray) -> None:
        gh, gw = corners.shape  # (h + 1, w + 1)
        if self._grid != (gh, gw):
            for b in self._buffers:
                b.release()
            if self._vao is not None:
                self._vao.release()
            v, u = np.meshgrid(np.linspace(0, 1, gh), np.linspace(0, 1, gw), indexing="ij")
            uv = np.stack([u, v], -1).astype("f4").reshape(-1, 2)
            idx = np.arange(gh * gw, dtype="i4").reshape(gh, gw)
            a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
            c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
            tris = np.stack([a, b, c, b, d, c], 1).astype("i4")
            uv_buf = self.ctx.buffer(uv.tobytes())
            self._depth_buf = self.ctx.buffer(reserve=gh * gw * 4)
            index_buf = self.ctx.buffer(tris.tobytes())
            self._buffers = [uv_buf, self._depth_buf, index_buf]
            self._vao = self.ctx.vertex_array(
                self.program,
                [(uv_buf, "2f", "in_uv"), (self._depth_buf, "1f", "in_depth")],
                index_buffer=index_buf,
            )
            self._grid = (gh, gw)
        self._depth_buf.write(corners.astype("f4").tobytes())

    # ---- drawing

    def draw(
        self,
        view_pose: np.ndarray | None = None,
        background=None,
        clear: bool = True,
    ) -> None:
        """Draw into the bound framebuffer's viewport: the frame as it is, or reprojected to
        view_pose (camera-to-world 4x4) when given and different, on `background` (default
        self.background). clear=False leaves the clearing to the caller (the viewport
        clears once, then letterboxes)."""
        if clear:
            self.ctx.clear(*(background or self.background), 1.0, depth=1.0)
        if self.frame is None:
            return
        f = self.frame
        warp = view_pose is not None and not np.allclose(view_pose, f.pose, atol=1e-9)
        p = self.program
        p["warp"].value = bool(warp)
        p["far_depth"].value = float(self.far_depth)
        if warp:
            # frame camera -> world -> view camera
            rel = np.linalg.inv(np.asarray(view_pose, np.float64)) @ f.pose
        else:
            rel = np.eye(4)
        p["frame_to_view"].write(rel.T.astype("f4").tobytes())
        p["overlay"].value = OVERLAYS.index(self.overlay)
        p["hole_tint"].value = tuple(self.hole_tint)
        self._texture.use(location=0)
        self._holes.use(location=1)
        p["frame_tex"].value = 0
        p["holes_tex"].value = 1
        self.ctx.enable(moderngl.DEPTH_TEST)
        self._vao.render(moderngl.TRIANGLES)
        self.ctx.disable(moderngl.DEPTH_TEST)

    def release(self) -> None:
        for obj in [self._texture, self._holes, self._vao, *self._buffers, self.program]:
            if obj is not None:
                obj.release()
        self._texture = self._holes = self._vao = None
        self._buffers = []
        self._grid = None


def offscreen_context() -> moderngl.Context:
    """A headless OpenGL 3.3 context (EGL; Mesa's llvmpipe on a machine without a GPU)."""
    return moderngl.create_context(standalone=True, backend="egl", require=330)


def render_offscreen(
    renderer: FrameRenderer, size: tuple[int, int], view_pose: np.ndarray | None = None
) -> np.ndarray:
    """Draw into a (w, h) offscreen framebuffer and read it back: (h, w, 3) uint8, row 0 at
    the top."""
    ctx = renderer.ctx
    w, h = size
    fbo = ctx.framebuffer(
        color_attachments=[ctx.renderbuffer((w, h), 4)],
        depth_attachment=ctx.depth_renderbuffer((w, h)),
    )
    try:
        fbo.use()
        ctx.viewport = (0, 0, w, h)
        renderer.draw(view_pose)
        data = np.frombuffer(fbo.read(components=3, alignment=1), np.uint8)
    finally:
        for a in [*fbo.color_attachments, fbo.depth_attachment]:
            a.release()
        fbo.release()
    # GL rows start at the bottom
    return data.reshape(h, w, 3)[::-1].copy()
