#pragma once

#include <optional>
#include <string>

#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace pixline {

class stage_registry;

/// Options of the `thumbnail` stage (libvips `thumbnail`: fit into a box,
/// with shrink-on-load when it comes first after the loader).
struct thumbnail_options {
  /// The box: a side left 0 is unbounded (the other one alone sets the
  /// scale and the aspect ratio is kept), except with `crop` or size
  /// "force", where it is the other side (a square). Both 0: 256x256.
  int width;
  int height;
  /// "both", "up", "down" or "force" (libvips VipsSize).
  std::string size;
  /// "none", "centre", "attention" or "entropy" (libvips VipsInteresting).
  std::string crop;
  bool no_rotate;
  bool linear;
  /// JPEG: decode at the smallest DCT scale (1/2, 1/4, 1/8) that is still
  /// at least the target size, rather than libvips' choice, which leaves a
  /// factor of two for the final resize.
  bool fast_shrink_on_load;
  /// The kernel of pixline's resize (resize_image): "nearest", "linear",
  /// "cubic", "mitchell", "lanczos2" or "lanczos3". Images that libvips'
  /// own thumbnail resizes (see load_fused and resize_upright) get
  /// lanczos3 whatever this says: libvips 8.14's thumbnail has no kernel.
  std::string kernel;
};

/// Sizes a thumbnail works out before touching any pixel.
struct thumbnail_geometry {
  /// Size after resizing (and autorotating), before cropping.
  int resize_width = 0;
  int resize_height = 0;
  /// Final size: the resized size, clipped to the box when cropping.
  int width = 0;
  int height = 0;
  /// True when the image is turned by a quarter (EXIF orientation 5..8 and
  /// not no_rotate): the sizes above are upright, the stored image has
  /// width and height the other way round.
  bool swapped = false;
};

/// The `thumbnail` stage. Geometry is computed once from the input size and
/// libvips is then asked for exactly that size, so loading with
/// shrink-on-load (`load_fused`) and thumbnailing a loaded image (`process`)
/// give the same output size.
class thumbnail_stage : public stage {
public:
  /// Throws std::invalid_argument on an unknown `size`, `crop` or `kernel`,
  /// and on a kernel other than lanczos3 with `linear` or without
  /// `fast_shrink_on_load` (libvips' thumbnail then does the resize, with
  /// lanczos3 only).
  explicit thumbnail_stage(thumbnail_options opts);

  void process(image& img) override;

  bool fuses_load() const override {
    return true;
  }

  /// Opens `path` shrunk on load, honouring `params.fail_on`; the geometry
  /// comes from `header`. A JPEG is decoded with libjpeg's shrink and a
  /// still WebP at libwebp's scale (by pixline's decoders when the file is
  /// in memory, else reopened by libvips), then resized by resize_upright;
  /// a format libvips' thumbnail does not shrink on load (PNG, GIF, a
  /// one-page TIFF...: libvips_shrinks_on_load) is declined (the loader
  /// then calls process on `header`); the others go to
  /// `vips::VImage::thumbnail` (animated WebP, HEIF, PDF, SVG, TIFF
  /// pyramids shrink on load there).
  std::optional<vips::VImage> load_fused(const std::string& path,
                                         const vips::VImage& header,
                                         const load_params& params) override;

  /// The geometry of the thumbnail of a `width` x `height` image carrying
  /// EXIF `orientation` (1..8; 5..8 swap the axes unless `no_rotate`).
  thumbnail_geometry plan(int width, int height, int orientation) const;

private:
  vips::VOption* resize_options(const thumbnail_geometry& g) const;
  vips::VImage finish(vips::VImage img, const thumbnail_geometry& g) const;
  /// libvips' vips_thumbnail_image(loaded, resize_options(g)), resized by
  /// resize_image(): the same pixels, within a level for images with alpha.
  vips::VImage resize_upright(const vips::VImage& loaded,
                              const thumbnail_geometry& g) const;
  /// Whether libvips 8.14's thumbnail may shrink the file of `header` on
  /// load (vips_thumbnail_open): JPEG, WebP, OpenSlide, PDF, SVG, HEIF, and
  /// TIFF and JPEG 2000 with several pages or sub-IFDs (a pyramid).
  static bool libvips_shrinks_on_load(const vips::VImage& header);
  /// The JPEG shrink factor fast_shrink_on_load uses for `header` (1, 2, 4
  /// or 8), or 0 when it does not apply (another format, linear light, or
  /// fast_shrink_on_load off).
  int fast_jpeg_shrink(const vips::VImage& header,
                       const thumbnail_geometry& g) const;
  /// The scale (0 < scale <= 1) fast_shrink_on_load decodes a still WebP
  /// `header` at, libvips' thumbnail's: the larger of the two axes' scales
  /// to the planned size, at most 1. 0 when it does not apply (another
  /// format, an animation, linear light, or fast_shrink_on_load off).
  double fast_webp_scale(const vips::VImage& header,
                         const thumbnail_geometry& g) const;

  thumbnail_options opts_;
  /// The box as it applies: a side 0 is unbounded.
  int box_width_ = 0;
  int box_height_ = 0;
  VipsSize size_;
  VipsInteresting crop_;
  VipsKernel kernel_;
};

/// The spec of `thumbnail`: options, defaults, ranges and docs.
const spec_builder<thumbnail_options>& thumbnail_spec();

/// Adds `thumbnail` to `registry`.
void register_thumbnail(stage_registry& registry);

} // namespace pixline
