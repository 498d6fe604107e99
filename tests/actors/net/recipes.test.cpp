#include "actors/net/recipes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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
    = node_worker_factory(save_recipe({{sink, {}}}, 1 << 20, 0), registry())();
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

namespace {

/// Largest difference between two images' band values (same size, bands).
double difference(const vips::VImage& a, const vips::VImage& b) {
  return (a.cast(VIPS_FORMAT_DOUBLE) - b.cast(VIPS_FORMAT_DOUBLE)).abs().max();
}

} // namespace

TEST_CASE("a file a stage on a node names travels in its recipe, and the "
          "node opens none of its own",
          "[remote]") {
  temp_dir dir;
  auto logo = (dir / "logo.png").string();
  save(solid(24, 12, 10, 200, 30), logo);
  option_map options{{"image", logo}, {"gravity", std::string{"centre"}}};
  auto card = test_card(100, 70);
  auto local = apply_stage(*registry().find("watermark"), options, card);
  auto recipe = with_files(filter_recipe("watermark", options), registry());
  // The option names the carried file, not the coordinator's path.
  auto parsed = nlohmann::json::parse(recipe);
  CHECK(parsed["options"]["image"] == "pixline-file:0");
  CHECK(parsed["files"][0]["name"] == logo);

  // Gone from this disk: the node works from the bytes.
  fs::remove(logo);
  auto work = node_worker_factory(recipe, registry())();
  wire_job in;
  in.name = "card.png";
  in.image = to_wire(card, "png");
  auto r = work(in);
  REQUIRE(r.error.empty());
  CHECK(difference(from_wire(r.image), local) == 0);

  SECTION("a coordinator's file that cannot be read fails here, named") {
    CHECK_THROWS_WITH(with_files(filter_recipe("watermark", options),
                                 registry()),
                      Catch::Contains(logo)
                        && Catch::Contains("is not a file"));
  }
}

TEST_CASE("a node refuses a path a coordinator names alike whether the file "
          "exists there or not",
          "[remote]") {
  auto refusal = [](const std::string& recipe) -> std::string {
    try {
      node_worker_factory(recipe, registry());
    } catch (const std::exception& e) {
      return e.what();
    }
    return "accepted";
  };
  // A coordinator (not pixline's, or an older one) that sends paths: a
  // file the node has, one it lacks and a folder get the same answer.
  for (auto& [type, option] :
       std::vector<std::pair<std::string, std::string>>{
         {"watermark", "image"},
         {"icc", "profile"},
         {"icc", "input_profile"},
         {"vips:icc_transform", "output_profile"},
         {"vips:icc_transform", "input_profile"},
         {"vips:thumbnail_image", "export_profile"}}) {
    INFO(type << " " << option);
    option_map base;
    if (type == "vips:thumbnail_image")
      base["width"] = std::int64_t{10};
    if (type == "vips:icc_transform")
      base["output_profile"] = std::string{"srgb"};
    auto with = [&](const std::string& value) {
      auto o = base;
      o[option] = value;
      return filter_recipe(type, o);
    };
    auto exists = refusal(with("/etc/passwd"));
    CHECK_THAT(exists, Catch::Contains("names a file the coordinator did "
                                       "not send"));
    CHECK(refusal(with("/no/such/file")) == exists);
    CHECK(refusal(with("/etc")) == exists);
    CHECK(refusal(with("relative.icc")) == exists);
    // A placeholder for a file the recipe does not carry.
    CHECK(refusal(with("pixline-file:0")) == exists);
  }
  // Inside a fused load and a sink's own filters too.
  option_map wm{{"image", std::string{"/etc/passwd"}}};
  CHECK_THAT(refusal(save_recipe({{defaults_of(*registry().find("save")),
                                   {{"watermark", wm}}}},
                                 1 << 20, 0)),
             Catch::Contains("names a file the coordinator did not send"));
  // Built-in profiles are names, not files, in any case.
  CHECK(refusal(filter_recipe("icc", {{"profile", std::string{"SRGB"}}}))
        == "accepted");
  CHECK(refusal(filter_recipe("vips:icc_transform",
                              {{"output_profile", std::string{"p3"}}}))
        == "accepted");
}

namespace {

struct listed_options {
  std::vector<std::string> names;
  std::vector<int> sizes{7};
};

/// The options the last listed_stage was built with.
listed_options last_listed;

class listed_stage : public stage {
public:
  explicit listed_stage(listed_options o) {
    last_listed = std::move(o);
  }
  void process(image&) override {
  }
};

} // namespace

TEST_CASE("a recipe carries list options to the stage it builds",
          "[remote][lists]") {
  stage_registry reg;
  reg.add(spec_builder<listed_options>("listed", "Lists for tests")
            .strings("names", &listed_options::names, {}, "Names")
            .integers("sizes", &listed_options::sizes, {7}, 1, 100, "Sizes")
            .filter<listed_stage>());
  node_worker_factory(filter_recipe("listed",
                                    {{"names", string_list{"a", "b c"}},
                                     {"sizes", integer_list{3, 4}}}),
                      reg);
  CHECK(last_listed.names == std::vector<std::string>{"a", "b c"});
  CHECK(last_listed.sizes == std::vector<int>{3, 4});
  // JSON's [] has no item type: an empty list of either kind.
  node_worker_factory(filter_recipe("listed", {{"names", string_list{}},
                                               {"sizes", integer_list{}}}),
                      reg);
  CHECK(last_listed.names.empty());
  CHECK(last_listed.sizes.empty());
}
