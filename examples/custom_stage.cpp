// A custom stage in your own program: "posterize" reduces each band to a few
// levels. It is registered with the same call the built-in stages use, then
// a pipeline is built in code and run.
//
//   files ─▶ load ─▶ thumbnail(320) ─▶ posterize(levels) ─▶ save(png)
//
//   custom_stage INPUT_DIR OUTPUT_DIR [LEVELS]

#include <cstdio>
#include <string>

#include <vips/vips8>

#include "actors/process/worker_main.hpp"
#include "pipeline/registry.hpp"
#include "actors/run/run.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/stage.hpp"

namespace {

/// The stage's typed options.
struct posterize_options {
  int levels;
};

/// The stage: a plain function on an image, no actors in sight.
class posterize_stage : public pixline::stage {
public:
  explicit posterize_stage(posterize_options opts) : opts_(opts) {
  }

  void process(pixline::image& img) override {
    double step = 256.0 / opts_.levels;
    img.pixels = ((img.pixels / step).floor() * step)
                   .cast(VIPS_FORMAT_UCHAR);
  }

private:
  posterize_options opts_;
};

/// The spec: name, summary, each option's type, default, range and doc.
const pixline::spec_builder<posterize_options>& posterize_spec() {
  static const auto spec
    = pixline::spec_builder<posterize_options>(
        "posterize", "Reduce each band to a few levels")
        .example("[[filter]]\ntype = \"posterize\"\nlevels = 4")
        .integer("levels", &posterize_options::levels, 4, 2, 128,
                 "Levels per band");
  return spec;
}

} // namespace

int main(int argc, char** argv) {
  // Images are worked on in sandboxed worker processes, which are this
  // program started again: it must serve them first thing, with the stages
  // it adds (docs/extending.md).
  if (auto rc = pixline::run_worker_if_asked([](pixline::stage_registry& r) {
        r.add(posterize_spec().filter<posterize_stage>());
      }))
    return *rc;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s INPUT_DIR OUTPUT_DIR [LEVELS]\n", argv[0]);
    return 2;
  }
  if (VIPS_INIT(argv[0]))
    return 3;

  // Built-in stages plus ours, through the same call.
  auto registry = pixline::builtin_registry();
  registry.add(posterize_spec().filter<posterize_stage>());

  // The pipeline a config file would describe, built in code.
  pixline::pipeline_config config;
  config.pipeline.name = "posterize-example";
  config.pipeline.max_in_flight = 4;
  config.source.configured = true;
  config.source.kind = "directory";
  config.source.path = argv[1];
  pixline::filter_section thumbnail;
  thumbnail.type = "thumbnail";
  thumbnail.options = {{"width", std::int64_t{320}}};
  pixline::filter_section posterize;
  posterize.type = "posterize";
  posterize.options = {{"levels", std::int64_t{argc > 3 ? std::stoi(argv[3]) : 4}}};
  // Options from code are checked against the spec just like config files.
  if (auto err = pixline::check_options(*registry.find("posterize"),
                                        posterize.options)) {
    std::fprintf(stderr, "posterize: %s\n", err->c_str());
    return 2;
  }
  config.filters = {thumbnail, posterize};
  config.sink().options = {{"path", std::string{argv[2]}},
                         {"format", std::string{"png"}}};

  auto report = pixline::run_pipeline(config, registry);
  std::printf("%zu images: %zu written, %zu failed\n", report.total,
              report.succeeded, report.failures.size());
  for (auto& j : report.failures)
    std::printf("  %s [%s]: %s\n", j.path.c_str(), j.failed_stage.c_str(),
                j.error.c_str());
  vips_shutdown();
  return report.failures.empty() ? 0 : 1;
}
