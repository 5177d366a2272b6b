"""Guided latent quilting: holes filled with whole token patches copied from the scene.

Averaging latents decodes to grey mush (a blend of two latents is not the latent of a blend
of two pictures), so this generator never averages: every generated token is a copy of a
token the scene holds (the photo, the frames made before, the known part of the frame
itself). It follows image quilting (Efros and Freeman 2001) in latent space, with the
guidance channels of image analogies (Hertzmann et al. 2001) that tell it *which* tokens
belong where:

1. Sources: every `block` x `block` window of the exemplars (and of the frame's known
   region) lying wholly on valid tokens, at most `max_sources` (a seeded subset).
2. Blocks: the frame is tiled with `block`-sized windows `step` tokens apart (they overlap
   by block - step). The windows holding a hole are visited nearest-to-the-known-region
   first (ties in a seeded random order), so the fill grows out of what is seen.
3. For each window, the cost of a source is the squared distance over the tokens the
   window already has (known ones weigh 1, ones filled before `filled_weight`) plus
   `guide_weight` times the squared distance of the guide channels over the window's hole
   tokens, plus `detail_weight` times how much blander the source is than the median
   source of its surface class (its tokens' squared deviation from their mean; scaled by
   the share of the window still to fill). Matching by squared distance favours bland
   patches (a flat patch continues a flat overlap exactly), so without that term a fill
   drifts to the blandest tokens of the scene: a wall grows smoother than the photo's, the
   texture facing away drops; against the class's own median, a clear sky is not charged
   for being clear. Of the `choices` cheapest sources one is picked at random (seeded):
   another seed gives another plausible world, the same seed the same one.
4. The window's hole tokens take the picked source's tokens; tokens it already had stay.

Guides (`GenerationContext.guide` for the frames, `.exemplar_guides` for the exemplars,
(G, h, w) each) are any per-token features the caller wants matched: World gives the
layout's surface class (engine.models.layout), the elevation of the token's ray, its relief
and its scale (log2 of the world size it covers), so floor is filled from floor at the
height it was seen, wall from wall, sky from sky, and a far wall from tokens that saw as
much of a wall (World also gives the seed photo at half and a quarter of its size as
exemplars). Without guides the fill is plain quilting. Known tokens are returned bit for
bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models.generator import (
    GenerationCancelled,
    GenerationContext,
    GeneratorStep,
    check_readouts,
    distance_to,
)
from engine.models.layout import CLASSES


class QuiltGenerator:
    """Guided latent quilting (module docstring). No weights, deterministic per seed.

    Cost: one batched matrix product over the sources per wave of windows that share no
    token (about 20 waves for a third of a 64x48 frame): 26-36 ms on a turn at 512x384 on a
    2-core CPU (bench world)."""

    name = "embedded"

    def __init__(
        self,
        block: int = 4,
        step: int = 3,
        choices: int = 3,
        max_sources: int = 4096,
        filled_weight: float = 0.5,
        guide_weight: float = 1.0,
        reuse_weight: float = 1.0,
        slack: float = 0.25,
        detail_weight: float = 0.25,
    ) -> None:
        if block < 1 or not 1 <= step <= block:
            raise ValueError(f"block must be >= 1 and 1 <= step <= block, got {block}, {step}")
        if min(choices, max_sources) < 1:
            raise ValueError("choices and max_sources must be >= 1")
        if not 0.0 < filled_weight <= 1.0:
            raise ValueError(f"filled_weight must be in (0, 1], got {filled_weight}")
        if guide_weight < 0:
            raise ValueError(f"guide_weight must be >= 0, got {guide_weight}")
        self.block, self.step, self.choices = block, step, choices
        self.max_sources = max_sources
        self.filled_weight = float(filled_weight)
        self.guide_weight = float(guide_weight)
        self.reuse_weight = float(reuse_weight)
        self.slack = float(slack)
        self.detail_weight = float(detail_weight)

    def fill(
        self, latent: Tensor, known: Tensor, depth: Tensor, context: GenerationContext
    ) -> Tensor:
        check_readouts(latent, known, depth, caller="QuiltGenerator.fill")
        t, c, h, w = latent.shape
        guides = _frame_guides(context, t, h, w)
        exemplars = _exemplars(context, c, guides)
        gen = torch.Generator().manual_seed(int(context.seed))
        out = torch.where(known[:, None], latent, 0.0)
        for i in range(t):
            if context.cancel is not None and context.cancel():
                raise GenerationCancelled(f"cancelled at frame {i + 1} of {t}")
            g = None if guides is None else guides[i]
            holes = int((~known[i]).sum())
            if holes:
                pool = [*exemplars, (out[i], known[i], g)]
                out[i] = self._fill_frame(out[i], known[i], g, pool, gen)
                if not bool(known[i].any()) and len(pool) == 1:
                    context.notes.append(
                        f"frame {i}: nothing known and no exemplars: its holes stay zero"
                    )
            if context.callback is not None:
                context.callback(GeneratorStep(i, t, 1, 1, holes))
            exemplars.append((out[i], torch.ones(h, w, dtype=torch.bool), g))
        return out

    # ---- pieces

    def _sources(self, pool, gen, guided: bool):
        """(N, C b^2) latent windows and (N, G b^2) guide windows (b = block) of the pool's
        valid tokens (at most max_sources, a seeded subset), each window's token indices
        (N, b^2) in the pool's tokens laid end to end, and the number of those tokens."""
        b, limit = self.block, self.max_sources
        lat, gd, where = [], [], []
        offset = 0
        for x, m, g in pool:
            h, w = m.shape
            # an exemplar without a guide cannot be matched to one
            if min(h, w) >= b and not (guided and g is None):
                whole = F.unfold(m[None, None].float(), b)[0].min(0).values > 0.5
                if bool(whole.any()):
                    lat.append(F.unfold(x[None], b)[0].T[whole])
                    ids = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
                    where.append(F.unfold(ids, b)[0].T[whole].long() + offset)
                    if guided:
                        gd.append(F.unfold(g[None], b)[0].T[whole])
            offset += h * w
        if not lat:
            return torch.zeros(0, 0), None, torch.zeros(0, 0, dtype=torch.long), offset
        src, pos = torch.cat(lat), torch.cat(where)
        sg = torch.cat(gd) if guided else None
        if src.shape[0] > limit:
            pick = torch.randperm(src.shape[0], generator=gen)[:limit].sort().values
            src, pos = src[pick], pos[pick]
            sg = sg[pick] if sg is not None else None
        return src, sg, pos, offset

    def _fill_frame(self, x: Tensor, known: Tensor, guide: Tensor | None, pool, gen) -> Tensor:
        c, h, w = x.shape
        b, s = self.block, self.step
        guided = guide is not None  # then exemplars without a guide are left out
        src, src_guide, pos, tokens = self._sources(pool, gen, guided)
        if src.shape[0] == 0:
            return x
        used = torch.zeros(tokens)  # how often each pool token was copied in this frame
        src2 = (src * src).T.contiguous()  # (C b^2, N)
        guide_cost = (src_guide * src_guide).T.contiguous() if guided else None
        detail = None
        if self.detail_weight:
            v = src.reshape(src.shape[0], c, b * b)
            detail = _detail_deficit(
                ((v - v.mean(-1, keepdim=True)) ** 2).sum((1, 2)), src_guide, b
            )
        ys = _starts(h, b, s)
        xs = _starts(w, b, s)
        # blocks holding a hole, those reaching nearest to the known region first (a block
        # holding known tokens before one beside it that holds none)
        dist = distance_to(known)
        blocks = []
        for y0 in ys:
            for x0 in xs:
                hole = ~known[y0 : y0 + b, x0 : x0 + b]
                if bool(hole.any()):
                    blocks.append((float(dist[y0 : y0 + b, x0 : x0 + b].min()), y0, x0))
        if not blocks:
            return x
        jitter = torch.rand(len(blocks), generator=gen).tolist()
        order = sorted(range(len(blocks)), key=lambda k: (blocks[k][0], jitter[k]))
        k = min(self.choices, src.shape[0])
        picks = torch.randint(k, (len(blocks),), generator=gen)
        out = x.clone().reshape(c, h * w)
        have = known.clone().reshape(-1)
        weight_of = torch.where(known, 1.0, self.filled_weight).reshape(-1)
        cells = torch.arange(h * w).reshape(h, w)
        for wave in _waves([blocks[i][1:] for i in order], b):
            ids = [order[i] for i in wave]
            idx = torch.stack(
                [
                    cells[y0 : y0 + b, x0 : x0 + b].reshape(-1)
                    for _, y0, x0 in (blocks[i] for i in ids)
                ]
            )  # (B, b^2) token indices
            hv = have[idx]  # (B, b^2)
            need = ~hv
            go = need.any(1)
            if not bool(go.any()):
                continue
            idx, hv, need, ids = idx[go], hv[go], need[go], [i for i, g in zip(ids, go) if g]
            flat = out[:, idx].permute(1, 0, 2).reshape(len(ids), -1)  # (B, C b^2)
            wt = (weight_of[idx] * hv).repeat(1, c)  # channel-major like unfold
            # squared distances, constants included so that a cost is >= 0
            cost = wt @ src2 - 2.0 * (flat * wt) @ src.T + (wt * flat * flat).sum(1, keepdim=True)
            if guided:
                assert guide is not None and guide_cost is not None  # guided: both given
                g = guide.reshape(guide.shape[0], -1)[:, idx].permute(1, 0, 2).reshape(len(ids), -1)
                gm = need.float().repeat(1, guide.shape[0])
                gcost = gm @ guide_cost - 2.0 * (g * gm) @ src_guide.T
                cost = cost + self.guide_weight * (gcost + (gm * g * g).sum(1, keepdim=True))
            if detail is not None:  # sources blander than their class's median cost more
                cost = cost + self.detail_weight * need.float().mean(1, keepdim=True) * detail
            if self.reuse_weight:  # the tokens it would write, copied before in this frame
                cost = cost + self.reuse_weight * (need.float() @ used[pos].T)
            top = cost.topk(k, dim=1, largest=False)
            # a random one of the best few, among those nearly as good as the best: where
            # the window's tokens continue one source, that source (coherent copying)
            best = top.values[:, :1]
            near = (top.values <= best + self.slack * best.abs() + 1e-6).sum(1).clamp(min=1)
            pick = top.indices.gather(1, (picks[ids] % near)[:, None])[:, 0]  # (B,)
            chosen = src[pick].reshape(len(ids), c, b * b).permute(1, 0, 2)  # (C, B, b^2)
            used.index_put_((pos[pick][need],), torch.ones(int(need.sum())), accumulate=True)
            out[:, idx[need]] = chosen[:, need]
            have[idx] = True
        out = out.reshape(c, h, w)
        return torch.where(known[None], x, out)


def _detail_deficit(detail: Tensor, src_guide: Tensor | None, b: int) -> Tensor:
    """How much blander each source window is than the median window of its surface class
    (the class most of its tokens have: the guide's first CLASSES channels, one-hot), 0 for
    those at least as detailed; without guides, than the median of all sources."""
    if src_guide is None or src_guide.shape[1] < CLASSES * b * b:
        return (detail.median() - detail).clamp(min=0)
    cls = src_guide[:, : CLASSES * b * b].reshape(-1, CLASSES, b * b).sum(-1).argmax(1)
    median = torch.zeros_like(detail)
    for k in cls.unique().tolist():
        on = cls == k
        median[on] = detail[on].median()
    return (median - detail).clamp(min=0)


def _waves(starts: list[tuple[int, int]], b: int) -> list[list[int]]:
    """Windows (top-left corners, in the order they are to be filled) grouped into waves:
    a window goes one wave after the latest earlier window it overlaps, so the windows of a
    wave share no token and can be matched at once, and every window still sees what the
    windows before it wrote."""
    level: dict[tuple[int, int], int] = {}
    waves: list[list[int]] = []
    ys = sorted({y for y, _ in starts})
    xs = sorted({x for _, x in starts})
    for n, (y0, x0) in enumerate(starts):
        w = 0
        for y1 in (y for y in ys if abs(y - y0) < b):
            for x1 in (x for x in xs if abs(x - x0) < b):
                if (y1, x1) in level:
                    w = max(w, level[(y1, x1)] + 1)
        level[(y0, x0)] = w
        if w == len(waves):
            waves.append([])
        waves[w].append(n)
    return waves


def _starts(n: int, b: int, s: int) -> list[int]:
    """Window starts covering 0..n-1 with windows of b every s (the last flush with the end)."""
    if n <= b:
        return [0]
    starts = list(range(0, n - b + 1, s))
    if starts[-1] != n - b:
        starts.append(n - b)
    return starts


def _frame_guides(context: GenerationContext, t: int, h: int, w: int) -> Tensor | None:
    guide = context.guide
    if guide is None:
        return None
    if guide.ndim != 4 or guide.shape[0] != t or tuple(guide.shape[2:]) != (h, w):
        raise ValueError(f"guide must be (T={t}, G, {h}, {w}), got {tuple(guide.shape)}")
    return guide.float()


def _exemplars(context: GenerationContext, channels: int, guides: Tensor | None):
    """[(latent, valid mask, guide or None)] of the context's exemplars."""
    exemplars = list(context.exemplars)
    masks = context.exemplar_masks
    masks = [None] * len(exemplars) if masks is None else list(masks)
    eg = context.exemplar_guides
    eg = [None] * len(exemplars) if eg is None else list(eg)
    if len(masks) != len(exemplars) or len(eg) != len(exemplars):
        raise ValueError(
            f"{len(exemplars)} exemplars, {len(masks)} masks and {len(eg)} guides: "
            "give one of each per exemplar"
        )
    out = []
    for j, (x, m, g) in enumerate(zip(exemplars, masks, eg)):
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[0] != channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"exemplar {j} must be a latent ({channels}, h, w), got {shape}")
        m = torch.ones(x.shape[1:], dtype=torch.bool) if m is None else m.bool()
        if tuple(m.shape) != tuple(x.shape[1:]):
            raise ValueError(
                f"exemplar mask {j} is {tuple(m.shape)}, its exemplar {tuple(x.shape[1:])}"
            )
        if g is not None:
            if guides is None or g.ndim != 3 or tuple(g.shape[1:]) != tuple(x.shape[1:]):
                raise ValueError(
                    f"exemplar guide {j} must be (G, h, w) like its exemplar and the frames' guide"
                )
            g = g.float()
        out.append((x.float(), m, g))
    return out
