"""Evaluation on real captures (`latentscape eval`): how the world's frames compare with
reality, beside an RGB point memory and the codec's ceiling; and of the generated frames
against their photo (`latentscape eval generation`).

- sequence.py: readers (nerfstudio transforms.json, COLMAP text, the motorcycle stereo pair)
- warp.py: the full-resolution RGB forward warp (footprint splats, z-buffer)
- metrics.py: PSNR, SSIM (masked or whole), blockiness
- protocol.py: seed, fly, compare; the table, eval.json and sheet.png
- generation.py: fly the default path from photos; contrast, texture, blockiness, seam and
  colour metrics; the table, eval-generation.json and sheet-generation.png
- report.py: what both write with: progress, JSON-safe numbers, --size, the sheet, the files
"""
