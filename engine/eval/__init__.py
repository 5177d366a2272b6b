"""Evaluation on real captures (`latentscape eval`): how the world's frames compare with
reality, beside an RGB point memory and the codec's ceiling.

- sequence.py: readers (nerfstudio transforms.json, COLMAP text, the motorcycle stereo pair)
- warp.py: the full-resolution RGB forward warp (footprint splats, z-buffer)
- metrics.py: PSNR, SSIM (masked or whole), blockiness
- protocol.py: seed, fly, compare; the table, eval.json and sheet.png
"""
