#!/usr/bin/env bash
# The Wan VACE efficiency benchmark on a GPU machine, in one run (DEVELOPERS.md, GPU checks).
#
# Runs `latentscape bench world --generator diffusers-wan-vace:random-full` in the paper's
# setting (832x480 and 1280x704, 5 segments of 32 frames, 20 steps, bfloat16) and writes the
# report and its JSON into $OUT (or out/gpu). The machine needs python3 with a CUDA build of
# torch, accelerate, transformers, safetensors, scipy and pillow; diffusers may come as wheels
# in .whl/ (installed into /tmp/site first, with no network).
set -euo pipefail
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 - <<'PY' 2>&1 | tee "$OUT/machine.txt"
import torch, diffusers
print("torch", torch.__version__, "diffusers", diffusers.__version__)
print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory // 2**30, "GiB")
PY
# the smaller size first: its figures come back even if the larger one runs out of time
for size in 832x480 1280x704; do
    python3 -m engine.cli bench world --generator diffusers-wan-vace:random-full \
        --device cuda --size "$size" --json "$OUT/wan-$size.json" 2>&1 | tee "$OUT/wan-$size.log"
done
