#include "actors/filters/thumbnail.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>

#include <catch2/catch.hpp>

#include "actors/filters/resample.hpp"
#include "actors/io/loader.hpp"
#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
using Catch::Matchers::Contains;

namespace {

stage_spec spec() {
  return thumbnail_spec().filter<thumbnail_stage>();
}

std::unique_ptr<stage> make(option_map values) {
  REQUIRE(option_error(spec(), values).empty());
  return spec().make(values);
}

vips::VImage thumbnail(option_map values, const vips::VImage& in) {
  auto s = make(values);
  auto img = make_image(in);
  s->process(img);
  return img.pixels;
}

vips::VImage load_fused(option_map values, const std::filesystem::path& file,
                        std::string fail_on = "error") {
  auto s = make(values);
  load_params params;
  params.fail_on = std::move(fail_on);
  // Opened as the loader opens it.
  auto header = open_image_file(
    file.string(), vips::VImage::option()
                     ->set("access", VIPS_ACCESS_SEQUENTIAL)
                     ->set("fail_on", params.fail_on.c_str()));
  if (auto out = s->load_fused(file.string(), header, params))
    return *out;
  // What the loader does then: the stage processes the file as opened.
  auto img = make_image(header);
  s->process(img);
  return img.pixels;
}

/// What the pipeline does when thumbnail is not first: load, then process.
vips::VImage load_then_process(option_map values,
                               const std::filesystem::path& file) {
  auto in = vips::VImage::new_from_file(
    file.c_str(),
    vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
  return thumbnail(std::move(values), in);
}

/// A 400x300 sRGB test card with noise: detail in every pixel, so resizes
/// with different kernels or rounding differ.
vips::VImage noisy_card() {
  auto noise = vips::VImage::gaussnoise(
    400, 300, vips::VImage::option()->set("sigma", 30.0)->set("mean", 0.0));
  return (test_card(400, 300) + noise)
    .cast(VIPS_FORMAT_UCHAR)
    .copy(vips::VImage::option()->set("interpretation",
                                      VIPS_INTERPRETATION_sRGB));
}

std::int64_t i(int x) {
  return x;
}

option_map box(int width, int height) {
  return {{"width", i(width)}, {"height", i(height)}};
}

} // namespace

TEST_CASE("thumbnail: decoding no options gives the documented defaults",
          "[stage][thumbnail]") {
  // Neither side: the stage uses a 256x256 box.
  auto d = thumbnail_spec().decode({});
  CHECK(d.width == 0);
  CHECK(d.height == 0);
  CHECK(d.size == "both");
  CHECK(d.crop == "none");
  CHECK_FALSE(d.no_rotate);
  CHECK_FALSE(d.linear);
  CHECK(d.fast_shrink_on_load);
  CHECK(d.kernel == "lanczos3");
  auto reg = builtin_registry();
  auto found = reg.find("thumbnail");
  REQUIRE(found);
  CHECK_FALSE(found->random_access);
  CHECK_THAT(found->example, Contains("type = \"thumbnail\""));
  CHECK(spec().make({})->fuses_load());
}

TEST_CASE("thumbnail: the spec rejects out-of-range and unknown values",
          "[stage][thumbnail]") {
  CHECK(option_error(spec(), box(100, 0)).empty());
  CHECK_THAT(option_error(spec(), {{"width", i(-1)}}), Contains("'width'"));
  // 0 is a valid width (unbounded); neither side is the default box.
  CHECK(option_error(spec(), {{"width", i(0)}}).empty());
  CHECK_NOTHROW(spec().make({{"width", i(0)}}));
  CHECK_NOTHROW(spec().make({{"width", i(0)},
                             {"height", i(50)},
                             {"size", std::string{"force"}}}));
  CHECK_THAT(option_error(spec(), {{"width", i(100001)}}), Contains("'width'"));
  CHECK_THAT(option_error(spec(), {{"height", i(-1)}}), Contains("'height'"));
  CHECK_THAT(option_error(spec(), {{"size", std::string{"sideways"}}}),
             Contains("both, up, down, force"));
  CHECK_THAT(option_error(spec(), {{"crop", std::string{"smart"}}}),
             Contains("none, centre, attention, entropy"));
  CHECK_THAT(option_error(spec(), {{"no_rotate", std::int64_t{1}}}),
             Contains("'no_rotate'"));
  CHECK_THAT(option_error(spec(), {{"kernel", std::string{"bilinear"}}}),
             Contains("nearest, linear, cubic, mitchell, lanczos2, lanczos3"));
  // A stage built without the spec's check still refuses bad choices.
  CHECK_THROWS_AS(spec().make({{"crop", std::string{"smart"}}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(spec().make({{"kernel", std::string{"bilinear"}}}),
                  std::invalid_argument);
}

TEST_CASE("thumbnail: a kernel other than lanczos3 is refused where libvips' "
          "thumbnail would resize",
          "[stage][thumbnail]") {
  std::string cubic = "cubic";
  CHECK_NOTHROW(spec().make({{"kernel", cubic}}));
  CHECK_NOTHROW(spec().make({{"kernel", std::string{"lanczos3"}},
                             {"linear", true},
                             {"fast_shrink_on_load", false}}));
  CHECK_THROWS_WITH(spec().make({{"kernel", cubic}, {"linear", true}}),
                    Contains("'kernel' must be \"lanczos3\" with linear = "
                             "true")
                      && Contains("got \"cubic\""));
  CHECK_THROWS_WITH(
    spec().make({{"kernel", cubic}, {"fast_shrink_on_load", false}}),
    Contains("with fast_shrink_on_load = false"));
}

TEST_CASE("thumbnail: the kernel option is the resize's kernel",
          "[stage][thumbnail]") {
  // A reduction by less than 2, so no shrink-on-load: the thumbnail is
  // libvips' resize of the decoded file with that kernel, exactly.
  temp_dir dir;
  auto card = noisy_card();
  auto name = GENERATE(as<std::string>{}, "card.jpg", "card.png");
  auto kernel = GENERATE(as<std::string>{}, "linear", "cubic", "lanczos3");
  CAPTURE(name, kernel);
  auto file = dir / name;
  save(card, file);
  option_map values = box(256, 0);
  values["kernel"] = kernel;
  auto decoded = vips::VImage::new_from_file(file.c_str());
  auto theirs = decoded.resize(
    1.0 / (400.0 / 256), vips::VImage::option()
                           ->set("vscale", 1.0 / (300.0 / 192))
                           ->set("kernel", choice_value("kernel", kernel_table, kernel))
                           ->set("gap", 2.0));
  for (bool fused : {true, false}) {
    CAPTURE(fused);
    auto ours = (fused ? load_fused(values, file)
                       : load_then_process(values, file))
                  .copy_memory();
    REQUIRE(ours.width() == 256);
    REQUIRE(ours.height() == 192);
    CHECK((ours - theirs).abs().max() == 0);
  }
  // And the kernels differ, so the comparison above can tell them apart.
  if (kernel != "lanczos3") {
    option_map lanczos = box(256, 0);
    auto sharpest = load_fused(lanczos, file).copy_memory();
    CHECK((sharpest - theirs).abs().max() > 0);
  }
}

TEST_CASE("thumbnail: fits the image inside the box", "[stage][thumbnail]") {
  auto card = test_card(400, 300);
  auto square = thumbnail({{"width", i(100)}}, card);
  CHECK(square.width() == 100);
  CHECK(square.height() == 75);
  // Width alone bounds the width only: the height follows, as with
  // sharp's resize({width}) and vipsthumbnail's --size 100x.
  auto tall = thumbnail({{"width", i(100)}}, test_card(300, 400));
  CHECK(tall.width() == 100);
  CHECK(tall.height() == 133);
  auto panorama = thumbnail({{"width", i(100)}}, test_card(100, 2000));
  CHECK(panorama.width() == 100);
  CHECK(panorama.height() == 2000);
  // Neither side: a 256x256 box.
  auto neither = thumbnail({}, test_card(300, 600));
  CHECK(neither.width() == 128);
  CHECK(neither.height() == 256);
  auto wide_box = thumbnail(box(100, 50), card);
  CHECK(wide_box.width() == 67);
  CHECK(wide_box.height() == 50);
  // Height alone bounds the height only, whatever the width comes to.
  auto by_height = thumbnail(box(0, 50), test_card(800, 100));
  CHECK(by_height.width() == 400);
  CHECK(by_height.height() == 50);
  // A crop needs a whole box: one side given is a square.
  auto cropped = thumbnail({{"width", i(0)},
                            {"height", i(50)},
                            {"crop", std::string{"centre"}}},
                           test_card(800, 100));
  CHECK(cropped.width() == 50);
  CHECK(cropped.height() == 50);
  auto cropped_by_width = thumbnail(
    {{"width", i(60)}, {"crop", std::string{"attention"}}},
    test_card(300, 400));
  CHECK(cropped_by_width.width() == 60);
  CHECK(cropped_by_width.height() == 60);
  // The whole card is there: the ramps run from edge to edge.
  CHECK(pixel(square, 0, 0)[0] < 16);
  CHECK(pixel(square, 99, 74)[0] > 239);
  CHECK(pixel(square, 99, 74)[1] > 239);
}

TEST_CASE("thumbnail: crop fills the box exactly", "[stage][thumbnail]") {
  auto card = test_card(400, 300);
  auto values = box(100, 50);
  values["crop"] = std::string{"centre"};
  auto out = thumbnail(values, card);
  CHECK(out.width() == 100);
  CHECK(out.height() == 50);
  // Scaled to 100x75, then 12 rows cut from top and bottom: the green ramp
  // no longer reaches 0 or 255, the red ramp still spans the width.
  CHECK(pixel(out, 50, 0)[1] > 30);
  CHECK(pixel(out, 50, 49)[1] < 225);
  CHECK(pixel(out, 50, 25)[1] == Approx(128).margin(8));
  CHECK(pixel(out, 0, 25)[0] < 16);
  CHECK(pixel(out, 99, 25)[0] > 239);

  for (std::string crop : {"attention", "entropy"}) {
    CAPTURE(crop);
    auto v = box(60, 60);
    v["crop"] = crop;
    auto o = thumbnail(v, card);
    CHECK(o.width() == 60);
    CHECK(o.height() == 60);
  }
}

TEST_CASE("thumbnail: size limits the direction of resizing",
          "[stage][thumbnail]") {
  auto small = test_card(50, 40);
  auto big = test_card(400, 300);
  auto with_size = [](int width, const char* size) {
    return option_map{{"width", i(width)}, {"size", std::string{size}}};
  };
  auto down = thumbnail(with_size(100, "down"), small);
  CHECK(down.width() == 50);
  CHECK(down.height() == 40);
  auto shrunk = thumbnail(with_size(100, "down"), big);
  CHECK(shrunk.width() == 100);
  CHECK(shrunk.height() == 75);
  auto up = thumbnail(with_size(100, "up"), big);
  CHECK(up.width() == 400);
  CHECK(up.height() == 300);
  auto both = thumbnail(with_size(100, "both"), small);
  CHECK(both.width() == 100);
  CHECK(both.height() == 80);
  auto force = box(100, 50);
  force["size"] = std::string{"force"};
  auto forced = thumbnail(force, big);
  CHECK(forced.width() == 100);
  CHECK(forced.height() == 50);
}

TEST_CASE("thumbnail: geometry matches libvips' own thumbnail",
          "[stage][thumbnail]") {
  // PNG has no shrink-on-load, so libvips' arithmetic is the reference.
  temp_dir dir;
  auto file = dir / "card.png";
  save(test_card(401, 263), file);
  struct params {
    int width;
    int height;
    const char* size;
    const char* crop;
    VipsSize vips_size;
    VipsInteresting vips_crop;
  };
  auto p = GENERATE(values<params>({
    {100, 0, "both", "none", VIPS_SIZE_BOTH, VIPS_INTERESTING_NONE},
    {100, 30, "both", "none", VIPS_SIZE_BOTH, VIPS_INTERESTING_NONE},
    {37, 91, "both", "centre", VIPS_SIZE_BOTH, VIPS_INTERESTING_CENTRE},
    {1000, 700, "both", "none", VIPS_SIZE_BOTH, VIPS_INTERESTING_NONE},
    {1000, 700, "down", "none", VIPS_SIZE_DOWN, VIPS_INTERESTING_NONE},
    {1000, 100, "down", "centre", VIPS_SIZE_DOWN, VIPS_INTERESTING_CENTRE},
    {100, 100, "up", "none", VIPS_SIZE_UP, VIPS_INTERESTING_NONE},
    {123, 45, "force", "none", VIPS_SIZE_FORCE, VIPS_INTERESTING_NONE},
    // libvips' --size x91: width VIPS_MAX_COORD.
    {0, 91, "both", "none", VIPS_SIZE_BOTH, VIPS_INTERESTING_NONE},
    {0, 900, "down", "none", VIPS_SIZE_DOWN, VIPS_INTERESTING_NONE},
  }));
  CAPTURE(p.width, p.height, p.size, p.crop);
  auto ours = load_fused({{"width", i(p.width)},
                          {"height", i(p.height)},
                          {"size", std::string{p.size}},
                          {"crop", std::string{p.crop}}},
                         file);
  auto options = vips::VImage::option()
                   ->set("size", p.vips_size)
                   ->set("crop", p.vips_crop);
  if (p.height > 0)
    options->set("height", p.height);
  auto theirs = vips::VImage::thumbnail(
    file.c_str(), p.width > 0 ? p.width : VIPS_MAX_COORD, options);
  CHECK(ours.width() == theirs.width());
  CHECK(ours.height() == theirs.height());
}

TEST_CASE("thumbnail: shrink-on-load gives the same geometry as process",
          "[stage][thumbnail]") {
  temp_dir dir;
  struct params {
    int image_width;
    int image_height;
    int width;
    int height;
    const char* crop;
  };
  // Large reductions make libjpeg shrink by 2, 4 or 8 while loading; 999x333
  // into 256x50 is a case where libvips alone comes out one pixel wider.
  auto p = GENERATE(values<params>({
    {1600, 1200, 100, 0, "none"},
    {1601, 1203, 37, 0, "none"},
    {999, 333, 256, 50, "none"},
    {999, 333, 500, 50, "none"},
    {4000, 300, 100, 0, "none"},
    {300, 4000, 50, 80, "none"},
    {1600, 1200, 100, 30, "centre"},
    {640, 480, 500, 333, "none"},
  }));
  bool fast = GENERATE(true, false);
  CAPTURE(p.image_width, p.image_height, p.width, p.height, p.crop, fast);
  auto card = test_card(p.image_width, p.image_height);
  auto file = dir / "card.jpg";
  save(card, file);
  option_map values = box(p.width, p.height);
  values["crop"] = std::string{p.crop};
  values["fast_shrink_on_load"] = fast;
  auto fused = load_fused(values, file);
  auto processed = load_then_process(values, file);
  CHECK(fused.width() == processed.width());
  CHECK(fused.height() == processed.height());
  // Same picture, too.
  CHECK(fused.avg() == Approx(processed.avg()).margin(3));
  CHECK(fused.bands() == 3);
}

TEST_CASE("thumbnail: fast shrink-on-load decodes JPEGs smaller, same "
          "picture",
          "[stage][thumbnail]") {
  temp_dir dir;
  // 2000 -> 200 is a factor of 10: fast decodes at 1/8 (250 px), libvips'
  // choice at 1/4 (500 px); both then resize to exactly 200.
  auto card = test_card(2000, 1500);
  auto file = dir / "card.jpg";
  save(card, file);
  // Sequential reads can be evaluated once: keep the pixels.
  auto fast = load_fused({{"width", i(200)}}, file).copy_memory();
  auto careful
    = load_fused({{"width", i(200)}, {"fast_shrink_on_load", false}}, file)
        .copy_memory();
  REQUIRE(fast.width() == 200);
  REQUIRE(fast.height() == 150);
  REQUIRE(careful.width() == 200);
  REQUIRE(careful.height() == 150);
  // Different decodes, so different pixels; the same picture all the same.
  CHECK((fast - careful).abs().max() > 0);
  CHECK((fast - careful).abs().avg() < 3);
  CHECK(fast.avg() == Approx(careful.avg()).margin(1));

  // PNG has no shrink-on-load: the option changes nothing.
  auto png = dir / "card.png";
  save(card, png);
  auto a = load_fused({{"width", i(200)}}, png).copy_memory();
  auto b = load_fused({{"width", i(200)}, {"fast_shrink_on_load", false}},
                      png)
             .copy_memory();
  CHECK((a - b).abs().max() == 0);
}

TEST_CASE("thumbnail: the same pixels as libvips' thumbnail",
          "[stage][thumbnail]") {
  // The stage runs libvips' thumbnail step by step, with pixline's own
  // horizontal reduction: compare with libvips asked for the same size.
  temp_dir dir;
  auto card = noisy_card();
  auto sideways = card.copy();
  sideways.set(VIPS_META_ORIENTATION, 6);
  auto alpha = (vips::VImage::xyz(400, 300)[0] * 0.6).cast(VIPS_FORMAT_UCHAR);
  struct input {
    const char* name;
    vips::VImage pixels;
    /// An image with alpha is reduced across first (resize_image), where
    /// libvips goes down first: float rounding, at most a level.
    double tolerance;
  };
  auto in = GENERATE_COPY(values<input>({
    {"card.jpg", card, 0},
    {"sideways.jpg", sideways, 0},
    {"grey.png", card[1].copy(vips::VImage::option()->set(
                   "interpretation", VIPS_INTERPRETATION_B_W)), 0},
    {"alpha.png", card.bandjoin(alpha), 1},
    // Imported by pixline's cmyk_to_xyz (libvips' import, its transform
    // built once).
    {"cmyk.jpg", card.colourspace(VIPS_INTERPRETATION_CMYK), 0},
    // Resized as the loader opened them (process), not by libvips.
    {"card.gif", card, 0},
    {"card.tif", card, 0},
  }));
  struct params {
    int width;
    int height;
    const char* size;
    bool no_rotate;
  };
  // Reductions by less than 2, so the JPEGs are decoded at full size
  // whichever shrink-on-load is used, and an enlargement.
  auto p = GENERATE(values<params>({{256, 0, "both", false},
                                    {300, 220, "both", false},
                                    {350, 170, "force", false},
                                    {256, 0, "both", true},
                                    {500, 0, "both", false}}));
  CAPTURE(in.name, p.width, p.height, p.size, p.no_rotate);
  auto file = dir / in.name;
  save(in.pixels, file);
  option_map values = box(p.width, p.height);
  values["size"] = std::string{p.size};
  values["no_rotate"] = p.no_rotate;
  for (bool fused : {true, false}) {
    CAPTURE(fused);
    auto ours = (fused ? load_fused(values, file)
                       : load_then_process(values, file))
                  .copy_memory();
    auto theirs = vips::VImage::new_from_file(file.c_str())
                    .thumbnail_image(ours.width(),
                                     vips::VImage::option()
                                       ->set("height", ours.height())
                                       ->set("size", VIPS_SIZE_FORCE)
                                       ->set("no_rotate", p.no_rotate));
    REQUIRE(ours.width() == theirs.width());
    REQUIRE(ours.height() == theirs.height());
    REQUIRE(ours.bands() == theirs.bands());
    CHECK((ours - theirs).abs().max() <= in.tolerance);
  }
}

TEST_CASE("thumbnail: only formats libvips shrinks on load are reopened, "
          "the others are resized as the loader opened them",
          "[stage][thumbnail]") {
  // libvips' thumbnail has no shrink-on-load for PNG, GIF or a one-page
  // TIFF, so the stage declines load_fused and the loader calls process on
  // its own image. A TIFF of several pages may be a pyramid: libvips'.
  temp_dir dir;
  auto s = spec().make({{"width", i(100)}});
  load_params params;
  auto card = test_card(400, 300);
  auto pages = vips::VImage::arrayjoin({card, card}, vips::VImage::option()
                                                       ->set("across", 1));
  pages.set(VIPS_META_PAGE_HEIGHT, 300);
  struct input {
    const char* name;
    vips::VImage pixels;
    bool reopened;
  };
  for (const auto& in : {input{"card.png", card, false},
                         input{"card.gif", card, false},
                         input{"card.tif", card, false},
                         input{"card.jpg", card, true},
                         input{"card.webp", card, true},
                         input{"pages.tif", pages, true}}) {
    CAPTURE(in.name);
    auto file = dir / in.name;
    save(in.pixels, file);
    auto header = vips::VImage::new_from_file(file.c_str());
    auto out = s->load_fused(file.string(), header, params);
    CHECK(out.has_value() == in.reopened);
    if (!out)
      continue;
    CHECK(out->width() == 100);
  }
}

TEST_CASE("thumbnail: a file named like libvips' option syntax is read by "
          "that name",
          "[stage][thumbnail]") {
  // libvips' file functions would read "[1]" as load options.
  temp_dir dir;
  for (const char* ext : {"jpg", "webp", "png"}) {
    CAPTURE(ext);
    auto plain = dir / (std::string{"card."} + ext);
    save(test_card(400, 300), plain);
    auto odd = dir / (std::string{"card-"} + ext + "[1]");
    std::filesystem::copy_file(plain, odd);
    auto a = load_fused({{"width", i(100)}}, plain).copy_memory();
    auto b = load_fused({{"width", i(100)}}, odd).copy_memory();
    CHECK(b.width() == 100);
    CHECK(b.height() == 75);
    CHECK((a - b).abs().max() == 0);
  }
}

TEST_CASE("thumbnail: turns the image upright unless no_rotate",
          "[stage][thumbnail]") {
  temp_dir dir;
  auto card = test_card(400, 300).copy();
  card.set(VIPS_META_ORIENTATION, 6);
  auto file = dir / "sideways.jpg";
  save(card, file);
  auto fused = load_fused(box(100, 100), file);
  CHECK(fused.width() == 75);
  CHECK(fused.height() == 100);
  auto processed = load_then_process(box(100, 100), file);
  CHECK(processed.width() == 75);
  CHECK(processed.height() == 100);
  // Width alone bounds the upright width.
  auto by_width = load_fused({{"width", i(100)}}, file);
  CHECK(by_width.width() == 100);
  CHECK(by_width.height() == 133);
  // Box 100x40 on the upright 300x400 image: 30x40.
  auto boxed = load_fused(box(100, 40), file);
  CHECK(boxed.width() == 30);
  CHECK(boxed.height() == 40);
  CHECK(load_then_process(box(100, 40), file).width() == 30);

  option_map keep{{"width", i(100)}, {"no_rotate", true}};
  auto kept = load_fused(keep, file);
  CHECK(kept.width() == 100);
  CHECK(kept.height() == 75);
  CHECK(load_then_process(keep, file).width() == 100);
}

TEST_CASE("thumbnail: load_fused honours fail_on", "[stage][thumbnail]") {
  temp_dir dir;
  auto file = dir / "truncated.jpg";
  save(test_card(800, 600), file);
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
  auto decode = [&](const char* fail_on) {
    return load_fused({{"width", i(100)}}, file, fail_on).avg();
  };
  CHECK_NOTHROW(decode("none"));
  vips_error_clear();
  CHECK_THROWS_AS(decode("truncated"), vips::VError);
  vips_error_clear();

  auto s = spec().make({});
  load_params params;
  params.fail_on = "sometimes";
  CHECK_THROWS_AS(s->load_fused(file.string(),
                                 vips::VImage::new_from_file(file.c_str()),
                                 params),
                  stage_error);
}

TEST_CASE("thumbnail: a file read in order gives the same pixels at one and "
          "at four libvips threads",
          "[stage][thumbnail]") {
  // At one thread the stage adds no line cache of its own (rows are asked
  // for in order); at four it does, for a thread that stalls. Either way
  // the sequential reader must never be asked for rows it has passed:
  // that would throw "out of order read". The PNG is reduced 15 times
  // down (no shrink-on-load), the JPEG decoded at 1/8 first.
  temp_dir dir;
  auto card = test_card(2400, 3000) + vips::VImage::gaussnoise(2400, 3000);
  for (const char* name : {"tall.png", "tall.jpg"}) {
    CAPTURE(name);
    auto file = dir / name;
    save(card.cast(VIPS_FORMAT_UCHAR)
           .copy(vips::VImage::option()->set("interpretation",
                                             VIPS_INTERPRETATION_sRGB)),
         file);
    std::vector<vips::VImage> results;
    for (int threads : {1, 4}) {
      CAPTURE(threads);
      vips_threads n{threads};
      results.push_back(load_fused({{"width", i(160)}}, file).copy_memory());
    }
    REQUIRE(results[0].width() == 160);
    REQUIRE(results[0].height() == 200);
    CHECK((results[0] - results[1]).abs().max() == 0);
    // What a run at one thread does with a JPEG output: the stage's image
    // computed strip by strip on this thread.
    vips_threads one{1};
    jpeg_settings settings;
    auto here = encode_jpeg_here(load_fused({{"width", i(160)}}, file),
                                 settings);
    auto from_memory = encode_jpeg_here(results[0], settings);
    REQUIRE(here.second == from_memory.second);
    CHECK(std::memcmp(here.first.get(), from_memory.first.get(), here.second)
          == 0);
  }
}
