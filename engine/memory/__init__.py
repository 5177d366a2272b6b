"""Scene memories: LatentMemory (the core) and RGBMemory (the baseline it is measured against)."""
