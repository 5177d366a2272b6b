"""The viewport's renderer on a headless EGL context: the shader compiles, the frame is drawn
as it is, the timewarp moves it as the camera geometry says, overlays touch only what they
mark."""

import numpy as np
import pytest

from app.renderer import (
    FrameRenderer,
    ViewFrame,
    corner_depths,
    load_program_source,
    render_offscreen,
)

pytestmark = pytest.mark.gl

H, W = 96, 128
FX = 83.0


def smooth_image():
    yy, xx = np.mgrid[0:H, 0:W]
    checks = ((xx // 16 + yy // 16) % 2) * 200
    return np.stack([xx * 255 // W, yy * 255 // H, checks], -1).astype(np.uint8)


def frame(rgb, depth=3.0, holes=None):
    K = np.array([[FX, 0, W / 2], [0, FX, H / 2], [0, 0, 1.0]])
    holes = np.zeros((H // 8, W // 8), bool) if holes is None else holes
    depth = np.broadcast_to(np.asarray(depth, np.float32), (H // 8, W // 8))
    return ViewFrame(rgb, depth, holes, K, np.eye(4))


def test_program_source_has_both_stages():
    vertex, fragment = load_program_source("frame")
    assert "#define VERTEX_SHADER" in vertex and "#define FRAGMENT_SHADER" in fragment
    with pytest.raises(FileNotFoundError, match="no shader program"):
        load_program_source("nonexistent")


def test_corner_depths_average_the_known_tokens_around_each_corner():
    depth = np.array([[1.0, 3.0], [0.0, 5.0]], np.float32)
    c = corner_depths(depth)
    assert c.shape == (3, 3)
    assert c[0, 0] == 1.0 and c[1, 1] == pytest.approx(3.0)  # (1 + 3 + 5) / 3, 0 unknown
    assert c[2, 0] == 0.0  # only the unknown token touches it
    assert c[0, 2] == 3.0 and c[2, 2] == 5.0


def test_shader_compiles_and_draws_the_frame_as_it_is(gl_context):
    r = FrameRenderer(gl_context)
    blank = render_offscreen(r, (W, H))
    assert (blank == blank[0, 0]).all()  # no frame yet: background only
    r.background = (1.0, 0.0, 1.0)  # what scripts/window_check.py counts as nothing drawn
    assert (render_offscreen(r, (W, H)) == [255, 0, 255]).all()
    r.background = (0.08, 0.08, 0.09)
    rgb = smooth_image()
    r.set_frame(frame(rgb))
    out = render_offscreen(r, (W, H))
    assert out.shape == (H, W, 3)
    assert np.abs(out.astype(int) - rgb).max() <= 1
    r.release()


def test_timewarp_shifts_the_view_by_the_parallax_of_the_depth(gl_context):
    r = FrameRenderer(gl_context)
    rgb = smooth_image()
    r.set_frame(frame(rgb, depth=3.0))
    pose = np.eye(4)
    pose[0, 3] = 0.2  # the camera moved right: a plane at depth 3 moves left on screen
    out = render_offscreen(r, (W, H), pose).astype(int)
    shift = FX * 0.2 / 3.0  # pixels
    errors = {s: np.abs(out[:, : W - s] - rgb[:, s:]).mean() for s in range(2, 10)}
    assert min(errors, key=errors.get) == round(shift)
    assert errors[round(shift)] < 3.0  # sub-pixel shift: checker edges interpolated
    # what the move uncovered at the right edge is background, not stretched frame
    assert np.abs(out[:, W - 2 :] - out[0, W - 1]).max() <= 1
    r.release()


def test_hole_overlay_tints_only_the_generated_tokens(gl_context):
    r = FrameRenderer(gl_context)
    rgb = smooth_image()
    holes = np.zeros((H // 8, W // 8), bool)
    holes[2:5, 3:7] = True
    r.set_frame(frame(rgb, holes=holes))
    r.overlay = "generated"
    out = render_offscreen(r, (W, H)).astype(int)
    pixel_holes = np.kron(holes, np.ones((8, 8), bool))
    changed = np.abs(out - rgb).max(axis=2) > 3
    assert changed[pixel_holes].mean() > 0.95
    assert not changed[~pixel_holes].any()
    r.release()


def test_bad_frames_are_refused():
    rgb = smooth_image()
    with pytest.raises(ValueError, match="uint8"):
        frame(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="alike"):
        ViewFrame(rgb, np.ones((12, 16)), np.zeros((12, 15), bool), np.eye(3), np.eye(4))


def test_depth_overlay_brightens_the_near_and_leaves_the_frame_otherwise(gl_context):
    r = FrameRenderer(gl_context)
    rgb = np.full((H, W, 3), 128, np.uint8)
    depth = np.full((H // 8, W // 8), 8.0, np.float32)
    depth[:, : W // 16] = 2.0  # the left half is near
    r.set_frame(frame(rgb, depth=depth))
    plain = render_offscreen(r, (W, H)).astype(int)
    r.overlay = "depth"
    out = render_offscreen(r, (W, H)).astype(int)
    r.overlay = "none"
    assert np.abs(render_offscreen(r, (W, H)).astype(int) - plain).max() == 0
    luma = out.mean(axis=2)
    # away from the edge between the halves, near is brighter than far
    assert luma[:, : W // 2 - 16].mean() > luma[:, W // 2 + 16 :].mean() + 40
    r.release()
