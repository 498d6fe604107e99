#!/usr/bin/python3
"""Pillow competitor: one process per core (ProcessPoolExecutor), files handed
out in chunks. Uses Debian's python3-pil; run it with /usr/bin/python3.

    pillow_pool.py w1 INPUT_DIR OUTPUT_DIR     256x256 box thumbnail, JPEG q80
    pillow_pool.py w2 INPUT_DIR OUTPUT_DIR     upright, 1600 wide, sharpened:
                                               STEM.webp (q80) + STEM.jpg (q85)
                                               + STEM_400.jpg (400 wide, q80)
    pillow_pool.py w3 INPUT_FILE OUTPUT_DIR    half size, sharpened, JPEG q85

The usual advice for fast Pillow is followed: JPEGs are decoded at reduced
size with Image.draft() (libjpeg's DCT scaling, 1/2, 1/4 or 1/8, never below
the size needed), thumbnail() uses its default reducing_gap, each input is
decoded once (W2 makes its three outputs from one decode), and the pool has
os.cpu_count() workers. EXIF orientation is applied (ImageOps.exif_transpose),
images with alpha are converted to RGB for JPEG, and no metadata is written.
Outputs are written directly (no temporary file, no fsync).
"""
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from PIL import Image, ImageFilter, ImageOps

Image.MAX_IMAGE_PIXELS = None  # W3's 151-megapixel image is wanted here

ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _orientation(im):
    try:
        return im.getexif().get(0x0112, 1)
    except Exception:
        return 1


def _rgb(im):
    return im if im.mode in ("RGB", "L") else im.convert("RGB")


def w1(args):
    src, out_dir = args
    stem = os.path.splitext(os.path.basename(src))[0]
    with Image.open(src) as im:
        im.draft("RGB", (256, 256))
        im = ImageOps.exif_transpose(im)
        im.thumbnail((256, 256))
        _rgb(im).save(os.path.join(out_dir, stem + ".jpg"), "JPEG", quality=80)
    return 1


def w2(args):
    src, out_dir = args
    stem = os.path.splitext(os.path.basename(src))[0]
    with Image.open(src) as im:
        # draft so that the width after autorotation stays >= 1600
        im.draft("RGB", (1, 1600) if _orientation(im) in ROTATED else (1600, 1))
        im = ImageOps.exif_transpose(im)
        im = _rgb(im)
        h = max(1, round(im.height * 1600 / im.width))
        web = im.resize((1600, h), Image.Resampling.LANCZOS)
        web = web.filter(ImageFilter.UnsharpMask(radius=1, percent=80, threshold=2))
        web.save(os.path.join(out_dir, stem + ".webp"), "WEBP", quality=80, method=4)
        web.save(os.path.join(out_dir, stem + ".jpg"), "JPEG", quality=85)
        th = max(1, round(h * 400 / 1600))
        web.resize((400, th), Image.Resampling.LANCZOS, reducing_gap=2.0).save(
            os.path.join(out_dir, stem + "_400.jpg"), "JPEG", quality=80)
    return 3


def w3(args):
    src, out_dir = args
    stem = os.path.splitext(os.path.basename(src))[0]
    with Image.open(src) as im:
        w, h = im.size
        tw, th = w // 2, h // 2
        im.draft("RGB", (tw, th))  # decodes a JPEG at half size directly
        im = _rgb(ImageOps.exif_transpose(im))
        if im.size != (tw, th):
            im = im.resize((tw, th), Image.Resampling.LANCZOS)
        im = im.filter(ImageFilter.UnsharpMask(radius=1, percent=80, threshold=2))
        im.save(os.path.join(out_dir, stem + ".jpg"), "JPEG", quality=85)
    return 1


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("w1", "w2", "w3"):
        sys.exit(__doc__)
    mode, src, out_dir = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    if mode == "w3":
        w3((src, out_dir))
        return
    files = sorted(os.path.join(src, f) for f in os.listdir(src) if not f.startswith("."))
    workers = os.cpu_count() or 1
    # a chunk per task amortises the pickling; small enough to balance the tail
    chunk = max(1, min(16, len(files) // (workers * 8)))
    fn = w1 if mode == "w1" else w2
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(fn, [(f, out_dir) for f in files], chunksize=chunk))
    print(f"pillow_pool {mode}: {len(files)} inputs, {done} outputs, {workers} processes, chunksize {chunk}")


if __name__ == "__main__":
    main()
