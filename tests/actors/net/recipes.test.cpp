#include "actors/net/recipes.hpp"

#include <catch2/catch.hpp>

#include "actors/io/loader.hpp"
#include "actors/io/writer.hpp"
#include "pipeline/job.hpp"
#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

const stage_registry& registry() {
  static const auto result = builtin_registry();
  return result;
}

std::vector<std::uint8_t> bytes_of(const fs::path& file) {
  auto text = read_file(file);
  return {text.begin(), text.end()};
}

option_map defaults_of(const stage_spec& spec) {
  option_map values;
  for (auto& o : spec.options)
    values[o.name] = o.default_value;
  return values;
}

} // namespace

TEST_CASE("a node's load worker decodes the bytes it is sent", "[remote]") {
  temp_dir dir;
  auto card = test_card(120, 80);
  save(card, dir.path() / "card.png");
  auto recipe = load_recipe(defaults_of(*registry().find("load")),
                            load_params{}, "", {});
  auto make = node_worker_factory(recipe, registry());
  auto work = make();
  wire_job in;
  in.name = "sub/card.png";
  in.file = bytes_of(dir.path() / "card.png");
  auto r = work(in);
  REQUIRE(r.error.empty());
  CHECK(r.image.input_format == "png");
  auto img = from_wire(r.image);
  CHECK(img.width() == 120);
  CHECK(pixel(img, 7, 9) == pixel(card, 7, 9));

  SECTION("a fused thumbnail shrinks on the node") {
    option_map thumb{{"width", std::int64_t{30}}};
    auto fused = node_worker_factory(
      load_recipe(defaults_of(*registry().find("load")), load_params{},
                  "thumbnail", thumb),
      registry())();
    auto small = fused(in);
    REQUIRE(small.error.empty());
    CHECK(small.image.width == 30);
  }

  SECTION("a file libvips cannot read fails with its name, not the "
          "node's buffer") {
    in.file.resize(in.file.size() / 2);
    auto bad = work(in);
    CHECK_FALSE(bad.error.empty());
    CHECK_THAT(bad.error, !Catch::Contains("/proc/self/fd"));
    in.file = {'n', 'o', 'p', 'e'};
    CHECK(work(in).error == "not an image file libvips can read");
  }
}

TEST_CASE("a node's save worker encodes what the coordinator's writer "
          "would have written",
          "[remote]") {
  temp_dir dir;
  auto sink = defaults_of(*registry().find("save"));
  sink["path"] = dir.path().string();
  sink["format"] = std::string{"jpeg"};
  sink["naming"] = std::string{"{stem}-{hash}.{ext}"};
  auto work
    = node_worker_factory(save_recipe({{sink, {}}}, 1 << 20), registry())();
  wire_job in;
  in.name = "card.png";
  in.image = to_wire(test_card(100, 70), "png");
  auto r = work(in);
  REQUIRE(r.error.empty());
  REQUIRE(r.outputs.size() == 1);
  CHECK(r.outputs[0].format == "jpeg");
  CHECK(r.outputs[0].width == 100);
  // The node wrote nothing; the coordinator's half writes the bytes.
  CHECK(files_in(dir.path()).empty());
  writer w{writer_spec().decode(sink)};
  job j;
  j.path = "card.png";
  auto out = w.store(j, r.outputs[0]);
  REQUIRE(out);
  CHECK(read_file(out->path).size() == r.outputs[0].bytes.size());
  // Same bytes as a local save of the same image.
  temp_dir local;
  sink["path"] = local.path().string();
  writer lw{writer_spec().decode(sink)};
  image img;
  img.pixels = from_wire(in.image);
  img.input_format = "png";
  auto local_out = lw.save(img, j);
  REQUIRE(local_out);
  CHECK(read_file(local_out->path) == read_file(out->path));
  CHECK(fs::path(local_out->path).filename() == fs::path(out->path).filename());
}

TEST_CASE("a recipe naming a stage the node lacks is refused at setup",
          "[remote]") {
  CHECK_THROWS_WITH(
    node_worker_factory(filter_recipe("pixelate", {}), registry()),
    Catch::Contains("this node has no stage 'pixelate'")
      && Catch::Contains("--plugin"));
  CHECK_THROWS_WITH(node_worker_factory("{not json", registry()),
                    Catch::Contains("malformed recipe"));
  CHECK_THROWS_WITH(node_worker_factory(R"({"kind":"load"})", registry()),
                    Catch::Contains("malformed recipe"));
}
