"""`depth_metrics`: a prediction scored against ground truth after median scaling."""

from __future__ import annotations

import torch

# --------------------------------------------------------------------------- metrics


def depth_metrics(pred, gt, mask=None) -> dict[str, float]:
    """Scale-free depth error of pred against gt (H, W) on mask (H, W) bool (None: all).

    Only pixels where the mask is True and both depths are finite and > 0 count. pred is
    first median-scaled, p = pred * median(gt) / median(pred) over those pixels; then
        abs_rel = mean(|p - g| / g),  rmse = sqrt(mean((p - g)^2))  (gt's units),
        delta1 = fraction with max(p / g, g / p) < 1.25.
    Returns those three, `scale` (the median ratio) and `n` (pixels used).
    """
    pred = torch.as_tensor(pred).detach().cpu().to(torch.float64)
    gt = torch.as_tensor(gt).detach().cpu().to(torch.float64)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(
            f"pred and gt must be (H, W) of the same shape, got {tuple(pred.shape)} "
            f"and {tuple(gt.shape)}"
        )
    valid = torch.isfinite(pred) & (pred > 0) & torch.isfinite(gt) & (gt > 0)
    if mask is not None:
        mask = torch.as_tensor(mask).detach().cpu()
        if mask.shape != gt.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool (H, W) = {tuple(gt.shape)} tensor, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        valid &= mask
    n = int(valid.sum())
    if n == 0:
        raise ValueError("depth_metrics: no pixel where the mask is set and both depths are > 0")
    p, g = pred[valid], gt[valid]
    scale = float(g.median() / p.median())
    p = p * scale
    ratio = torch.maximum(p / g, g / p)
    return {
        "abs_rel": float(((p - g).abs() / g).mean()),
        "rmse": float(((p - g) ** 2).mean().sqrt()),
        "delta1": float((ratio < 1.25).double().mean()),
        "scale": scale,
        "n": n,
    }
