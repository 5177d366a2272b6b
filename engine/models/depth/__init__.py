"""Depth of one photo: rgb (3, H, W) in [0, 1] -> camera-frame z (H, W) in scene units.

The `DepthEstimator` protocol is what the world and the benchmarks see. Implementations:

- `EmbeddedDepth`: a geometric prior for a photo taken at eye level (a box room / street
  canyon around the camera), plus a sky guess from colour, refined by a small shipped network
  (engine.models.depth_net, assets/models/depth-embedded.safetensors) when its weights are
  there. No download.
- `FileDepth`: depth given with the photo (16-bit PNG, .npy, .exr), see `load_depth_file`.
- `TransformersDepth`: a transformers depth-estimation model (Depth Anything V2 and the like)
  from a local folder or the Hugging Face cache; relative outputs become depth by the policy
  written in its docstring.

Depth conventions (those of engine.memory's lift / update, so a result can be passed on):
depth is camera-frame z (not ray length); > 0 and finite where the geometry is known;
0 marks a pixel whose depth is unknown (only file depth produces it); +inf marks the sky in
file depth. `DepthResult.sky` is the sky mask where the estimator has one.

`depth_metrics` scores a prediction against ground truth after median scaling.

The package: `base` (the result, the protocol, the input check), `embedded` (EmbeddedDepth
and the colour sky mask), `files` (depth files), `transformers_backend` (TransformersDepth),
`metrics` (depth_metrics); everything is importable from here.
"""

from engine.models.depth.base import DepthEstimator, DepthFileError, DepthResult, check_rgb_image
from engine.models.depth.embedded import DEPTH_NET_WEIGHTS, EmbeddedDepth, sky_mask
from engine.models.depth.files import FileDepth, load_depth_file
from engine.models.depth.metrics import depth_metrics
from engine.models.depth.transformers_backend import METRIC_MODEL_TYPES, TransformersDepth

__all__ = [
    "DEPTH_NET_WEIGHTS",
    "METRIC_MODEL_TYPES",
    "DepthEstimator",
    "DepthFileError",
    "DepthResult",
    "EmbeddedDepth",
    "FileDepth",
    "TransformersDepth",
    "check_rgb_image",
    "depth_metrics",
    "load_depth_file",
    "sky_mask",
]
