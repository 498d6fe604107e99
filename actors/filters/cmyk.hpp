#pragma once

#include <optional>

#include <vips/vips8>

namespace pixline {

/// CMYK images into other colour spaces without building a colour transform
/// per image.
///
/// libvips 8.14's colourspace turns CMYK into anything else through XYZ
/// (vips_CMYK2XYZ, an ICC import) and builds a new lcms transform for every
/// image it converts. Building one samples the CMYK profile into a 4-D
/// table, which costs more than converting a 1 MP photo's pixels: for a
/// thumbnail it is most of the work. The import here is libvips' own, with
/// its transform built once per process.

/// libvips 8.14's CMYK2XYZ of an 8-bit, 4-band CMYK image: the built-in
/// "cmyk" profile (which libvips' colourspace uses whatever profile the
/// image embeds), relative colorimetric intent, no black point
/// compensation, 16-bit XYZ decoded to float as libvips decodes it. The
/// same float pixels and the same fields, the built-in profile attached as
/// libvips attaches it. nullopt for any other image, or when lcms cannot
/// build the transform: libvips then converts it (and reports why not).
std::optional<vips::VImage> cmyk_to_xyz(const vips::VImage& in);

/// `in.colourspace(target)`, with source_space = `source` unless that is
/// VIPS_INTERPRETATION_ERROR (libvips then guesses, as without the
/// option): the same pixels and fields, with two shortcuts. An image already in `target`
/// (RGB counting as sRGB, as libvips counts it) is `in` itself, where
/// libvips copies every pixel into a new image. A CMYK image (source CMYK,
/// 8-bit, 4 bands) going to another space is imported by cmyk_to_xyz and
/// then converted by libvips from XYZ, the route libvips' colourspace
/// takes.
vips::VImage colourspace_of(const vips::VImage& in, VipsInterpretation target,
                            VipsInterpretation source
                            = VIPS_INTERPRETATION_ERROR);

} // namespace pixline
