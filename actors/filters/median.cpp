#include "actors/filters/median.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "actors/filters/pixels.hpp"
#include "pipeline/registry.hpp"

namespace pixline {

namespace {

constexpr int min_size = 3;
constexpr int max_size = 99;

} // namespace

const spec_builder<median_options>& median_spec() {
  static const auto spec
    = spec_builder<median_options>("median",
                                   "Median filter: removes speckle and "
                                   "salt-and-pepper noise, keeps edges "
                                   "(libvips rank)")
        .example("[[filter]]\ntype = \"median\"\nsize = 3")
        .integer("size", &median_options::size, 3, min_size, max_size,
                 "Side of the square window in pixels, odd; the cost grows "
                 "with its square")
        .validate([](const median_options& o) {
          if (o.size < min_size || o.size > max_size || o.size % 2 == 0)
            throw std::invalid_argument(fmt::format(
              "option 'size' must be odd, between {} and {}, got {}",
              min_size, max_size, o.size));
        });
  return spec;
}

void register_median(stage_registry& registry) {
  registry.add(median_spec().filter<median_stage>());
}

median_stage::median_stage(median_options opts) : opts_(opts) {
  median_spec().enforce(opts_);
}

void median_stage::process(image& img) {
  img.pixels = on_colour_bands(img.pixels, [&](const vips::VImage& x) {
    return x.rank(opts_.size, opts_.size, opts_.size * opts_.size / 2);
  });
}

} // namespace pixline
