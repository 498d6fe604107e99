// A stage that takes a fixed time per image (and changes nothing), so tests
// can have images in flight on a node when they kill it.
#include <chrono>
#include <thread>

#include "pipeline/plugin.hpp"
#include "pipeline/registry.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace {

struct slow_options {
  int ms;
};

class slow : public pixline::stage {
public:
  explicit slow(slow_options opts) : opts_(opts) {
  }
  void process(pixline::image&) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(opts_.ms));
  }

private:
  slow_options opts_;
};

void register_slow(pixline::stage_registry& registry) {
  static const auto spec
    = pixline::spec_builder<slow_options>("slow", "Waits, changes nothing")
        .integer("ms", &slow_options::ms, 200, 0, 60000,
                 "Milliseconds per image");
  registry.add(spec.filter<slow>());
}

} // namespace

PIXLINE_PLUGIN("slow", register_slow)
