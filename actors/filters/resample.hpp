#pragma once

#include <atomic>

#include <vips/vips8>

#include "pipeline/spec.hpp"

namespace pixline {

/// The resampling kernels' names, in the order the specs of `resize` and
/// `thumbnail` list them (nearest, linear, cubic, mitchell, lanczos2,
/// lanczos3), for choice_names and choice_value.
extern const choice_table<VipsKernel, 6> kernel_table;

/// Resampling shared by the `resize` and `thumbnail` stages: libvips' own,
/// bit for bit for 8-bit images, with a faster loop for the one step
/// libvips 8.14 runs without vector code, and float images (alpha,
/// premultiplied) reduced in the order that needs less memory.

/// libvips 8.14's premultiply(in) with its default max_alpha: the same
/// float pixels, with the factor of each alpha value worked out once rather
/// than a division per pixel. Formats other than 8 bits, 16-bit
/// interpretations and a single band go to libvips.
vips::VImage premultiply_image(const vips::VImage& in);

/// libvips 8.14's reduceh: shrinks `in` horizontally by `hshrink` (>= 1)
/// with `kernel`, first by a whole factor with a box filter where `gap`
/// (0, or >= 1) leaves room for one. The same pixels as libvips, but for
/// 8-bit images with 3 or 4 bands the taps are summed two at a time for
/// every band by one SSE2 instruction, where libvips' loop handles one tap
/// of one band at a time (its vertical reduce has a vector path, its
/// horizontal one does not). Float images (an image with alpha,
/// premultiplied) get the same doubles as libvips' float loops, the box
/// shrink's and the reduce's, for RGBA and grey with alpha two bands per
/// SSE2 instruction, or four per AVX instruction where the processor has
/// it. The box shrink is pixline's too (libvips' shrinkh pixels, averaged
/// by an exact multiply or a table rather than a division per band). Other
/// formats and codings, the nearest kernel and arguments libvips rejects go
/// to libvips.
vips::VImage reduce_width(const vips::VImage& in, double hshrink,
                          VipsKernel kernel, double gap);

/// libvips 8.14's reducev: shrinks `in` vertically by `vshrink` (>= 1), the
/// same pixels as libvips' vector (orc) path for 8-bit images, which is what
/// libvips runs for them, but without compiling orc programs for every
/// image: for a small image that compile cost more CPU than the reduce
/// itself. 16 values per SSE2 instruction, 32 per AVX2 one. The box shrink
/// first, where `gap` leaves room, is pixline's as in reduce_width (libvips'
/// shrinkv pixels, 8-bit and float). Other formats
/// and codings, the nearest kernel, masks longer than libvips' vector path
/// takes, arguments libvips rejects and a libvips with vector code turned
/// off (VIPS_NOVECTOR) go to libvips.
vips::VImage reduce_height(const vips::VImage& in, double vshrink,
                           VipsKernel kernel, double gap);

/// libvips 8.14's resize(in, hscale, vscale = `vscale`, kernel, gap): the
/// same pixels, with the reductions done by reduce_width and reduce_height
/// when neither axis is enlarged. Enlarging and the nearest kernel go to libvips.
/// A float image reduced on both axes (an image with alpha, premultiplied)
/// is reduced across first (across_first()): within one level of libvips
/// once cast back to 8 bits.
vips::VImage resize_image(const vips::VImage& in, double hscale,
                          double vscale, VipsKernel kernel, double gap);

/// Whether resize_image reduces `in` across before down, where libvips
/// goes down first. libvips' vertical reduction keeps caches of whole
/// input rows, which for a wide float image hold most of it: a 1600x1600
/// RGBA PNG premultiplied and reduced to 256 px took 33 MB of libvips'
/// buffers down first and 13 MB across first (bench/HISTORY.md, "PNGs
/// with alpha"). In float the two orders differ by rounding only. 8-bit
/// images keep libvips' order, and its pixels exactly.
bool across_first(const VipsImage* in);

/// Set, the resampling loops keep to SSE2 where the processor has AVX or
/// AVX2, whose loops (reduce_width's float rows four doubles at a time,
/// reduce_height's 8-bit rows 32 values at a time) give the same values:
/// for the tests, which compare both with libvips, and for measuring one
/// against the other. Not for use while images are being computed.
extern std::atomic<bool> resample_sse2_only;

/// `in` with a line cache of `tile_height` rows (libvips' sequential()),
/// where libvips puts one after a load and after a large vertical reduce,
/// if more than one thread may compute the image (vips_concurrency above
/// 1); otherwise `in` itself. The cache is for a thread that stalls while
/// others read a sequential input past the rows it needs. One thread asks
/// for rows in order, and the loader's own line cache serves the rows a
/// reduce reads twice, so the cache would only copy every row once more:
/// on small images, its regions and copies were 5 % of pixline's CPU
/// (bench/HISTORY.md, "Line caches").
vips::VImage cache_for_threads(const vips::VImage& in, int tile_height);

} // namespace pixline
