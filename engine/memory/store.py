"""Chunked point storage shared by the latent and the RGB memory.

Entries are points with per-entry columns (a latent vector, a colour, a segment id...).
They live in two parts:

- the *main* part, sorted by chunk: a chunk is a cube of side `chunk_size` in world
  units, keyed by its integer coordinates. Because entries of a chunk are contiguous, a
  chunk table (sorted keys + start offsets) is the whole spatial index: no per-entry chunk
  id is stored. Positions are stored either as float32 world coordinates or, with
  `quantize=True`, as int16 offsets from the chunk origin (6 bytes instead of 12, error
  at most chunk_size / 2**17 per axis).
- the *tail*: recent appends in float32, unsorted. The tail is merged into the main part
  in O(N) (no global sort: chunk runs are moved as blocks) once it holds more than
  `merge_fraction` of the main part, so the merge cost is amortised over many appends.

Global entry index: [0, n_main) are main entries in chunk order, [n_main, n) the tail.
Indices change when the store is merged or filtered; they are valid until the next
mutation.

Projection (`project`) culls whole chunks against the camera frustum with a bounding
sphere test, so its cost follows what is visible, not the size of the store.

Device: a store lives on one torch device (`device`, the CPU by default): its positions,
columns, chunk table and scratch buffers, and every index it makes. Points and columns
given to it must be on that device already (the memories move their inputs at their public
boundary); the camera (float64 on the CPU) is converted where it is used. `to(device)`
moves the store.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.camera import Camera
from engine.files import atomic_path

# Chunk coordinates are packed into one int64 key, 21 bits per axis.
_BITS = 21
_BIAS = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1
# Quantised positions: offset in [0, chunk) -> int16 in [-32768, 32767].
_QSTEPS = 65536
_QBIAS = 32768

NEAR = 1e-3  # entries closer than this (camera-frame z) are not projected


def chunk_coords(xyz: torch.Tensor, chunk_size: float) -> torch.Tensor:
    """Integer chunk coordinates (N, 3) int64 of world points xyz (N, 3)."""
    k = torch.floor(xyz.double() / chunk_size).long()
    if k.numel() and (k.min() < -_BIAS or k.max() >= _BIAS):
        raise ValueError(
            f"points lie too far from the world origin for chunk_size={chunk_size}: "
            f"|coordinate| must stay below {_BIAS * chunk_size:g}"
        )
    return k


def pack_keys(k: torch.Tensor) -> torch.Tensor:
    """(N, 3) int64 chunk coordinates -> (N,) int64 keys, ordered by x, then y, then z."""
    k = k + _BIAS
    return (k[:, 0] << (2 * _BITS)) | (k[:, 1] << _BITS) | k[:, 2]


def unpack_keys(key: torch.Tensor) -> torch.Tensor:
    """(M,) int64 keys -> (M, 3) int64 chunk coordinates."""
    k = torch.stack([(key >> (2 * _BITS)) & _MASK, (key >> _BITS) & _MASK, key & _MASK], 1)
    return k - _BIAS


@dataclass
class Projection:
    """Entries projected into one camera.

    idx: (n,) int64 global entry index; pix: (n,) int64 flat pixel index v * w + u, or
    h * w where the entry is behind the camera or outside the image; z: (n,) float32
    camera-frame depth; u, v: (n,) float32 continuous pixel coordinates (meaningless where
    z <= NEAR). The tensors are views of the store's scratch buffers: valid until the next
    call of project().
    """

    idx: torch.Tensor
    pix: torch.Tensor
    z: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


class Scratch:
    """Reusable work buffers, grown on demand and never shrunk.

    A readout over a million entries makes about ten temporary arrays of that length;
    allocating them afresh each time costs more in page faults than the arithmetic, so
    they are kept here. get() returns a view of a buffer; the content is garbage.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._bufs: dict[str, torch.Tensor] = {}

    def to(self, device: torch.device | str) -> None:
        """Drop the buffers and make new ones on device from now on (contents are garbage)."""
        self.device = torch.device(device)
        self._bufs = {}

    def get(self, name: str, n: int, dtype: torch.dtype, rows: int = 0) -> torch.Tensor:
        numel = n * max(rows, 1)
        buf = self._bufs.get(name)
        if buf is None or buf.dtype != dtype or buf.numel() < numel:
            buf = torch.empty(numel + numel // 4, dtype=dtype, device=self.device)
            self._bufs[name] = buf
        view = buf[:numel]
        return view.view(rows, n) if rows else view

    @property
    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self._bufs.values())


def pixel_index(
    img: torch.Tensor, camera: Camera, scratch: Scratch
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-plane points img (3, n) = K @ camera-frame points, i.e. (u z, v z, z), to
    (flat pixel index (n,), depth (n,)). img is overwritten with (u, v, z).

    Pixel column = floor(u) (continuous pixel coordinates); entries with z <= NEAR or
    outside [0, w) x [0, h) get the sentinel index h * w.
    """
    w, h = camera.width, camera.height
    n = img.shape[1]
    z = img[2]
    inv_z = torch.reciprocal(z, out=scratch.get("inv_z", n, torch.float32))
    u = img[0].mul_(inv_z)
    v = img[1].mul_(inv_z)
    ok = torch.gt(z, NEAR, out=scratch.get("ok", n, torch.bool))
    tmp = scratch.get("tmp", n, torch.bool)
    for t, op, bound in ((u, torch.ge, 0), (u, torch.lt, w), (v, torch.ge, 0), (v, torch.lt, h)):
        ok.logical_and_(op(t, bound, out=tmp))
    pix = scratch.get("pix", n, torch.int64)
    col = scratch.get("col", n, torch.int64)
    pix.copy_(v).mul_(w).add_(col.copy_(u))  # float -> int truncates; = floor where ok
    pix.masked_fill_(torch.logical_not(ok, out=tmp), w * h)
    return pix, z


def frustum_planes(camera: Camera, device: torch.device | str = "cpu") -> torch.Tensor:
    """Unit normals (4, 3) float64 of the four side planes, camera frame, pointing inside,
    on device.

    u >= 0  <=>  fx x + cx z >= 0, and likewise for the other three sides.
    """
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    n = torch.tensor(
        [
            [fx, 0.0, cx],
            [-fx, 0.0, camera.width - cx],
            [0.0, fy, cy],
            [0.0, -fy, camera.height - cy],
        ],
        dtype=torch.float64,
        device=device,
    )
    return n / n.norm(dim=1, keepdim=True)


def ranges_to_index(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Concatenation of arange(s, s + c) for each (s, c): (sum(counts),) int64, on the
    device of counts."""
    total = int(counts.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.int64, device=counts.device)
    first = torch.cumsum(counts, 0) - counts  # where each run begins in the output
    shift = torch.repeat_interleave(starts - first, counts, output_size=total)
    return torch.arange(total, dtype=torch.int64, device=counts.device).add_(shift)


class ChunkStore:
    """Points plus named columns, indexed by chunk. See the module docstring."""

    def __init__(
        self,
        chunk_size: float,
        columns: dict[str, tuple[torch.dtype, tuple[int, ...]]],
        quantize: bool = True,
        merge_fraction: float = 1 / 32,
        merge_min: int = 4096,
        device: torch.device | str = "cpu",
    ):
        if not chunk_size > 0:
            raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
        self.chunk_size = float(chunk_size)
        self.quantize = quantize
        self.merge_fraction = merge_fraction
        self.merge_min = merge_min
        self.spec = dict(columns)
        pos_dtype = torch.int16 if quantize else torch.float32
        self.pos = torch.zeros(3, 0, dtype=pos_dtype, device=device)  # (3, n_main)
        self.device = dev = self.pos.device  # "cuda" made definite: "cuda:0"
        self.cols = {k: torch.zeros(0, *s, dtype=d, device=dev) for k, (d, s) in self.spec.items()}
        self.keys = torch.zeros(0, dtype=torch.int64, device=dev)  # (M,) sorted chunk keys
        self.starts = torch.zeros(1, dtype=torch.int64, device=dev)  # (M + 1,) offsets into main
        self.tail_pos = torch.zeros(3, 0, dtype=torch.float32, device=dev)
        self.tail_cols = {k: v.clone() for k, v in self.cols.items()}
        self.scratch = Scratch(dev)

    def to(self, device: torch.device | str) -> None:
        """Move every array of the store to device, in place (scratch buffers are dropped
        and made anew there)."""
        self.pos = self.pos.to(device)
        self.device = dev = self.pos.device
        self.keys, self.starts = self.keys.to(dev), self.starts.to(dev)
        self.tail_pos = self.tail_pos.to(dev)
        self.cols = {k: v.to(dev) for k, v in self.cols.items()}
        self.tail_cols = {k: v.to(dev) for k, v in self.tail_cols.items()}
        self.scratch.to(dev)

    # -- sizes -------------------------------------------------------------------------

    @property
    def n_main(self) -> int:
        return self.pos.shape[1]

    @property
    def n_tail(self) -> int:
        return self.tail_pos.shape[1]

    def __len__(self) -> int:
        return self.n_main + self.n_tail

    @property
    def n_chunks(self) -> int:
        return self.keys.numel()

    @property
    def nbytes(self) -> int:
        tensors = [self.pos, self.keys, self.starts, self.tail_pos]
        tensors += list(self.cols.values()) + list(self.tail_cols.values())
        return sum(t.numel() * t.element_size() for t in tensors)

    def counts(self) -> torch.Tensor:
        return self.starts[1:] - self.starts[:-1]

    # -- writing -----------------------------------------------------------------------

    def append(self, xyz: torch.Tensor, cols: dict[str, torch.Tensor]) -> None:
        """Append points xyz (N, 3) with one row per point in every column."""
        n = xyz.shape[0]
        if set(cols) != set(self.spec):
            raise ValueError(f"columns must be {sorted(self.spec)}, got {sorted(cols)}")
        chunk_coords(xyz, self.chunk_size)  # range check before anything is written
        self.tail_pos = torch.cat([self.tail_pos, xyz.T.float()], 1)
        for k, v in cols.items():
            d, s = self.spec[k]
            if v.shape != (n, *s):
                raise ValueError(f"column {k!r} must have shape {(n, *s)}, got {tuple(v.shape)}")
            self.tail_cols[k] = torch.cat([self.tail_cols[k], v.to(d)], 0)
        if self.n_tail >= max(self.merge_min, int(self.merge_fraction * self.n_main)):
            self.merge()

    def merge(self) -> None:
        """Move the tail into the main part, keeping chunk order. O(n_main + n_tail)."""
        t = self.n_tail
        if t == 0:
            return
        tk = pack_keys(chunk_coords(self.tail_pos.T, self.chunk_size))
        tk, order = torch.sort(tk, stable=True)
        all_keys, inv = torch.unique(torch.cat([self.keys, tk]), sorted=True, return_inverse=True)
        m = self.n_chunks
        inv_main, inv_tail = inv[:m], inv[m:]
        old_counts = self.counts()
        dev = self.device
        main_in_new = torch.zeros(all_keys.numel(), dtype=torch.int64, device=dev)
        main_in_new.index_put_((inv_main,), old_counts)
        tail_in_new = torch.bincount(inv_tail, minlength=all_keys.numel())
        new_starts = torch.zeros(all_keys.numel() + 1, dtype=torch.int64, device=dev)
        torch.cumsum(main_in_new + tail_in_new, 0, out=new_starts[1:])

        n_main = self.n_main
        dest_main = ranges_to_index(new_starts[:-1][inv_main], old_counts)
        first_of_group = torch.searchsorted(tk, tk)  # rank of a tail entry inside its chunk
        rank = torch.arange(t, device=dev) - first_of_group
        dest_tail = new_starts[:-1][inv_tail] + main_in_new[inv_tail] + rank

        n = n_main + t
        pos = torch.empty(3, n, dtype=self.pos.dtype, device=dev)
        pos[:, dest_main] = self.pos
        pos[:, dest_tail] = self._encode_positions(self.tail_pos[:, order], all_keys[inv_tail])
        self.pos = pos
        for k in self.spec:
            col = torch.empty(n, *self.cols[k].shape[1:], dtype=self.cols[k].dtype, device=dev)
            col[dest_main] = self.cols[k]
            col[dest_tail] = self.tail_cols[k][order]
            self.cols[k] = col
            self.tail_cols[k] = col[:0].clone()
        self.keys, self.starts = all_keys, new_starts
        self.tail_pos = self.tail_pos[:, :0].clone()

    def filter(self, keep: torch.Tensor) -> None:
        """Keep only entries where keep (n,) bool is True; order is preserved."""
        if keep.shape != (len(self),):
            raise ValueError(f"keep must have shape ({len(self)},), got {tuple(keep.shape)}")
        km, kt = keep[: self.n_main], keep[self.n_main :]
        chunk_of = torch.repeat_interleave(self._chunk_numbers(), self.counts())
        new_counts = torch.bincount(chunk_of[km], minlength=self.n_chunks)
        nonempty = new_counts > 0
        self.keys = self.keys[nonempty]
        self.starts = torch.zeros(self.keys.numel() + 1, dtype=torch.int64, device=self.device)
        torch.cumsum(new_counts[nonempty], 0, out=self.starts[1:])
        self.pos = self.pos[:, km]
        self.tail_pos = self.tail_pos[:, kt]
        for k in self.spec:
            self.cols[k] = self.cols[k][km]
            self.tail_cols[k] = self.tail_cols[k][kt]

    # -- reading -----------------------------------------------------------------------

    def column(self, name: str, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Rows of one column at global indices idx (all rows if None)."""
        main, tail = self.cols[name], self.tail_cols[name]
        if idx is None:
            return torch.cat([main, tail], 0) if tail.shape[0] else main
        if tail.shape[0] == 0:
            return main[idx]
        return torch.cat([main, tail], 0)[idx]

    def set_column(self, name: str, idx: torch.Tensor, values: torch.Tensor) -> None:
        """Write rows of one column at global indices idx."""
        in_main = idx < self.n_main
        self.cols[name][idx[in_main]] = values[in_main].to(self.cols[name].dtype)
        if self.n_tail:
            tail = ~in_main
            self.tail_cols[name][idx[tail] - self.n_main] = values[tail].to(self.cols[name].dtype)

    def positions(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """World positions (n, 3) float32 at global indices idx (all if None)."""
        chunk_of = torch.repeat_interleave(self._chunk_numbers(), self.counts())
        main = self._decode_positions(self.pos, self.keys[chunk_of])
        xyz = torch.cat([main, self.tail_pos], 1).T
        return xyz if idx is None else xyz[idx]

    def _chunk_numbers(self) -> torch.Tensor:
        """0, 1, ..., n_chunks - 1 (int64, on the store's device)."""
        return torch.arange(self.n_chunks, device=self.device)

    def chunk_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """World-space origins (M, 3) float64 and counts (M,) of the main part's chunks."""
        return unpack_keys(self.keys).double() * self.chunk_size, self.counts()

    def project(self, camera: Camera) -> Projection:
        """Project every entry that may be visible into camera (see Projection)."""
        # the camera's float64 CPU matrices, on the store's device
        w2c = camera.world_to_camera.to(self.device)
        k = camera.K.to(self.device)
        # Image-plane coordinates (u z, v z, z) = K (R p + t): one 3x3 matrix, one offset.
        mat, off = k @ w2c[:3, :3], k @ w2c[:3, 3]
        chunks = self._visible_chunks(camera, w2c) if self.n_main else None
        n_vis = int(chunks[1].sum()) if chunks is not None else 0
        n = n_vis + self.n_tail
        sc = self.scratch
        img = sc.get("img", n, torch.float32, rows=3)
        idx = sc.get("idx", n, torch.int64)
        if chunks is not None and n_vis:
            self._image_main(img[:, :n_vis], idx[:n_vis], mat, off, *chunks)
        if self.n_tail:
            torch.addmm(off.float()[:, None], mat.float(), self.tail_pos, out=img[:, n_vis:])
            torch.arange(self.n_main, len(self), out=idx[n_vis:])
        pix, z = pixel_index(img, camera, sc)
        return Projection(idx, pix, z, img[0], img[1])

    def _visible_chunks(self, camera: Camera, w2c: torch.Tensor):
        """(chunk numbers (m,), entry counts (m,)) of the chunks that may be visible, by
        a bounding-sphere test against the near plane and the four side planes."""
        origins, counts = self.chunk_bounds()
        half = 0.5 * self.chunk_size
        rot, trans = w2c[:3, :3], w2c[:3, 3]
        centres = (origins + half) @ rot.T + trans
        dist = centres @ frustum_planes(camera, self.device).T  # (M, 4)
        radius = half * 3**0.5
        visible = (dist >= -radius).all(1) & (centres[:, 2] >= NEAR - radius)
        vis = visible.nonzero()[:, 0]
        return vis, counts[vis]

    def _image_main(self, img, idx, mat, off, vis, counts) -> None:
        """Fill img (3, n) and idx (n,) for the main entries of chunks vis."""
        n, m, sc = idx.numel(), vis.numel(), self.scratch
        all_visible = m == self.n_chunks
        # chunk_of[i] = position in vis of the chunk of the i-th projected entry
        first = torch.cumsum(counts, 0) - counts
        chunk_of = sc.get("chunk_of", n, torch.int64).zero_()
        chunk_of[first[1:]] = 1
        torch.cumsum(chunk_of, 0, out=chunk_of)
        if all_visible:
            torch.arange(n, out=idx)
        else:  # idx = start of the entry's chunk in the store + rank inside the chunk
            torch.index_select(self.starts[vis] - first, 0, chunk_of, out=idx)
            idx.add_(torch.arange(n, out=sc.get("arange", n, torch.int64)))
        pos = self.pos
        if not all_visible:
            pos = torch.index_select(pos, 1, idx, out=sc.get("pos", n, pos.dtype, rows=3))
        if self.quantize:
            # world = origin + (q + QBIAS + 0.5) step, per chunk, so
            # image = (step M) q + M (origin + (QBIAS + 0.5) step) + off
            step = self.chunk_size / _QSTEPS
            origins = unpack_keys(self.keys[vis]).double() * self.chunk_size
            per_chunk = (origins + (_QBIAS + 0.5) * step) @ mat.T + off  # (m, 3)
            torch.index_select(per_chunk.T.float(), 1, chunk_of, out=img)
            qf = sc.get("qf", n, torch.float32, rows=3).copy_(pos)
            img.addmm_((mat * step).float(), qf)
        else:
            img.copy_(off.float()[:, None].expand(3, n))
            img.addmm_(mat.float(), pos)

    # -- position codec ----------------------------------------------------------------

    def _encode_positions(self, xyz: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """World (3, n) float32 + chunk key per point -> stored positions (3, n)."""
        if not self.quantize:
            return xyz.float()
        origin = unpack_keys(keys).double().T * self.chunk_size
        q = torch.floor((xyz.double() - origin) * (_QSTEPS / self.chunk_size)) - _QBIAS
        return q.clamp_(-_QBIAS, _QBIAS - 1).to(torch.int16)

    def _decode_positions(self, pos: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Stored positions (3, n) + chunk key per point -> world (3, n) float32."""
        if not self.quantize:
            return pos.float()
        origin = unpack_keys(keys).double().T * self.chunk_size
        step = self.chunk_size / _QSTEPS
        return (origin + (pos.double() + _QBIAS + 0.5) * step).float()

    # -- persistence -------------------------------------------------------------------

    def state(self) -> dict[str, torch.Tensor]:
        """Arrays that describe the store completely (the tail is merged first), on the
        store's device (write_memory_file brings them to the CPU)."""
        self.merge()
        out = {"pos": self.pos, "chunk_keys": self.keys, "chunk_starts": self.starts}
        out.update({f"col.{k}": v for k, v in self.cols.items()})
        return out

    def load_state(self, arrays: dict[str, torch.Tensor]) -> None:
        """Inverse of state(), checking every array's dtype and shape; the arrays (from a
        file: on the CPU) are moved to the store's device."""
        pos_dtype = torch.int16 if self.quantize else torch.float32
        pos = _expect(arrays, "pos", pos_dtype, 2)
        if pos.shape[0] != 3:
            raise ValueError(f"array 'pos' must have shape (3, N), got {tuple(pos.shape)}")
        n = pos.shape[1]
        if pos.is_floating_point() and not bool(torch.isfinite(pos).all()):
            raise ValueError("array 'pos' has NaN or infinite values")
        keys = _expect(arrays, "chunk_keys", torch.int64, 1)
        starts = _expect(arrays, "chunk_starts", torch.int64, 1)
        m = keys.numel()
        if starts.shape != (m + 1,):
            raise ValueError(
                f"array 'chunk_starts' must have shape ({m + 1},), got {tuple(starts.shape)}"
            )
        if m and not bool((keys[1:] > keys[:-1]).all()):
            raise ValueError("array 'chunk_keys' is not strictly increasing")
        counts = starts[1:] - starts[:-1]
        if int(starts[0]) != 0 or int(starts[-1]) != n or (m and bool((counts <= 0).any())):
            raise ValueError(f"array 'chunk_starts' does not describe {n} entries in {m} chunks")
        cols = {}
        for k, (d, s) in self.spec.items():
            v = _expect(arrays, f"col.{k}", d, 1 + len(s))
            if tuple(v.shape) != (n, *s):
                raise ValueError(f"array 'col.{k}' must have shape {(n, *s)}, got {tuple(v.shape)}")
            cols[k] = v
        dev = self.device
        self.pos, self.keys, self.starts = pos.to(dev), keys.to(dev), starts.to(dev)
        self.cols = {k: v.to(dev) for k, v in cols.items()}
        self.tail_pos = torch.zeros(3, 0, dtype=torch.float32, device=dev)
        self.tail_cols = {k: v[:0].clone() for k, v in self.cols.items()}


# A memory file is one safetensors file: the arrays, and a JSON header ({"format", "version",
# "config", ...}) in the metadata under this key.
HEADER_KEY = "latentscape"


def write_memory_file(
    path: str | os.PathLike, arrays: dict[str, torch.Tensor], fmt: str, version: int, memory: Any
) -> None:
    """Write a memory's arrays to one safetensors file, atomically, with the JSON header
    every memory kind writes: format `fmt`, `version`, and the memory's config(), segment and
    ground frame."""
    from safetensors.torch import save_file

    header = {
        "format": fmt,
        "version": version,
        "config": memory.config(),
        "segment": memory.segment,
        "frame": memory.frame.to_dict() if memory.frame is not None else None,
    }
    arrays = {k: v.detach().cpu().contiguous() for k, v in arrays.items()}  # a file is CPU
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={HEADER_KEY: json.dumps(header)})


def read_memory_file(
    path: str | os.PathLike, fmt: str, what: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(header, arrays) of a file written by write_memory_file whose header's format is
    `fmt` (`what` names it in the message: "a latent memory"). A missing, unreadable or
    foreign file is refused with a message naming it; the caller checks the version and
    the arrays."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no memory file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable safetensors file: {e}") from None
    try:
        header = json.loads(meta[HEADER_KEY])
    except (KeyError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or not {"format", "version", "config"} <= header.keys():
        raise ValueError(f"{path} is not a Latentscape memory file (no valid header)")
    if header["format"] != fmt:
        raise ValueError(f"{path} holds {header['format']!r}, not {what} ({fmt!r})")
    return header, arrays


def _expect(arrays: dict[str, torch.Tensor], name: str, dtype: torch.dtype, ndim: int):
    if name not in arrays:
        raise ValueError(f"array {name!r} is missing")
    v = arrays[name]
    if v.dtype != dtype or v.ndim != ndim:
        raise ValueError(
            f"array {name!r} must be {dtype} with {ndim} dimensions, got {v.dtype} {tuple(v.shape)}"
        )
    return v


def zbuffer(proj: Projection, hw: int, scratch: Scratch) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest entry per pixel: (depth (hw + 1,), entry index (hw + 1,)), inf / -1 where
    no entry falls; the last slot is the sentinel of entries not in the image. Ties in
    depth go to the larger entry index, so the result does not depend on visiting order.
    """
    n, dev = proj.z.numel(), proj.z.device
    zbuf = torch.full((hw + 1,), math.inf, device=dev).scatter_reduce_(0, proj.pix, proj.z, "amin")
    seen = torch.index_select(zbuf, 0, proj.pix, out=scratch.get("zsel", n, torch.float32))
    nearest = torch.eq(proj.z, seen, out=scratch.get("nearest", n, torch.bool))
    cand = scratch.get("cand", n, torch.int64).copy_(proj.idx)
    cand.masked_fill_(nearest.logical_not_(), -1)
    ids = torch.full((hw + 1,), -1, dtype=torch.int64, device=dev)
    ids.scatter_reduce_(0, proj.pix, cand, "amax")
    return zbuf, ids


def cell_owners(store: ChunkStore, camera: Camera, depth, valid, tolerance: float) -> torch.Tensor:
    """The fusion rule's association: for each pixel of camera, the nearest entry that
    falls in it at a depth consistent with the new token, |z - d| <= tolerance * d.

    depth (h*w,) float32 and valid (h*w,) bool describe the new tokens. Returns (h*w,)
    int64 entry indices, -1 where the token's cell is free.
    """
    hw = camera.width * camera.height
    proj = store.project(camera)
    depth_ext = torch.cat([torch.where(valid, depth, 0.0), depth.new_zeros(1)])
    d = depth_ext[proj.pix]
    consistent = (d > 0) & ((proj.z - d).abs() <= tolerance * d)
    proj.pix.masked_fill_(~consistent, hw)  # inconsistent entries go to the sentinel
    return zbuffer(proj, hw, store.scratch)[1][:hw]


# -- footprints ----------------------------------------------------------------------------
#
# An entry's footprint is the world size of its token when it was written: the side of the
# latent pixel it came from at its depth, d / sqrt(fx fy) with the latent-grid focal lengths.
# It is stored in one byte, on a log scale of FOOT_STEPS codes per octave (at most 4.4% off),
# code 0 meaning "unknown" (entries inserted without one, memories of format version 1).

FOOT_STEPS = 8
FOOT_BIAS = 128
FOOT_MAX = 8.0
"""Largest footprint side, in target latent pixels, that a readout splats: a token seen more
than 8x magnified (the camera almost touching the surface) covers 8 x 8 pixels."""


def encode_footprint(side: torch.Tensor) -> torch.Tensor:
    """World footprint sides (n,) > 0 -> uint8 codes in [1, 255] (0 is kept for unknown)."""
    code = torch.round(torch.log2(side.double().clamp(min=1e-30)) * FOOT_STEPS) + FOOT_BIAS
    return code.clamp_(1, 255).to(torch.uint8)


def decode_footprint(code: torch.Tensor) -> torch.Tensor:
    """uint8 codes (n,) -> world footprint sides (n,) float32; 0 where the code is 0."""
    side = torch.exp2((code.float() - FOOT_BIAS) / FOOT_STEPS)
    return torch.where(code > 0, side, 0.0)


@dataclass
class Splats:
    """What a footprint readout decided per pixel of a (h, w) latent camera.

    ids (h*w,) int64 entry seen (-1 where none); z (h*w,) float32 its camera-frame depth;
    offset (2, h*w) float32 where the entry's centre lies relative to the pixel's centre, in
    target latent pixels (x right, y down); side (h*w,) float32 the entry's footprint side in
    target latent pixels (1 where unknown or no entry covers the pixel; ids -1, z and offset 0
    there).
    """

    ids: torch.Tensor
    z: torch.Tensor
    offset: torch.Tensor
    side: torch.Tensor


def footprint_zbuffer(proj: Projection, side: torch.Tensor, camera: Camera, band: float) -> Splats:
    """Footprint-aware z-buffer of projected entries (the readout's core).

    Each entry in front of the camera covers, along each axis, the pixels whose centres lie in
    [u - r/2, u + r/2) with r = side * f / z its footprint in target pixels (at most FOOT_MAX);
    an entry smaller than a pixel (r <= 1) or of unknown footprint covers the pixel it falls
    in, floor(u), and so does an entry hidden there (farther than `band` behind the nearest
    entry whose centre falls in that pixel). Per pixel, among the covering entries within
    `band` (relative) of the nearest depth, the one whose centre is nearest to the pixel's
    centre wins; ties in distance go to the larger entry index. side (n,) are the projected
    entries' world footprints. Slow twin: engine.memory.reference.readout."""
    w, h = camera.width, camera.height
    hw = w * h
    z, u, v, idx, pix = proj.z, proj.u, proj.v, proj.idx, proj.pix
    dev = z.device
    # the nearest entry centre in each pixel (entries behind or outside go to the sentinel)
    zc = torch.full((hw + 1,), math.inf, device=dev).scatter_reduce_(0, pix, z, "amin")
    # entries that spill over more than their own pixel: in front, footprint > 1 pixel on an
    # axis, not hidden at their centre; usually few (what the camera came close to)
    inv_z = torch.reciprocal(z)
    big = (side * inv_z > 1 / max(camera.fx, camera.fy)) & (z > NEAR)
    spill = big.nonzero()[:, 0]
    if spill.numel():
        c = pix[spill]
        spill = spill[(c == hw) | (z[spill] <= zc[c] * (1 + band))]
    # points: every entry in the image that does not spill, in the pixel it falls in
    point = pix < hw
    point[spill] = False
    pts = point.nonzero()[:, 0]
    pu, pv = u[pts], v[pts]
    parts_pix, parts_rep = [pix[pts]], [pts]
    parts_dx = [pu - torch.floor(pu) - 0.5]
    parts_dy = [pv - torch.floor(pv) - 0.5]
    if spill.numel():
        su, sv, sz = u[spill], v[spill], z[spill]
        rx = (side[spill] * camera.fx / sz).clamp_(max=FOOT_MAX)
        ry = (side[spill] * camera.fy / sz).clamp_(max=FOOT_MAX)

        def span(t, r, size):
            small = r <= 1
            lo = torch.where(small, torch.floor(t), torch.ceil(t - 0.5 * r - 0.5))
            hi = torch.where(small, torch.floor(t), torch.ceil(t + 0.5 * r - 0.5) - 1)
            return lo.clamp(min=0).long(), hi.clamp(max=size - 1).long()

        j0, j1 = span(su, rx, w)
        i0, i1 = span(sv, ry, h)
        nx, ny = (j1 - j0 + 1).clamp_(min=0), (i1 - i0 + 1).clamp_(min=0)
        cnt = nx * ny
        total = int(cnt.sum())
        rep = torch.repeat_interleave(torch.arange(cnt.numel(), device=dev), cnt, output_size=total)
        first = torch.repeat_interleave(torch.cumsum(cnt, 0) - cnt, cnt, output_size=total)
        local = torch.arange(total, device=dev) - first
        nxr = nx[rep]
        col = j0[rep] + local % nxr
        row = i0[rep] + local // nxr
        parts_pix.append(row * w + col)
        parts_rep.append(spill[rep])
        parts_dx.append(su[rep] - (col.float() + 0.5))
        parts_dy.append(sv[rep] - (row.float() + 0.5))
    if len(parts_pix) == 1:  # no copies when nothing spills (the usual case far away)
        spix, srep, dx, dy = parts_pix[0], parts_rep[0], parts_dx[0], parts_dy[0]
    else:
        spix, srep = torch.cat(parts_pix), torch.cat(parts_rep)
        dx, dy = torch.cat(parts_dx), torch.cat(parts_dy)
    zs = z[srep]
    if len(parts_pix) == 1:
        zmin = zc  # points only: the nearest centre is the nearest depth
    else:
        zmin = zc.clone().scatter_reduce_(0, parts_pix[1], zs[pts.numel() :], "amin")
    cand = zs <= zmin[spix] * (1 + band)
    # key: quantised squared distance, then the larger entry index (2^31 - 1 - idx smaller)
    key = torch.round((dx * dx + dy * dy) * 65536).long().bitwise_left_shift_(32)
    key |= (1 << 31) - 1 - idx[srep]
    never = torch.iinfo(torch.int64).max
    key.masked_fill_(~cand, never)
    kmin = torch.full((hw + 1,), never, device=dev).scatter_reduce_(0, spix, key, "amin")
    win = (key == kmin[spix]) & cand
    wpix, wrep = spix[win], srep[win]
    ids = torch.full((hw,), -1, dtype=torch.int64, device=dev)
    ids[wpix] = idx[wrep]
    zo = torch.zeros(hw, device=dev)
    zo[wpix] = z[wrep]
    offset = torch.zeros(2, hw, device=dev)
    offset[0, wpix] = dx[win]
    offset[1, wpix] = dy[win]
    out_side = torch.ones(hw, device=dev)
    r = (side[wrep] * math.sqrt(camera.fx * camera.fy) * inv_z[wrep]).clamp_(max=FOOT_MAX)
    out_side[wpix] = torch.where(r > 0, r, 1.0)
    return Splats(ids, zo, offset, out_side)
