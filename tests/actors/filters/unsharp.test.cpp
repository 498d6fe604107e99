#include "actors/filters/unsharp.hpp"

#include <algorithm>
#include <vector>

#include <catch2/catch.hpp>

#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return unsharp_spec().filter<unsharp_stage>();
}

vips::VImage unsharp(const option_map& values, const vips::VImage& in) {
  return apply_stage(spec(), values, in);
}

void check_unchanged(const vips::VImage& out, const vips::VImage& in) {
  REQUIRE(out.format() == in.format());
  for (int x = 0; x < in.width(); ++x) {
    CAPTURE(x);
    CHECK(pixel(out, x, 8) == pixel(in, x, 8));
  }
}

} // namespace

TEST_CASE("unsharp: decoding no options gives the documented defaults",
          "[stage][unsharp]") {
  auto d = unsharp_spec().decode({});
  CHECK(d.radius == 1.0);
  CHECK(d.amount == 1.0);
  CHECK(d.threshold == 0.0);
  auto reg = builtin_registry();
  REQUIRE(reg.find("unsharp"));
  CHECK(reg.find("unsharp")->make);
}

TEST_CASE("unsharp: the spec rejects out-of-range values", "[stage][unsharp]") {
  CHECK(option_error(spec(), {{"radius", 2.5}}).empty());
  CHECK(option_error(spec(), {{"threshold", std::int64_t{3}}}).empty());
  CHECK_THAT(option_error(spec(), {{"radius", 0.0}}), Contains("'radius'"));
  CHECK_THAT(option_error(spec(), {{"amount", -0.5}}), Contains("'amount'"));
  CHECK_THAT(option_error(spec(), {{"threshold", 256.0}}),
             Contains("'threshold'"));
  CHECK_THAT(option_error(spec(), {{"sigma", 1.0}}),
             Contains("no option 'sigma'"));
}

TEST_CASE("unsharp: a blurred edge gets overshoot, flat areas stay",
          "[stage][unsharp]") {
  auto blurred = step_edge(1.5);
  auto out = unsharp({{"radius", 1.5}}, blurred);
  CHECK(out.width() == 64);
  CHECK(out.height() == 16);
  CHECK(out.bands() == 3);
  CHECK(out.format() == VIPS_FORMAT_UCHAR);
  double before = edge_contrast(blurred);
  REQUIRE(before == Approx(150).margin(1));
  CHECK(edge_contrast(out) > before + 20);
  // Darker just before the edge, brighter just after.
  CHECK(pixel(out, 29, 8)[0] < pixel(blurred, 29, 8)[0] - 5);
  CHECK(pixel(out, 34, 8)[0] > pixel(blurred, 34, 8)[0] + 5);
  for (int x : {2, 10, 52, 61}) {
    CAPTURE(x);
    CHECK(pixel(out, x, 8)[0] == pixel(blurred, x, 8)[0]);
  }
}

TEST_CASE("unsharp: the overshoot grows with amount and is clipped",
          "[stage][unsharp]") {
  auto blurred = step_edge(1.5, 10, 245);
  auto a = unsharp({{"radius", 1.5}, {"amount", 0.5}}, blurred);
  auto b = unsharp({{"radius", 1.5}, {"amount", 2.0}}, blurred);
  CHECK(pixel(b, 34, 8)[0] > pixel(blurred, 34, 8)[0]);
  CHECK(pixel(b, 34, 8)[0] > pixel(a, 34, 8)[0]);
  CHECK(pixel(b, 30, 8)[0] < pixel(a, 30, 8)[0]);
  // 8-bit stays 8-bit: the overshoot past 0 and 255 is clipped.
  CHECK(b.min() >= 0);
  CHECK(b.max() <= 255);
  CHECK(b.max() == 255);
  CHECK(b.min() == 0);
}

TEST_CASE("unsharp: amount 0 and a threshold above every difference change "
          "nothing",
          "[stage][unsharp]") {
  auto blurred = step_edge(1.5);
  check_unchanged(unsharp({{"amount", 0.0}}, blurred), blurred);
  check_unchanged(unsharp({{"threshold", 255.0}}, blurred), blurred);
}

TEST_CASE("unsharp: the threshold spares weak edges and sharpens strong ones",
          "[stage][unsharp]") {
  // A weak edge (8 levels) and a strong one (150), side by side.
  auto weak = step_edge(1.0, 100, 108);
  auto strong = step_edge(1.0, 50, 200);
  auto both = weak.join(strong, VIPS_DIRECTION_VERTICAL);
  option_map values{{"amount", 1.0}, {"threshold", 10.0}};
  auto out = unsharp(values, both);
  auto out_weak = out.extract_area(0, 0, 64, 16);
  auto out_strong = out.extract_area(0, 16, 64, 16);
  check_unchanged(out_weak, weak);
  CHECK(edge_contrast(out_strong) > edge_contrast(strong) + 20);
  // Without the threshold, the weak edge is sharpened too.
  auto all = unsharp({{"amount", 1.0}}, both).extract_area(0, 0, 64, 16);
  CHECK(edge_contrast(all) > edge_contrast(weak));
}

TEST_CASE("unsharp: alpha is kept and 16-bit images stay 16-bit",
          "[stage][unsharp]") {
  auto edge = step_edge(1.5);
  auto alpha = vips::VImage::xyz(64, 16)[0].linear(4.0, 0.0).cast(
    VIPS_FORMAT_UCHAR);
  auto rgba = edge.bandjoin(alpha).copy(
    vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
  auto out = unsharp({{"radius", 1.5}}, rgba);
  REQUIRE(out.bands() == 4);
  CHECK(edge_contrast(out) > edge_contrast(edge) + 20);
  for (int x = 0; x < 64; ++x) {
    CAPTURE(x);
    CHECK(pixel(out, x, 8)[3] == pixel(rgba, x, 8)[3]);
  }

  auto deep = edge.cast(VIPS_FORMAT_USHORT)
                .linear(257.0, 0.0)
                .cast(VIPS_FORMAT_USHORT)
                .copy(vips::VImage::option()->set(
                  "interpretation", VIPS_INTERPRETATION_RGB16));
  auto out16 = unsharp({{"radius", 1.5}, {"threshold", 255.0}}, deep);
  CHECK(out16.format() == VIPS_FORMAT_USHORT);
  // The threshold is in 8-bit levels, scaled by 257: 255 spares everything.
  check_unchanged(out16, deep);
  auto sharp16 = unsharp({{"radius", 1.5}}, deep);
  CHECK(edge_contrast(sharp16) > edge_contrast(deep) + 20 * 257);
}

TEST_CASE("unsharp: flat areas of any level and radius stay exactly as they "
          "are",
          "[stage][unsharp]") {
  // libvips' 8-bit integer blur approximates its mask; this stage must not.
  for (double level : {1.0, 50.0, 127.0, 200.0, 255.0})
    for (double radius : {0.3, 1.0, 1.3, 2.5, 10.0}) {
      CAPTURE(level, radius);
      auto flat = solid(48, 48, level, level, level);
      auto out = unsharp({{"radius", radius}, {"amount", 2.0}}, flat);
      CHECK(out.min() == level);
      CHECK(out.max() == level);
    }
}

TEST_CASE("unsharp: the one-pass 8- and 16-bit results match the formula "
          "in libvips' arithmetic",
          "[stage][unsharp]") {
  // A busy picture: the test card with noise on it.
  auto noise = vips::VImage::gaussnoise(96, 64, vips::VImage::option()
                                                  ->set("sigma", 30.0)
                                                  ->set("mean", 0.0));
  auto card = (test_card(96, 64) + noise.bandjoin(noise).bandjoin(noise))
                .cast(VIPS_FORMAT_UCHAR)
                .copy(vips::VImage::option()->set("interpretation",
                                                  VIPS_INTERPRETATION_sRGB))
                .copy_memory();
  struct params {
    double radius;
    double amount;
    double threshold;
  };
  auto p = GENERATE(values<params>({{1.0, 0.8, 2.0},
                                    {2.5, 1.5, 0.0},
                                    {1.5, 3.0, 20.0}}));
  bool deep = GENERATE(false, true);
  CAPTURE(p.radius, p.amount, p.threshold, deep);
  auto in = deep ? (card.cast(VIPS_FORMAT_USHORT) * 257)
                     .cast(VIPS_FORMAT_USHORT)
                     .copy(vips::VImage::option()->set(
                       "interpretation", VIPS_INTERPRETATION_RGB16))
                     .copy_memory()
                 : card;
  double scale = deep ? 257.0 : 1.0;
  auto out = unsharp(
    {{"radius", p.radius}, {"amount", p.amount}, {"threshold", p.threshold}},
    in);
  REQUIRE(out.format() == in.format());

  auto blurred = in.gaussblur(
    p.radius, vips::VImage::option()->set("precision", VIPS_PRECISION_FLOAT));
  auto diff = in.cast(VIPS_FORMAT_DOUBLE) - blurred;
  auto sharpened = in.cast(VIPS_FORMAT_DOUBLE) + diff * p.amount;
  auto expected = (diff.abs() >= p.threshold * scale)
                    .ifthenelse(sharpened, in.cast(VIPS_FORMAT_DOUBLE))
                    .round(VIPS_OPERATION_ROUND_RINT)
                    .cast(in.format());
  auto differs = (out.cast(VIPS_FORMAT_DOUBLE) - expected).abs();
  // Float and double arithmetic may round a .5 differently.
  CHECK(differs.max() <= 1);
  CHECK(differs.avg() < 0.01);
  // And it did sharpen: more variation than the input.
  CHECK(out.deviate() > in.deviate());
}
