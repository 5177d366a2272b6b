"""Generators: complete the holes of memory readouts in latent space.

The `Generator` protocol is what the world loop sees. Given the readouts of one segment
(latent (T, C, h, w) zero at holes, known (T, h, w), depth (T, h, w)) and a
`GenerationContext` (exemplar latents from the memory and earlier frames, a seed, a per-step
callback and a cancel flag), `fill` returns the completed latents (T, C, h, w): every known
token is returned bit for bit, only the holes are generated.

Implementations here:

- `ExemplarGenerator` ("exemplar"): exemplar-based completion (Wexler, Shechtman and Irani
  2007; the nearest-neighbour field of PatchMatch, Barnes et al. 2009) in latent space,
  coarse to fine. No weights; deterministic for a seed. See its docstring. Its vote
  averages latents, which decode to a flat field where much is unseen.

The default, "embedded", is guided latent quilting (engine.models.quilt), which copies and
never averages.

`inpaint_depth` gives the generated tokens a depth (background-biased, see there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor


class GenerationCancelled(Exception):
    """Raised by a generator when the context's cancel flag is set between two steps."""


@dataclass
class GeneratorStep:
    """What the per-step callback receives."""

    frame: int  # index in the segment, 0-based
    frames: int  # frames in the segment
    step: int  # step within the frame, 1-based
    steps: int  # steps per frame
    holes: int  # hole tokens of this frame


@dataclass
class GenerationContext:
    """Everything a generator may use beyond the readouts.

    exemplars: latents (C, h', w') whose tokens the embedded generator may copy: the seed
    frame, earlier frames, the memory seen from nearby cameras. Any size; every token of an
    exemplar counts as valid. The frames completed earlier in the same call are added to it.
    exemplar_masks: one (h', w') bool per exemplar (or None for all valid), same order.
    seed: makes the output reproducible; the same inputs and seed give the same output.
    callback: called after each step with a GeneratorStep (previews, progress bars).
    cancel: polled between steps; when it returns True, fill raises GenerationCancelled.
    guide, exemplar_guides: per-token guidance features (the layout's surface class, the
    elevation of the ray) of the frames and of each exemplar; a generator that matches
    tokens (engine.models.quilt) copies tokens whose guide agrees. Others ignore them.
    """

    exemplars: Sequence[Tensor] = ()
    exemplar_masks: Sequence[Tensor | None] | None = None
    seed: int = 0
    callback: Callable[[GeneratorStep], None] | None = None
    cancel: Callable[[], bool] | None = None
    notes: list[str] = field(default_factory=list)  # what the generator did, for the UI
    guide: Tensor | None = None  # (T, G, h, w) per-token features of the frames to match
    exemplar_guides: Sequence[Tensor | None] | None = None  # (G, h', w') per exemplar


@runtime_checkable
class Generator(Protocol):
    """Fills the holes of latent readouts, keeping the known tokens."""

    name: str

    def fill(
        self, latent: Tensor, known: Tensor, depth: Tensor, context: GenerationContext
    ) -> Tensor:
        """latent (T, C, h, w) float32, known (T, h, w) bool, depth (T, h, w) float32 ->
        completed latent (T, C, h, w) float32, equal to `latent` where `known`."""
        ...


def check_readouts(latent: Tensor, known: Tensor, depth: Tensor, caller: str) -> None:
    """Raise ValueError unless latent (T, C, h, w) float32, known (T, h, w) bool and
    depth (T, h, w) agree."""
    if not all(isinstance(x, Tensor) for x in (latent, known, depth)):
        raise ValueError(f"{caller} expects torch tensors for latent, known and depth")
    if latent.ndim != 4 or 0 in latent.shape:
        raise ValueError(f"{caller} expects latent (T, C, h, w), got {tuple(latent.shape)}")
    if latent.dtype != torch.float32:
        raise ValueError(f"{caller} expects a float32 latent, got {latent.dtype}")
    t, _, h, w = latent.shape
    if tuple(known.shape) != (t, h, w) or known.dtype != torch.bool:
        raise ValueError(
            f"{caller} expects known (T, h, w) = {(t, h, w)} bool, "
            f"got {tuple(known.shape)} {known.dtype}"
        )
    if tuple(depth.shape) != (t, h, w):
        raise ValueError(
            f"{caller} expects depth (T, h, w) = {(t, h, w)}, got {tuple(depth.shape)}"
        )
    if not bool(torch.isfinite(latent[known[:, None].expand_as(latent)]).all()):
        raise ValueError(f"{caller}: the known latent tokens must be finite")


# --------------------------------------------------------------------------- pyramids


def masked_downsample(x: Tensor, mask: Tensor, min_valid: int = 2) -> tuple[Tensor, Tensor]:
    """x (C, h, w), mask (h, w) bool -> the mean of the valid tokens of each 2x2 block
    (C, ceil(h/2), ceil(w/2)) and whether the block had at least `min_valid` valid tokens."""
    m = mask[None, None].float()
    pad = (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)
    total = F.avg_pool2d(F.pad(x[None] * m, pad), 2, divisor_override=1)
    count = F.avg_pool2d(F.pad(m, pad), 2, divisor_override=1)
    mean = total / count.clamp(min=1.0)
    return mean[0], count[0, 0] >= min_valid - 0.5


def push_pull(x: Tensor, mask: Tensor) -> Tensor:
    """Smooth fill of the invalid tokens of x (C, h, w) from the valid ones (mask (h, w)):
    a mask-weighted pyramid down to 1x1, then back up, each level filling its holes from
    the bilinear upsampling of the level below. Valid tokens are kept; with no valid token
    at all the result is zero."""
    if bool(mask.all()):
        return x.clone()
    if not bool(mask.any()):
        return torch.zeros_like(x)
    h, w = mask.shape
    if h == 1 and w == 1:
        return x.clone()
    coarse = push_pull(*masked_downsample(x, mask, min_valid=1))
    up = F.interpolate(coarse[None], scale_factor=2, mode="bilinear", align_corners=False)
    up = up[0, :, :h, :w]
    return torch.where(mask[None], x, up)


def distance_to(mask: Tensor, limit: int | None = None) -> Tensor:
    """Chessboard distance (h, w) float32 of every token to the nearest True of mask (h, w)
    bool; h + w where there is none. With `limit`, distances of `limit` or more are
    `limit`."""
    h, w = mask.shape
    far = float(h + w if limit is None else limit)
    if not bool(mask.any()):
        return torch.full((h, w), far)
    dist = torch.where(mask, 0.0, far)
    grown = mask[None, None].float()
    for d in range(1, int(far)):
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        new = (grown[0, 0] > 0) & (dist == far)
        if not bool(new.any()):
            break
        dist[new] = float(d)
    return dist


# --------------------------------------------------------------------------- embedded


@dataclass
class _Sources:
    """The source patches (N, D) of one level, and for the approximate search their
    principal subspace: `basis` (D, d), the d directions of largest variance of (a strided
    sample of at most 1024 of) the patches, `mean` (D,), `projected` (N, d) the centred
    patches in it and `norms` (N,) their squared lengths. Latent patches of one scene are
    strongly correlated (neighbouring tokens, channels that move together), so 16 of the
    C k^2 = 200 dimensions hold most of their spread: the `candidates` nearest in the
    subspace almost always include the exact nearest, and the exact weighted distance picks
    among them (tests/engine/test_generator.py measures how often on the room scene).
    Without a basis (search_dims 0, or no fewer dimensions than D) the search is exact."""

    patches: Tensor
    candidates: int = 1
    mean: Tensor | None = None
    basis: Tensor | None = None
    projected: Tensor | None = None
    norms: Tensor | None = None
    squares_and_patches: Tensor | None = None  # (N, 2 D): [patches^2, patches]

    @classmethod
    def index(cls, patches: Tensor, dims: int, candidates: int) -> _Sources:
        n, d_full = patches.shape
        if dims == 0 or dims >= d_full or candidates >= n:
            return cls(patches)
        sample = patches[:: max(1, n // 1024)]
        mean = sample.mean(dim=0)
        centred = sample - mean
        _, vectors = torch.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
        basis = vectors[:, -dims:].contiguous()
        projected = (patches - mean) @ basis
        norms = (projected * projected).sum(dim=1)
        both = torch.cat([patches * patches, patches], dim=1)
        return cls(patches, candidates, mean, basis, projected, norms, both)


class ExemplarGenerator:
    """Exemplar-based latent completion, coarse to fine. No weights, no download.

    For each frame of the segment, in order:

    1. Sources: every k x k latent patch (k = `patch`) that lies wholly on valid tokens of
       the frame's known region or of an exemplar (the context's exemplars and the frames
       completed before it), at most `max_sources` of them (a seeded random subset when
       there are more). So generated content is made of what the scene already holds.
    2. A pyramid of the frame and of the sources, halving until the shorter side would
       drop below 2 k (at most `levels` levels). At the coarsest level the holes start as a
       smooth push-pull fill of the known tokens near them and as random source tokens
       farther away (see `_start`).
    3. At each level, `iterations` times: for every target patch (centred on a hole or
       within k // 2 of one) the nearest source patch in squared distance over the target's
       known and already-filled tokens (filled ones weigh `fill_weight`, outside the image
       0); then each hole token becomes the mean of what the overlapping matched patches
       say it is (the coherence vote of Wexler et al.). Known tokens never change. The very
       last step copies instead of voting: each hole token becomes the centre token of its
       own best patch (no blur in the decoded frame).
    4. The result is upsampled (bilinear) to start the holes of the next finer level.

    The search: with `search_dims` > 0 the `candidates` nearest sources in the sources'
    principal subspace of `search_dims` dimensions (one small matrix product and a top-k),
    then the exact weighted distance among them (see `_Sources`); at the coarser levels,
    and everywhere with `search_dims=0`, exactly (two matrix products over all C k^2
    dimensions). A search compares at most about `max_pairs` (target, source) pairs in the
    subspace, or an eighth of that exactly (a pair costs about 8 times more there): a frame
    with many targets searches an evenly strided subset of the sources. So a frame that is
    mostly hole costs about as much as a frame that is a little hole plus a constant, and
    the frame rate holds while the camera turns into the unknown.

    Cost: a 64x48 frame with C = 8, k = 5 takes 20-25 ms with a few holes and about 60 ms
    when all of it is hole, on a 2-core CPU. Deterministic: same inputs and seed, same
    output (on the same machine).
    """

    name = "exemplar"

    def __init__(
        self,
        patch: int = 5,
        levels: int = 3,
        iterations: int = 2,
        max_sources: int = 4096,
        fill_weight: float = 0.5,
        chunk: int = 1024,
        search_dims: int = 16,
        candidates: int = 8,
        max_pairs: int = 2**22,
    ) -> None:
        if patch < 1 or patch % 2 == 0:
            raise ValueError(f"patch must be an odd number >= 1, got {patch}")
        if min(levels, iterations, max_sources, chunk, candidates, max_pairs) < 1:
            raise ValueError(
                "levels, iterations, max_sources, chunk, candidates and max_pairs must be >= 1"
            )
        if not 0.0 < fill_weight <= 1.0:
            raise ValueError(f"fill_weight must be in (0, 1], got {fill_weight}")
        if search_dims < 0:
            raise ValueError(f"search_dims must be >= 0 (0: exact search), got {search_dims}")
        self.patch = patch
        self.levels = levels
        self.iterations = iterations
        self.max_sources = max_sources
        self.fill_weight = float(fill_weight)
        self.chunk = chunk
        self.search_dims = search_dims
        self.candidates = candidates
        self.max_pairs = max_pairs

    def fill(
        self, latent: Tensor, known: Tensor, depth: Tensor, context: GenerationContext
    ) -> Tensor:
        check_readouts(latent, known, depth, caller="ExemplarGenerator.fill")
        t, c, h, w = latent.shape
        exemplars, masks = self._exemplars(context, c)
        gen = torch.Generator().manual_seed(int(context.seed))
        out = torch.where(known[:, None], latent, 0.0)
        steps = self.levels * self.iterations
        for i in range(t):
            holes = int((~known[i]).sum())
            if holes:
                if not bool(known[i].any()) and not exemplars:
                    context.notes.append(
                        f"frame {i}: nothing known and no exemplars: its holes stay zero"
                    )
                else:
                    out[i] = self._fill_frame(
                        out[i], known[i], exemplars, masks, gen, context, i, t
                    )
            elif context.callback is not None:
                context.callback(GeneratorStep(i, t, steps, steps, 0))
            exemplars.append(out[i])
            masks.append(torch.ones(h, w, dtype=torch.bool))
        return out

    # ---- pieces

    def _exemplars(self, context: GenerationContext, channels: int):
        exemplars = list(context.exemplars)
        given = context.exemplar_masks
        masks: list[Tensor | None] = [None] * len(exemplars) if given is None else list(given)
        if len(masks) != len(exemplars):
            raise ValueError(
                f"{len(exemplars)} exemplars but {len(masks)} exemplar masks: give one per exemplar"
            )
        for j, (x, m) in enumerate(zip(exemplars, masks)):
            if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[0] != channels:
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"exemplar {j} must be a latent ({channels}, h, w), got {shape}")
            if m is not None and tuple(m.shape) != tuple(x.shape[1:]):
                raise ValueError(
                    f"exemplar mask {j} has shape {tuple(m.shape)}, "
                    f"its exemplar {tuple(x.shape[1:])}"
                )
        exemplars = [x.float() for x in exemplars]
        masks = [
            torch.ones(x.shape[1:], dtype=torch.bool) if m is None else m.bool()
            for x, m in zip(exemplars, masks)
        ]
        return exemplars, masks

    def _fill_frame(self, x, known, exemplars, masks, gen, context, index, frames):
        k = self.patch
        # pyramids: level 0 is full size
        frame_levels = [(x, known)]
        source_levels = [list(zip(exemplars, masks))]
        while len(frame_levels) < self.levels and min(frame_levels[-1][1].shape) >= 4 * k:
            fx, fm = frame_levels[-1]
            frame_levels.append(masked_downsample(fx, fm))
            source_levels.append(
                [
                    masked_downsample(sx, sm)
                    for sx, sm in source_levels[-1]
                    if min(sx.shape[1:]) >= 2 * k
                ]
            )
        steps = len(frame_levels) * self.iterations
        step = 0
        estimate = None
        holes = int((~known).sum())
        for level in reversed(range(len(frame_levels))):
            fx, fm = frame_levels[level]
            # the subspace search at the finest level only: at the coarser ones the holes
            # start as noise, whose nearest patch in a principal subspace is a bland one
            dims = self.search_dims if level == 0 else 0
            sources = self._source_patches([(fx, fm), *source_levels[level]], gen, dims)
            if estimate is None:
                estimate = self._start(fx, fm, sources, gen)
            else:
                up = F.interpolate(
                    estimate[None], size=fm.shape, mode="bilinear", align_corners=False
                )
                estimate = torch.where(fm[None], fx, up[0])
            for _ in range(self.iterations):
                if context.cancel is not None and context.cancel():
                    raise GenerationCancelled(f"cancelled at frame {index + 1} of {frames}")
                if sources is not None:
                    last = level == 0 and step + 1 == steps
                    estimate = self._em_step(estimate, fm, sources, copy=last)
                step += 1
                if context.callback is not None:
                    context.callback(GeneratorStep(index, frames, step, steps, holes))
        return torch.where(known[None], x, estimate)

    def _start(self, x: Tensor, known: Tensor, sources: _Sources | None, gen) -> Tensor:
        """Holes of the coarsest level before the first search: a mosaic of whole random
        source patches, k x k tiles side by side (the random start of PatchMatch, as
        tiles: random single tokens would be noise, whose nearest patch is the blandest
        source, and the bland fill then feeds the next frames), except within `patch`
        tokens of the known region, where the push-pull fill of the known tokens gives the
        search its bearing."""
        smooth = push_pull(x, known)
        if sources is None:
            return smooth
        c, h, w = x.shape
        k = self.patch
        rows, cols = -(-h // k), -(-w // k)
        pick = torch.randint(sources.patches.shape[0], (rows * cols,), generator=gen)
        tiles = sources.patches[pick].reshape(rows, cols, c, k, k)
        mosaic = tiles.permute(2, 0, 3, 1, 4).reshape(c, rows * k, cols * k)[:, :h, :w]
        near = F.max_pool2d(known[None, None].float(), 2 * k + 1, stride=1, padding=k)[0, 0] > 0
        return torch.where(known[None], x, torch.where(near[None], smooth, mosaic))

    def _source_patches(self, images, gen, dims: int = 0) -> _Sources | None:
        """(N, C k^2) patches lying wholly on valid tokens of `images` [(x, mask), ...],
        indexed for the search."""
        k = self.patch
        rows = []
        for x, m in images:
            if min(m.shape) < k:
                continue
            patches = F.unfold(x[None], k)[0].T  # (n, C k^2), no padding: inside only
            whole = F.unfold(m[None, None].float(), k)[0].min(0).values > 0.5
            rows.append(patches[whole])
        if not rows:
            return None
        sources = torch.cat(rows)
        if sources.shape[0] == 0:
            return None
        if sources.shape[0] > self.max_sources:
            pick = torch.randperm(sources.shape[0], generator=gen)[: self.max_sources]
            sources = sources[pick.sort().values]
        return _Sources.index(sources.contiguous(), dims, self.candidates)

    def _nearest(self, targets: Tensor, weights: Tensor, sources: _Sources) -> Tensor:
        """Index of the source patch nearest to each target (n, D) in the weighted squared
        distance sum_i w_i (t_i - s_i)^2 (weights (n, D)). Exact by two matrix products, or,
        when the sources carry a principal subspace, the exact best of the `candidates`
        nearest in that subspace (see _Sources); over the sources strided to keep within
        the pair budget (class docstring)."""
        src = sources.patches
        best = torch.empty(targets.shape[0], dtype=torch.long)
        n = targets.shape[0]
        if sources.basis is None:
            # a pair costs 2 D multiply-adds here, about 8 times a subspace pair
            stride = max(1, math.ceil(n * src.shape[0] / (self.max_pairs // 8 or 1)))
            s = src[::stride]
            s2 = (s * s).T  # (D, N / stride)
            for a in range(0, n, self.chunk):
                t, w = targets[a : a + self.chunk], weights[a : a + self.chunk]
                # sum_i w_i (t_i - s_i)^2 without the constant sum_i w_i t_i^2
                d = w @ s2 - 2.0 * ((t * w) @ s.T)
                best[a : a + self.chunk] = d.argmin(dim=1) * stride
            return best
        # index() sets these with the basis
        assert sources.mean is not None and sources.projected is not None
        assert sources.norms is not None and sources.squares_and_patches is not None
        # a target's tokens outside the image (weight 0) take the sources' mean, so they add
        # nothing to the projected distance
        filled = torch.where(weights > 0, targets, sources.mean)
        query = (filled - sources.mean) @ sources.basis  # (n, d)
        stride = max(1, math.ceil(n * src.shape[0] / self.max_pairs))
        projected, norms = sources.projected[::stride], sources.norms[::stride][None]
        k = min(sources.candidates, projected.shape[0])
        for a in range(0, n, self.chunk):
            d = torch.addmm(norms, query[a : a + self.chunk], projected.T, alpha=-2.0)
            cand = d.topk(k, dim=1, largest=False).indices * stride  # (m, K)
            # sum_i w_i (s_i^2 - 2 t_i s_i): the exact distance without sum_i w_i t_i^2, one
            # batched product with the candidates' [s^2, s] rows
            w = weights[a : a + self.chunk]
            v = torch.cat([w, -2.0 * w * targets[a : a + self.chunk]], dim=1)[:, :, None]
            exact = torch.bmm(sources.squares_and_patches[cand], v)[:, :, 0]  # (m, K)
            best[a : a + self.chunk] = cand.gather(1, exact.argmin(1, keepdim=True))[:, 0]
        return best

    def _em_step(
        self, estimate: Tensor, known: Tensor, sources: _Sources, copy: bool = False
    ) -> Tensor:
        """One search + vote at one level (step 3 of the class docstring); copy=True (the
        last step) gives each hole token the centre of its own best patch instead of the
        vote, so no token is an average of several (which would blur the decoded frame)."""
        k, r = self.patch, self.patch // 2
        c, h, w = estimate.shape
        holes = ~known
        # targets: tokens within r of a hole
        near = F.max_pool2d(holes[None, None].float(), k, stride=1, padding=r)[0, 0] > 0
        index = near.flatten().nonzero()[:, 0]
        patches = F.unfold(estimate[None], k, padding=r)[0]  # (C k^2, h w)
        inside = F.unfold(torch.ones(1, 1, h, w), k, padding=r)[0]  # (k^2, h w)
        token_w = torch.where(known, 1.0, self.fill_weight)
        weight = F.unfold(token_w[None, None], k, padding=r)[0] * inside  # (k^2, h w)
        targets = patches[:, index].T  # (n, C k^2)
        weights = weight[:, index].T.repeat(1, c)  # (n, C k^2), channel-major like unfold
        best = self._nearest(targets, weights, sources)
        src = sources.patches
        if copy:
            centre = src[best].reshape(-1, c, k * k)[:, :, (k * k) // 2]  # (n, C)
            out = estimate.reshape(c, h * w).clone()
            out[:, index] = centre.T
            return torch.where(holes[None], out.reshape(c, h, w), estimate)
        matched = torch.zeros(c * k * k, h * w)
        matched[:, index] = src[best].T
        cover = torch.zeros(1 * k * k, h * w)
        cover[:, index] = 1.0
        total = F.fold(matched[None], (h, w), k, padding=r)[0]  # (C, h, w)
        count = F.fold(cover[None], (h, w), k, padding=r)[0]  # (1, h, w)
        voted = total / count.clamp(min=1e-6)
        return torch.where(holes[None] & (count > 0), voted, estimate)


# --------------------------------------------------------------------------- depth

EDGE_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (dy, dx) of the 4 neighbours


def _shift(x: Tensor, dy: int, dx: int, fill: float) -> Tensor:
    """y[i, j] = x[i + dy, j + dx], `fill` outside the image."""
    h, w = x.shape
    out = torch.full_like(x, fill)
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[yd, xd] = x[ys, xs]
    return out


def inpaint_depth(
    depth: Tensor,
    known: Tensor,
    edge: float = 0.15,
    iterations: int = 100,
    default: float = 3.0,
) -> Tensor:
    """Depth for generated tokens: depth (h, w), valid (finite, > 0) where `known` ->
    depth (h, w) finite and > 0 at every token but known sky (+inf, kept).

    Background-biased: what a camera move reveals (a disocclusion) is what was behind the
    occluder, so a hole is filled from its far side only. In inverse depth u = 1 / depth a
    plane seen in perspective is linear across the image, so:

    - a valid token p is the near side of a depth edge when, for one of its 4 neighbours q,
      u(q) < u_pred - edge u(p), with u_pred = 2 u(p) - u(p - (q - p)) the plane's
      continuation from the token behind p (u(p) when that one is not valid): q is much
      farther than the surface through p goes;
    - the rim of a hole is its valid 8-neighbours; a rim token is an *occluder* when it is
      the near side of an edge, or (flood fill along the rim) when it is next to an occluder
      rim token whose u is within `edge` u of its own: the occluder's whole edge along the
      hole;
    - the hole takes the harmonic (smoothest) interpolation of u from the other valid tokens,
      with no flux through occluder tokens and the image border (coarse to fine: push-pull,
      then `iterations` Jacobi sweeps per level). Harmonic in u continues planes (floors,
      walls) through holes exactly. At the image border there is no flux, which is exact
      for a surface facing the camera but bends a slanted one toward the hole's mean near
      the hole's corners: a 4-token strip of floor at the right border comes out 5% off on
      average and 36% off in its top corner (tests/engine/test_generator.py).

    What it cannot see: an occluder whose edge along the hole never meets visible
    background (a pillar crossing the whole image) is not recognised and is blended in.
    Tokens with depth +inf (sky) are never sources; with no source at all the holes get
    `default`.
    """
    if depth.ndim != 2 or tuple(known.shape) != tuple(depth.shape):
        raise ValueError(
            f"inpaint_depth expects depth (h, w) and known (h, w), "
            f"got {tuple(depth.shape)} and {tuple(known.shape)}"
        )
    depth = depth.float()
    valid = known & torch.isfinite(depth) & (depth > 0)
    sky = known & (depth == math.inf)
    fill = ~valid & ~sky
    if not bool(fill.any()):
        return depth.clone()
    if not bool(valid.any()):
        return torch.where(fill, torch.full_like(depth, default), depth)
    u = torch.where(valid, 1.0 / depth.clamp(min=1e-6), math.nan)

    near_side = torch.zeros_like(valid)
    for dy, dx in EDGE_STEPS:
        q = _shift(u, dy, dx, math.nan)
        behind = _shift(u, -dy, -dx, math.nan)
        pred = torch.where(torch.isfinite(behind), 2 * u - behind, u)
        near_side |= valid & torch.isfinite(q) & (q < pred - edge * u)

    rim = valid & (F.max_pool2d(fill[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0)
    occluder = rim & near_side
    # for each of the 8 neighbour steps: is that neighbour's u within `edge` of this one's
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    similar = [(_shift(u, dy, dx, math.nan) - u).abs() <= edge * u for dy, dx in steps]
    for _ in range(sum(depth.shape)):  # flood fill along the rim
        grow = torch.zeros_like(occluder)
        for (dy, dx), near in zip(steps, similar):
            grow |= _shift(occluder, dy, dx, False) & near
        grow &= rim & ~occluder
        if not bool(grow.any()):
            break
        occluder |= grow

    source = valid & ~occluder
    if not bool(source.any()):
        return torch.where(fill, torch.full_like(depth, default), depth)
    values = torch.where(source, u, 0.0)
    solved = _harmonic(values, source, fill | source, iterations)
    # a harmonic function takes no values beyond its sources' (the maximum principle); the
    # clamp holds that where the sweeps have not converged or no source is reachable
    solved = solved.clamp(float(u[source].min()), float(u[source].max()))
    return torch.where(fill, 1.0 / solved, depth)


def _neighbour_sum(x: Tensor) -> Tensor:
    """Sum of the 4 neighbours of each token of x (h, w), 0 outside the image (slices, not
    a convolution: on a few thousand tokens the elementwise adds are far cheaper)."""
    p = F.pad(x[None], (1, 1, 1, 1))[0]
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]


def _harmonic(values: Tensor, fixed: Tensor, present: Tensor, iterations: int) -> Tensor:
    """Smooth interpolation of values (h, w) from the tokens where `fixed`, over the tokens
    where `present` (the others are walls: no flux through them): a start from the level
    below (push-pull at the coarsest), then Jacobi sweeps of the mean of the present
    4-neighbours."""
    h, w = values.shape
    if min(h, w) >= 8:
        # a coarse token is a wall when any of its 2x2 tokens is one, so no flux leaks
        # around a thin wall at the coarse levels
        wall = (
            F.max_pool2d(F.pad((~present)[None, None].float(), (0, w % 2, 0, h % 2)), 2)[0, 0] > 0
        )
        coarse_v, coarse_f = masked_downsample(values[None], fixed, min_valid=1)
        coarse_f &= ~wall
        coarse = _harmonic(coarse_v[0], coarse_f, ~wall, iterations)
        start = F.interpolate(coarse[None, None], size=(h, w), mode="bilinear", align_corners=False)
        x = torch.where(fixed, values, start[0, 0])
        smooth = None
    else:
        x = smooth = push_pull(values[None], fixed)[0]
    a = present.float()
    count = _neighbour_sum(a)
    free = present & ~fixed & (count > 0)
    inv_count = 1.0 / count.clamp(min=1)
    for _ in range(iterations):
        x = torch.where(free, _neighbour_sum(x * a) * inv_count, x)
    if bool(present.all()):
        return x
    # walls hold the smooth fill, so the next finer level interpolates sensible values
    if smooth is None:
        smooth = push_pull(values[None], fixed)[0]
    return torch.where(present, x, smooth)
