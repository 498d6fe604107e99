#include "actors/filters/cmyk.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include <lcms2.h>

#include "actors/filters/pixels.hpp"

namespace pixline {

namespace {

/// libvips' import of CMYK into XYZ, as vips_icc_build() makes it for
/// vips_CMYK2XYZ, built on first use and kept for the process. Built with
/// cmsFLAGS_NOCACHE, so any number of threads may use it at once.
class cmyk_import {
public:
  static const cmyk_import& get() {
    static const cmyk_import import;
    return import;
  }

  cmyk_import(const cmyk_import&) = delete;
  cmyk_import& operator=(const cmyk_import&) = delete;

  ~cmyk_import() {
    if (transform_)
      cmsDeleteTransform(transform_);
    if (profile_)
      vips_area_unref(reinterpret_cast<VipsArea*>(profile_));
  }

  /// nullptr when lcms could not build it.
  cmsHTRANSFORM transform() const { return transform_; }
  /// libvips' built-in CMYK profile, which the XYZ image carries.
  VipsBlob* profile() const { return profile_; }

private:
  cmyk_import() {
    if (vips_profile_load("cmyk", &profile_, nullptr) || !profile_) {
      vips_error_clear();
      profile_ = nullptr;
      return;
    }
    std::size_t length = 0;
    const void* data = vips_blob_get(profile_, &length);
    cmsHPROFILE in = cmsOpenProfileFromMem(data, cmsUInt32Number(length));
    cmsHPROFILE out = cmsCreateXYZProfile();
    if (in && out && cmsGetColorSpace(in) == cmsSigCmykData)
      transform_ = cmsCreateTransform(in, TYPE_CMYK_8, out, TYPE_XYZ_16,
                                      INTENT_RELATIVE_COLORIMETRIC,
                                      cmsFLAGS_NOCACHE);
    if (in)
      cmsCloseProfile(in);
    if (out)
      cmsCloseProfile(out);
  }

  VipsBlob* profile_ = nullptr;
  cmsHTRANSFORM transform_ = nullptr;
};

// vips_icc_import_line()'s decode_xyz(): lcms' 16-bit XYZ (D50, 1.0 at
// 32768) to libvips' float XYZ (D65, 100 at white), with libvips' constants
// and arithmetic.
constexpr double x_fac = VIPS_D50_X0 * 32768 / (VIPS_D65_X0 * 100);
constexpr double y_fac = VIPS_D50_Y0 * 32768 / (VIPS_D65_Y0 * 100);
constexpr double z_fac = VIPS_D50_Z0 * 32768 / (VIPS_D65_Z0 * 100);

int import_generate(VipsRegion* out, void* vseq, void*, void* b, gboolean*) {
  auto* ir = static_cast<VipsRegion*>(vseq);
  auto transform = *static_cast<const cmsHTRANSFORM*>(b);
  const VipsRect* r = &out->valid;
  if (vips_region_prepare(ir, r))
    return -1;
  constexpr int chunk = 512;
  std::array<std::uint16_t, 3 * chunk> encoded;
  for (int y = 0; y < r->height; y++) {
    const auto* p = VIPS_REGION_ADDR(ir, r->left, r->top + y);
    auto* q = reinterpret_cast<float*>(
      VIPS_REGION_ADDR(out, r->left, r->top + y));
    for (int x = 0; x < r->width; x += chunk) {
      const int n = std::min(chunk, r->width - x);
      cmsDoTransform(transform, p + 4 * x, encoded.data(),
                     cmsUInt32Number(n));
      const std::uint16_t* e = encoded.data();
      for (int i = 0; i < n; i++, e += 3, q += 3) {
        q[0] = float(double(e[0]) / x_fac);
        q[1] = float(double(e[1]) / y_fac);
        q[2] = float(double(e[2]) / z_fac);
      }
    }
  }
  return 0;
}

bool is_cmyk8(const vips::VImage& in, VipsInterpretation source) {
  VipsImage* raw = in.get_image();
  return source == VIPS_INTERPRETATION_CMYK && raw->Bands == 4
         && raw->BandFmt == VIPS_FORMAT_UCHAR
         && raw->Coding == VIPS_CODING_NONE;
}

} // namespace

std::optional<vips::VImage> cmyk_to_xyz(const vips::VImage& in) {
  if (!is_cmyk8(in, vips_image_guess_interpretation(in.get_image())))
    return std::nullopt;
  const auto& import = cmyk_import::get();
  if (!import.transform())
    return std::nullopt;
  // As VipsColour builds its output: a thin-strip pipeline on the input,
  // three float bands tagged XYZ.
  auto xyz = generated_image(in, import.transform(), in.width(), in.height(),
                             VIPS_DEMAND_STYLE_THINSTRIP, vips_start_one,
                             import_generate, vips_stop_one,
                             VIPS_FORMAT_FLOAT, 3, VIPS_INTERPRETATION_XYZ);
  // vips_CMYK2XYZ() attaches the built-in profile to its input
  // (vips__profile_set), and the import keeps it on its output.
  std::size_t length = 0;
  const void* data = vips_blob_get(import.profile(), &length);
  vips_image_set_blob_copy(xyz.get_image(), VIPS_META_ICC_NAME, data, length);
  return xyz;
}

vips::VImage colourspace_of(const vips::VImage& in, VipsInterpretation target,
                            VipsInterpretation source) {
  const bool given = source != VIPS_INTERPRETATION_ERROR;
  if (!given)
    source = vips_image_guess_interpretation(in.get_image());
  // No conversion: libvips would copy every pixel into a new image
  // (vips_image_write), to give the same pixels and fields. libvips
  // guesses after unpacking a Radiance-coded image: that is its to do.
  const auto from
    = source == VIPS_INTERPRETATION_RGB ? VIPS_INTERPRETATION_sRGB : source;
  if (from == target && in.get_image()->Coding != VIPS_CODING_RAD)
    return in;
  if (target != VIPS_INTERPRETATION_CMYK && is_cmyk8(in, source)) {
    if (auto xyz = cmyk_to_xyz(in))
      return xyz->colourspace(
        target,
        vips::VImage::option()->set("source_space", VIPS_INTERPRETATION_XYZ));
  }
  auto* options = vips::VImage::option();
  if (given)
    options->set("source_space", source);
  return in.colourspace(target, options);
}

} // namespace pixline
