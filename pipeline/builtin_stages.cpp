// The one place that lists pixline's built-in stages. A user's own stage
// registers through the same stage_registry::add call.

#include "pipeline/registry.hpp"

#include "actors/filters/autorotate.hpp"
#include "actors/filters/crop.hpp"
#include "actors/filters/resize.hpp"
#include "actors/filters/rotate.hpp"
#include "actors/filters/sharpen.hpp"
#include "actors/filters/thumbnail.hpp"
#include "actors/loader.hpp"
#include "actors/writer.hpp"

namespace pixline {

void register_builtin_stages(stage_registry& registry) {
  register_loader(registry);
  register_writer(registry);
  register_autorotate(registry);
  register_crop(registry);
  register_resize(registry);
  register_rotate(registry);
  register_sharpen(registry);
  register_thumbnail(registry);
}

} // namespace pixline
