// A plugin that registers a stage under a built-in stage's name.
#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace {

struct no_options {};

class nothing : public pixline::stage {
public:
  explicit nothing(no_options) {
  }
  void process(pixline::image&) override {
  }
};

void register_clash(pixline::stage_registry& registry) {
  static const auto spec
    = pixline::spec_builder<no_options>("resize", "Not the real resize");
  registry.add(spec.filter<nothing>());
}

} // namespace

PIXLINE_PLUGIN("duplicate", register_clash)
