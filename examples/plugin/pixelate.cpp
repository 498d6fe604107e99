// A plugin: the "pixelate" stage, built as a shared library that pixline
// loads at run time, so it works from config files and the command line
// without recompiling pixline.
//
//   files ─▶ load ─▶ thumbnail ─▶ pixelate(size) ─▶ save
//                                 └ from libpixelate.so
//
//   pixline run --plugin build/examples/libpixelate.so -i photos/ -o out/
//     --chain 'thumbnail width=320 ! pixelate size=16 ! save format=png' 
//
// or in a config file:  plugins = ["build/examples/libpixelate.so"]
//
// It is built against pixline's headers only (the pixline::plugin CMake
// target); pixline's symbols come from the program that loads it.
// docs/extending.md explains each part.

#include <vips/vips8>

#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace {

/// The stage's typed options.
struct pixelate_options {
  int size;
};

/// The stage: averages each size x size block and paints it in that colour.
class pixelate_stage : public pixline::stage {
public:
  explicit pixelate_stage(pixelate_options opts) : opts_(opts) {
  }

  void process(pixline::image& img) override {
    auto& in = img.pixels;
    int width = in.width();
    int height = in.height();
    // shrink averages the blocks, zoom repeats each average; embed trims
    // (or, for a last partial block, extends) back to the input's size.
    img.pixels = in.shrink(opts_.size, opts_.size)
                   .zoom(opts_.size, opts_.size)
                   .embed(0, 0, width, height,
                          vips::VImage::option()->set("extend",
                                                      VIPS_EXTEND_COPY))
                   .cast(in.format());
  }

private:
  pixelate_options opts_;
};

/// The spec: it validates config and --chain options, and documents them
/// in `pixline stages pixelate`.
const pixline::spec_builder<pixelate_options>& pixelate_spec() {
  static const auto spec
    = pixline::spec_builder<pixelate_options>(
        "pixelate", "Paint the image in square blocks of their average colour")
        .example("[[filter]]\ntype = \"pixelate\"\nsize = 16")
        .integer("size", &pixelate_options::size, 8, 2, 1024,
                 "Block size in pixels");
  return spec;
}

void register_pixelate(pixline::stage_registry& registry) {
  registry.add(pixelate_spec().filter<pixelate_stage>());
}

} // namespace

// The one symbol pixline looks for: the plugin's name, its registration
// function, and what it was built against (checked when it is loaded).
PIXLINE_PLUGIN("pixelate", register_pixelate)
