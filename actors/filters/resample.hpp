#pragma once

#include <vips/vips8>

namespace pixline {

/// Resampling shared by the `resize` and `thumbnail` stages: libvips' own,
/// bit for bit, with a faster loop for the one step libvips 8.14 runs
/// without vector code.

/// libvips 8.14's reduceh: shrinks `in` horizontally by `hshrink` (>= 1)
/// with `kernel`, first by a whole factor with a box filter where `gap`
/// (0, or >= 1) leaves room for one. The same pixels as libvips, but for
/// 8-bit images with 3 or 4 bands the taps are summed two at a time for
/// every band by one SSE2 instruction, where libvips' loop handles one tap
/// of one band at a time (its vertical reduce has a vector path, its
/// horizontal one does not). Other formats, codings and band counts, the
/// nearest kernel and arguments libvips rejects go to libvips.
vips::VImage reduce_width(const vips::VImage& in, double hshrink,
                          VipsKernel kernel, double gap);

/// libvips 8.14's resize(in, hscale, vscale = `vscale`, kernel, gap): the
/// same pixels, with the horizontal reduction done by reduce_width when
/// neither axis is enlarged. Enlarging and the nearest kernel go to libvips.
vips::VImage resize_image(const vips::VImage& in, double hscale,
                          double vscale, VipsKernel kernel, double gap);

} // namespace pixline
