#!/usr/bin/python3
"""Where W2's CPU time goes with Pillow: each step of pillow_pool.py's w2()
timed on its own, in one process, over every file of a folder. Compare with
bench/w2-breakdown.cpp (libvips, as pixline runs W2) on the same folder.

    pillow_w2_breakdown.py INPUT_DIR

Prints CPU seconds per image for each step; run it with /usr/bin/python3.
"""
import io
import os
import sys
import time

from PIL import Image, ImageFilter, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pillow_pool import ROTATED, _orientation, _rgb  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(os.path.join(sys.argv[1], f) for f in os.listdir(sys.argv[1]) if not f.startswith("."))
    names = ["decode + resize 1600", "unsharp", "WebP q80", "JPEG q85", "400 px + JPEG q80"]
    total = [0.0] * 5
    for src in files:
        t0 = time.process_time()
        with Image.open(src) as im:
            im.draft("RGB", (1, 1600) if _orientation(im) in ROTATED else (1600, 1))
            im = _rgb(ImageOps.exif_transpose(im))
            h = max(1, round(im.height * 1600 / im.width))
            web = im.resize((1600, h), Image.Resampling.LANCZOS)
        t1 = time.process_time()
        web = web.filter(ImageFilter.UnsharpMask(radius=1, percent=80, threshold=2))
        t2 = time.process_time()
        web.save(io.BytesIO(), "WEBP", quality=80, method=4)
        t3 = time.process_time()
        web.save(io.BytesIO(), "JPEG", quality=85)
        t4 = time.process_time()
        th = max(1, round(h * 400 / 1600))
        web.resize((400, th), Image.Resampling.LANCZOS, reducing_gap=2.0).save(io.BytesIO(), "JPEG", quality=80)
        t5 = time.process_time()
        for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            total[i] += d
    print(f"Pillow, {len(files)} images, CPU seconds per image:")
    for name, t in zip(names, total):
        print(f"  {name:<24} {t / len(files):.3f}")
    print(f"  {'total':<24} {sum(total) / len(files):.3f}")


if __name__ == "__main__":
    main()
