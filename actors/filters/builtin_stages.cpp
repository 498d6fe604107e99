// The one place that lists pixline's built-in stages. A user's own stage
// registers through the same stage_registry::add call.

#include "pipeline/registry.hpp"

#include "actors/filters/adjust.hpp"
#include "actors/filters/autorotate.hpp"
#include "actors/filters/blur.hpp"
#include "actors/filters/colourspace.hpp"
#include "actors/filters/crop.hpp"
#include "actors/filters/embed.hpp"
#include "actors/filters/extract.hpp"
#include "actors/filters/flatten.hpp"
#include "actors/filters/flip.hpp"
#include "actors/filters/grayscale.hpp"
#include "actors/filters/icc.hpp"
#include "actors/filters/invert.hpp"
#include "actors/filters/median.hpp"
#include "actors/filters/modulate.hpp"
#include "actors/filters/resize.hpp"
#include "actors/filters/rotate.hpp"
#include "actors/filters/sharpen.hpp"
#include "actors/filters/strip.hpp"
#include "actors/filters/text.hpp"
#include "actors/filters/thumbnail.hpp"
#include "actors/filters/unsharp.hpp"
#include "actors/filters/vips_op.hpp"
#include "actors/filters/watermark.hpp"
#include "actors/io/loader.hpp"
#include "actors/io/writer.hpp"

namespace pixline {

void register_builtin_stages(stage_registry& registry) {
  register_loader(registry);
  register_writer(registry);
  register_commit(registry);
  register_adjust(registry);
  register_autorotate(registry);
  register_blur(registry);
  register_colourspace(registry);
  register_crop(registry);
  register_embed(registry);
  register_extract(registry);
  register_flatten(registry);
  register_flip(registry);
  register_grayscale(registry);
  register_icc(registry);
  register_invert(registry);
  register_median(registry);
  register_modulate(registry);
  register_resize(registry);
  register_rotate(registry);
  register_sharpen(registry);
  register_strip(registry);
  register_text(registry);
  register_thumbnail(registry);
  register_unsharp(registry);
  register_watermark(registry);
  // Every libvips operation from one image to one image, as vips:NAME.
  register_vips_operations(registry);
}

stage_registry builtin_registry() {
  stage_registry result;
  register_builtin_stages(result);
  return result;
}

} // namespace pixline
