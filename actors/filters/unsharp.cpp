#include "actors/filters/unsharp.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

const spec_builder<unsharp_options>& unsharp_spec() {
  static const auto spec
    = spec_builder<unsharp_options>(
        "unsharp",
        "Sharpen each colour band with a classic unsharp mask, as "
        "ImageMagick -unsharp and Pillow UnsharpMask do; much cheaper than "
        "sharpen")
        .example("[[filter]]\ntype = \"unsharp\"\nradius = 1.0\n"
                 "amount = 0.8\nthreshold = 2")
        .number("radius", &unsharp_options::radius, 1.0, 0.1, 100.0,
                "Sigma of the Gaussian blur the image is compared with, in "
                "pixels; larger sharpens coarser detail")
        .number("amount", &unsharp_options::amount, 1.0, 0.0, 10.0,
                "How much of the difference from the blurred image is added "
                "back: 1 = 100%")
        .number("threshold", &unsharp_options::threshold, 0.0, 0.0, 255.0,
                "Differences smaller than this, in 8-bit levels (0..255, "
                "scaled for 16-bit and float images), are left alone, so "
                "flat areas and noise are not sharpened");
  return spec;
}

void register_unsharp(stage_registry& registry) {
  registry.add(unsharp_spec().filter<unsharp_stage>());
}

namespace {

/// What the fused pass needs besides its input image.
struct unsharp_pass {
  /// The Gaussian's taps, normalised to sum 1 (libvips' gaussmat, as
  /// gaussblur uses it); an odd count, centred.
  std::vector<float> taps;
  float amount;
  /// In the image's own levels; 0 sharpens every difference.
  float threshold;
};

/// Per-thread state of one fused pass: the input region and the rows of the
/// horizontal blur.
struct unsharp_sequence {
  VipsRegion* in;
  std::vector<float> across;
  std::vector<float> blurred;
};

void* unsharp_start(VipsImage*, void* a, void*) {
  return new unsharp_sequence{vips_region_new(static_cast<VipsImage*>(a)), {},
                              {}};
}

int unsharp_stop(void* vseq, void*, void*) {
  auto* seq = static_cast<unsharp_sequence*>(vseq);
  g_object_unref(seq->in);
  delete seq;
  return 0;
}

/// out[i] = the taps applied to src[i], src[i + step], src[i + 2 step] ...
/// for n outputs. Loops over taps outside, pixels inside, so the inner loop
/// is a straight multiply-add the compiler vectorises.
template <class T>
void convolve_line(const T* src, std::size_t step, float* out, std::size_t n,
                   const std::vector<float>& taps) {
  float t0 = taps[0];
  for (std::size_t i = 0; i < n; ++i)
    out[i] = t0 * float(src[i]);
  for (std::size_t j = 1; j < taps.size(); ++j) {
    const T* s = src + j * step;
    float t = taps[j];
    for (std::size_t i = 0; i < n; ++i)
      out[i] += t * float(s[i]);
  }
}

/// One line: where |in - blurred| reaches the threshold, in + amount x that
/// difference, rounded and clipped to T; elsewhere in unchanged. Written so
/// that the compiler vectorises it: integer clipping, no library calls.
template <class T>
void unsharp_line(const T* in, const float* blurred, T* out, std::size_t n,
                  float amount, float threshold) {
  constexpr int hi = std::numeric_limits<T>::max();
  for (std::size_t i = 0; i < n; ++i) {
    float v = float(in[i]);
    float d = v - blurred[i];
    // Rounds to nearest where the sum is positive; anything below 0 is
    // clipped to 0 anyway.
    int sharpened = int(v + amount * d + 0.5f);
    sharpened = sharpened < 0 ? 0 : sharpened;
    sharpened = sharpened > hi ? hi : sharpened;
    bool keep = std::fabs(d) < threshold;
    out[i] = T(keep ? int(in[i]) : sharpened);
  }
}

/// libvips generate function. The input is the image with `radius` pixels
/// of its edge copied around it, as libvips' convolutions extend it, so
/// output pixel (x, y) is centred on input pixel (x + radius, y + radius).
/// Blurs across every input line the region needs, then down each output
/// line, and sharpens that line at once.
template <class T>
int unsharp_generate(VipsRegion* out, void* vseq, void*, void* b, gboolean*) {
  auto& seq = *static_cast<unsharp_sequence*>(vseq);
  const auto& pass = *static_cast<const unsharp_pass*>(b);
  const int radius = int(pass.taps.size() / 2);
  const int bands = out->im->Bands;
  const VipsRect& r = out->valid;
  VipsRect need{r.left, r.top, r.width + 2 * radius, r.height + 2 * radius};
  if (vips_region_prepare(seq.in, &need))
    return -1;

  const std::size_t n = std::size_t(r.width) * bands;
  const std::size_t rows = std::size_t(need.height);
  seq.across.resize(rows * n);
  seq.blurred.resize(n);
  for (std::size_t y = 0; y < rows; ++y) {
    auto* src = reinterpret_cast<const T*>(
      VIPS_REGION_ADDR(seq.in, need.left, need.top + int(y)));
    convolve_line(src, std::size_t(bands), &seq.across[y * n], n, pass.taps);
  }
  for (int y = 0; y < r.height; ++y) {
    convolve_line(&seq.across[std::size_t(y) * n], n, seq.blurred.data(), n,
                  pass.taps);
    auto* centre = reinterpret_cast<const T*>(
      VIPS_REGION_ADDR(seq.in, r.left + radius, r.top + y + radius));
    auto* dst = reinterpret_cast<T*>(VIPS_REGION_ADDR(out, r.left, r.top + y));
    unsharp_line(centre, seq.blurred.data(), dst, n, pass.amount,
                 pass.threshold);
  }
  return 0;
}

/// The Gaussian libvips' gaussblur would use for `sigma` at float
/// precision, normalised to sum 1.
std::vector<float> gaussian_taps(double sigma) {
  // gaussblur copies its input below this sigma.
  if (sigma < 0.2)
    return {1.0f};
  auto mask = vips::VImage::gaussmat(
    sigma, 0.2,
    vips::VImage::option()
      ->set("separable", true)
      ->set("precision", VIPS_PRECISION_FLOAT));
  VipsImage* m = mask.get_image();
  double scale = vips_image_get_scale(m);
  std::vector<float> taps;
  for (int x = 0; x < m->Xsize; ++x)
    taps.push_back(float(*reinterpret_cast<const double*>(
                           VIPS_IMAGE_ADDR(m, x, 0))
                         / scale));
  return taps;
}

/// The unsharp mask of an 8- or 16-bit image as one lazy libvips image, blur
/// included: about 5x cheaper than libvips' float gaussblur followed by a
/// pass that sharpens (libvips' float convolution accumulates in double, one
/// pixel at a time).
vips::VImage fused_unsharp(const vips::VImage& x, unsharp_pass pass) {
  int radius = int(pass.taps.size() / 2);
  auto extended = x.embed(
    radius, radius, x.width() + 2 * radius, x.height() + 2 * radius,
    vips::VImage::option()->set("extend", VIPS_EXTEND_COPY));
  auto* generate = x.format() == VIPS_FORMAT_UCHAR
                     ? unsharp_generate<std::uint8_t>
                     : unsharp_generate<std::uint16_t>;
  return generated_image(extended, std::move(pass), x.width(), x.height(),
                         VIPS_DEMAND_STYLE_FATSTRIP, unsharp_start, generate,
                         unsharp_stop);
}

} // namespace

void unsharp_stage::process(image& img) {
  img.pixels = on_colour_bands(img.pixels, [&](const vips::VImage& x) {
    double level = opts_.threshold * max_value_of(x) / 255.0;
    // 8 and 16 bits: blur and sharpen in one pass, in float. Float
    // precision matters: libvips 8.14's integer path for 8-bit images
    // approximates the mask (a flat 200 can blur to 196 or 204), which an
    // unsharp mask would turn into a shift of every flat area.
    if (x.format() == VIPS_FORMAT_UCHAR || x.format() == VIPS_FORMAT_USHORT)
      return fused_unsharp(x, {gaussian_taps(opts_.radius),
                               float(opts_.amount), float(level)});
    // Other formats (float, signed, 32-bit) with libvips' operations.
    auto blurred = x.gaussblur(
      opts_.radius,
      vips::VImage::option()->set("precision", VIPS_PRECISION_FLOAT));
    auto diff = x - blurred;
    auto sharpened = x + diff * opts_.amount;
    if (level <= 0)
      return sharpened;
    return (diff.abs() >= level).ifthenelse(sharpened, x);
  });
}

} // namespace pixline
