#!/usr/bin/python3
"""Builds the shape corpora of bench/shapes.sh: the same photographs in the
forms a thumbnail service also meets, one folder per form, none of them in
bench/make-corpus.sh's corpora. The photographs are the first 40 of
corpus w2photo (bench/make-corpus.sh), resized to 1024 px wide unless
the form says otherwise.

    make-shapes.py W2PHOTO_DIR OUT_DIR

OUT_DIR/<form>/ for each form:
    gray_jpg        8-bit greyscale JPEG q88
    cmyk_jpg        CMYK JPEG q88 (Pillow's RGB to CMYK, no profile)
    icc_jpg         JPEG q88 carrying an sRGB ICC profile
    rot6_jpg        JPEG q88 stored sideways, EXIF orientation 6
    prog_jpg        progressive JPEG q88
    q95_444_jpg     JPEG q95 without chroma subsampling
    gray16_png      16-bit greyscale PNG
    rgb16_png       16-bit RGB PNG (made by libvips' `vips colourspace`)
    pal_png         palette PNG, 256 colours
    la_png          greyscale PNG with alpha
    big_png         RGB PNG 3000 px wide (over pixline's 4 MiB direct decode)
    big_prog_jpg    progressive JPEG q90, 3000 px wide
    webp_ll         lossless WebP
    gif             GIF, 256 colours
    tiff            uncompressed RGB TIFF
Needs Debian's python3-pil and libvips-tools.
"""
import os
import subprocess
import sys

from PIL import Image, ImageCms


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1:]
    names = sorted(n for n in os.listdir(src) if not n.startswith("."))[:40]
    if not names:
        sys.exit(f"make-shapes.py: no photographs in {src}")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    orientation = Image.Exif()
    orientation[0x0112] = 6

    def save(form, name, im, **kw):
        os.makedirs(os.path.join(out, form), exist_ok=True)
        im.save(os.path.join(out, form, name), **kw)
        return os.path.join(out, form, name)

    for i, name in enumerate(names):
        with Image.open(os.path.join(src, name)) as im:
            im.draft("RGB", (3000, 3000))
            photo = im.convert("RGB")
        web = photo.resize((1024, round(photo.height * 1024 / photo.width)), Image.LANCZOS)
        big = photo.resize((3000, round(photo.height * 3000 / photo.width)), Image.LANCZOS)
        stem = f"s{i:02d}"
        save("gray_jpg", stem + ".jpg", web.convert("L"), quality=88)
        save("cmyk_jpg", stem + ".jpg", web.convert("CMYK"), quality=88)
        save("icc_jpg", stem + ".jpg", web, quality=88, icc_profile=srgb)
        save("rot6_jpg", stem + ".jpg", web, quality=88, exif=orientation.tobytes())
        save("prog_jpg", stem + ".jpg", web, quality=88, progressive=True)
        q95 = save("q95_444_jpg", stem + ".jpg", web, quality=95, subsampling=0)
        save("gray16_png", stem + ".png", web.convert("I").point(lambda v: v * 257))
        os.makedirs(os.path.join(out, "rgb16_png"), exist_ok=True)
        subprocess.run(["vips", "colourspace", q95,
                        os.path.join(out, "rgb16_png", stem + ".png"), "rgb16"], check=True)
        save("pal_png", stem + ".png", web.quantize(256))
        save("la_png", stem + ".png", web.convert("LA"))
        save("big_png", stem + ".png", big)
        save("big_prog_jpg", stem + ".jpg", big, quality=90, progressive=True)
        save("webp_ll", stem + ".webp", web, lossless=True)
        save("gif", stem + ".gif", web.convert("P", palette=Image.ADAPTIVE))
        save("tiff", stem + ".tif", web)
    print(f"make-shapes.py: {len(names)} photographs in 15 forms under {out}")


if __name__ == "__main__":
    main()
