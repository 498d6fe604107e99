#include "actors/io/loader.hpp"

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <utility>

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;

namespace {

loader default_loader() {
  return loader{loader_spec().decode({}), load_params{}};
}

job job_for(const std::filesystem::path& p) {
  job j;
  j.id = 7;
  j.path = p.string();
  j.relative = p.filename().string();
  return j;
}

std::string load_error(const std::filesystem::path& p) {
  auto l = default_loader();
  auto j = job_for(p);
  try {
    l.load(j);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("the loader opens each supported format lazily", "[loader]") {
  temp_dir dir;
  auto ext = GENERATE(as<std::string>{}, "jpg", "png", "webp", "tif", "gif",
                      "avif", "jxl");
  CAPTURE(ext);
  auto file = dir / ("card." + ext);
  save(test_card(64, 48), file);
  auto l = default_loader();
  auto j = job_for(file);
  l.load(j);
  REQUIRE(j.img);
  CHECK(j.img->pixels.width() == 64);
  CHECK(j.img->pixels.height() == 48);
  CHECK(j.img->id == 7);
  CHECK(j.img->source == file);
  std::string expected = ext == "jpg"   ? "jpeg"
                         : ext == "tif" ? "tiff"
                         : ext == "avif" ? "heif"
                                         : ext;
  CHECK(j.img->input_format == expected);
}

TEST_CASE("the loader reads svg", "[loader]") {
  temp_dir dir;
  write_file(dir / "a.svg",
             "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='30'>"
             "<rect width='40' height='30' fill='red'/></svg>");
  auto l = default_loader();
  auto j = job_for(dir / "a.svg");
  l.load(j);
  CHECK(j.img->input_format == "svg");
  CHECK(j.img->pixels.width() == 40);
}

TEST_CASE("bad inputs fail with a clear reason", "[loader]") {
  temp_dir dir;
  CHECK_THAT(load_error(dir / "missing.jpg"),
             Catch::Contains("cannot open") && Catch::Contains("no such", Catch::CaseSensitive::No));
  write_file(dir / "empty.jpg", "");
  CHECK_THAT(load_error(dir / "empty.jpg"), Catch::Contains("empty file"));
  write_file(dir / "text.jpg", "this is not an image at all");
  CHECK_THAT(load_error(dir / "text.jpg"),
             Catch::Contains("not an image file libvips can read"));
  std::filesystem::create_directories(dir / "folder.jpg");
  CHECK_THAT(load_error(dir / "folder.jpg"),
             Catch::Contains("not a regular file"));
}

namespace {

/// The first half of a JPEG, in `dir`: its header is whole.
std::filesystem::path cut_jpeg(const temp_dir& dir) {
  save(test_card(256, 256), dir / "whole.jpg");
  auto bytes = read_file(dir / "whole.jpg");
  write_file(dir / "cut.jpg", bytes.substr(0, bytes.size() / 2));
  return dir / "cut.jpg";
}

} // namespace

TEST_CASE("a truncated file fails when its pixels are read", "[loader]") {
  temp_dir dir;
  auto l = default_loader();
  auto j = job_for(cut_jpeg(dir));
  // The header is intact, so opening works; decoding the pixels must fail
  // with fail_on = "error" (the default) rather than return a grey half.
  l.load(j);
  REQUIRE(j.img);
  CHECK_THROWS_AS(j.img->pixels.avg(), vips::VError);
  vips_error_clear();
}

TEST_CASE("a decoder's failure is told from a later stage's", "[loader]") {
  temp_dir dir;
  auto l = default_loader();
  auto j = job_for(cut_jpeg(dir));
  l.load(j);
  REQUIRE(j.img);
  std::string text;
  try {
    j.img->pixels.avg();
  } catch (const vips::VError& e) {
    text = vips_error_text(e);
  }
  INFO(text);
  CHECK(is_decode_failure(text));
  CHECK(is_decode_failure("sink 2: " + text));
  CHECK(is_decode_failure("vipspng: libpng read error"));
  CHECK_FALSE(is_decode_failure("vips2png: unable to write to target"));
  CHECK_FALSE(is_decode_failure("took longer than timeout = 1 s"));
  CHECK_FALSE(is_decode_failure("sink 1: output out/a.png is already the "
                                "output of in/b.png"));
}

TEST_CASE("format names of loader classes", "[loader]") {
  CHECK(format_of_loader("VipsForeignLoadJpegFile") == "jpeg");
  CHECK(format_of_loader("VipsForeignLoadPngFile") == "png");
  CHECK(format_of_loader("VipsForeignLoadNsgifFile") == "gif");
  CHECK(format_of_loader("VipsForeignLoadHeifFile") == "heif");
  CHECK(format_of_loader("VipsForeignLoadWebpFile") == "webp");
  CHECK(format_of_loader("jpegload") == "jpeg");
  CHECK(format_of_loader("jpegload_source") == "jpeg");
  CHECK(format_of_loader("gifload") == "gif");
  CHECK(format_of_loader("jp2kload") == "jp2k");
}

TEST_CASE("JPEG, PNG and WebP signatures name the loader libvips' search "
          "would pick", "[loader]") {
  temp_dir dir;
  auto ext = GENERATE(as<std::string>{}, "jpg", "png", "webp", "gif", "tif");
  CAPTURE(ext);
  auto file = dir / ("card." + ext);
  save(test_card(16, 16), file);
  auto found = loader_for_signature(read_file(file).substr(0, 12));
  std::string expected = ext == "jpg"    ? "jpegload"
                         : ext == "png"  ? "pngload"
                         : ext == "webp" ? "webpload"
                                         : "";
  CHECK(found == expected);
  if (!found.empty()) {
    // The same loader as vips_foreign_find_load's, by its nickname.
    const char* search = vips_foreign_find_load(file.c_str());
    REQUIRE(search);
    CHECK(vips_nickname_find(g_type_from_name(search)) == found);
  }
}

TEST_CASE("short or foreign first bytes name no loader", "[loader]") {
  using namespace std::string_view_literals;
  CHECK(loader_for_signature("") == "");
  CHECK(loader_for_signature("\xFF"sv) == "");
  CHECK(loader_for_signature("\xFF\xD8"sv) == "jpegload");
  CHECK(loader_for_signature("\x89PNG\r\n\x1A"sv) == "");
  CHECK(loader_for_signature("RIFF\x10\0\0\0WAVE"sv) == "");
  CHECK(loader_for_signature("RIFF\x10\0\0\0WEB"sv) == "");
  CHECK(loader_for_signature("GIF89a") == "");
}

TEST_CASE("a file opens by its content, whatever its name says", "[loader]") {
  temp_dir dir;
  save(test_card(64, 48), dir / "real.png");
  std::filesystem::rename(dir / "real.png", dir / "png-inside.jpg");
  save(test_card(64, 48), dir / "real.jpg");
  std::filesystem::rename(dir / "real.jpg", dir / "jpeg-inside.png");
  // A name ending in ']' is libvips' "file[options]" syntax for
  // new_from_file; open_image_file opens the file by that name.
  save(test_card(64, 48), dir / "real2.jpg");
  std::filesystem::rename(dir / "real2.jpg", dir / "scan[1]");
  // A GIF has no signature of its own here: libvips' search, by the name.
  save(test_card(64, 48), dir / "real.gif");
  std::filesystem::rename(dir / "real.gif", dir / "anim[2]");
  for (auto [name, format] : {std::pair{"png-inside.jpg", "png"},
                              std::pair{"jpeg-inside.png", "jpeg"},
                              std::pair{"scan[1]", "jpeg"},
                              std::pair{"anim[2]", "gif"}}) {
    CAPTURE(name);
    auto l = default_loader();
    auto j = job_for(dir / name);
    l.load(j);
    REQUIRE(j.img);
    CHECK(j.img->input_format == format);
    CHECK(j.img->pixels.width() == 64);
  }
  CHECK_THROWS_AS(vips::VImage::new_from_file((dir / "scan[1]").c_str()),
                  vips::VError);
  vips_error_clear();
  // Text under such a name is still "not an image".
  write_file(dir / "notes[3]", "this is not an image at all");
  CHECK_THAT(load_error(dir / "notes[3]"),
             Catch::Contains("not an image file libvips can read"));
}

TEST_CASE("option suffixes are told from ordinary names", "[loader]") {
  CHECK(has_option_suffix("scan[1]"));
  CHECK(has_option_suffix("/in/a.jpg[shrink=2]"));
  CHECK_FALSE(has_option_suffix("photo [1].jpg"));
  CHECK_FALSE(has_option_suffix("odd]"));
  CHECK_FALSE(has_option_suffix(""));
}

TEST_CASE("open_image_file passes its options to the loader", "[loader]") {
  temp_dir dir;
  save(test_card(64, 48), dir / "card.jpg");
  auto shrunk = open_image_file((dir / "card.jpg").string(),
                                vips::VImage::option()->set("shrink", 4));
  CHECK(shrunk.width() == 16);
  CHECK(shrunk.height() == 12);
  CHECK(loader_of(shrunk) == "jpegload");
  // The loader of an earlier open is used as it is; one that a signature
  // cannot name is not, and the file's bytes decide.
  auto again = open_image_file((dir / "card.jpg").string(),
                               vips::VImage::option()->set("shrink", 2),
                               "jpegload");
  CHECK(again.width() == 32);
  auto searched = open_image_file((dir / "card.jpg").string(),
                                  vips::VImage::option(), "jpegload_source");
  CHECK(loader_of(searched) == "jpegload");
  // Not a signature it knows: libvips' search, with the same options.
  save(test_card(64, 48), dir / "card.gif");
  auto gif = open_image_file((dir / "card.gif").string(),
                             vips::VImage::option()->set("n", 1));
  CHECK(gif.width() == 64);
  CHECK(loader_of(gif) == "gifload");
}

TEST_CASE("the load spec checks fail_on", "[loader][spec]") {
  auto spec = loader_spec().spec();
  option_map ok{{"fail_on", std::string{"truncated"}}};
  CHECK_FALSE(check_options(spec, ok));
  option_map bad{{"fail_on", std::string{"sometimes"}}};
  CHECK_THAT(*check_options(spec, bad), Catch::Contains("must be one of"));
  CHECK(loader_spec().decode({}).fail_on == "error");
}

TEST_CASE("block_untrusted refuses loaders not fuzzed for hostile input",
          "[loader]") {
  temp_dir dir;
  write_file(dir / "a.svg",
             "<svg xmlns='http://www.w3.org/2000/svg' width='4' height='4'/>");
  save(test_card(8, 8), dir / "b.png");
  auto opts = loader_spec().decode({{"block_untrusted", true}});
  loader strict{opts, load_params{}};
  auto svg = job_for(dir / "a.svg");
  CHECK_THROWS_WITH(strict.load(svg), Catch::Contains("blocked"));
  auto png = job_for(dir / "b.png");
  strict.load(png);
  CHECK(png.img->pixels.width() == 8);
  // Process-wide in libvips: a default loader lifts the block again.
  loader relaxed{loader_spec().decode({}), load_params{}};
  auto again = job_for(dir / "a.svg");
  relaxed.load(again);
  CHECK(again.img->pixels.width() == 4);
}

TEST_CASE("max_file_mib refuses large files before opening them",
          "[loader]") {
  temp_dir dir;
  write_file(dir / "big.jpg", std::string(1024 * 1024 + 1, 'x'));
  loader l{loader_spec().decode({{"max_file_mib", std::int64_t{1}}}),
           load_params{}};
  auto j = job_for(dir / "big.jpg");
  CHECK_THROWS_WITH(l.load(j), Catch::Contains("over max_file_mib = 1"));
}

TEST_CASE("max_frames refuses animations with too many pages from the header",
          "[loader]") {
  temp_dir dir;
  auto ext = GENERATE(as<std::string>{}, "gif", "webp", "tif");
  CAPTURE(ext);
  // Five 16x8 frames stacked vertically; page-height makes them pages.
  std::vector<vips::VImage> frames;
  for (int i = 0; i < 5; ++i)
    frames.push_back(solid(16, 8, 50.0 * i, 0, 0));
  auto strip = vips::VImage::arrayjoin(
                 frames, vips::VImage::option()->set("across", 1))
                 .copy();
  strip.set("page-height", 8);
  auto file = dir / ("anim." + ext);
  save(strip, file);

  auto load_with = [&](std::int64_t max_frames) {
    loader l{loader_spec().decode({{"max_frames", max_frames}}),
             load_params{}};
    auto j = job_for(file);
    l.load(j);
    return j;
  };
  auto over = [&] { load_with(4); };
  CHECK_THROWS_WITH(over(), Catch::Contains("has 5 pages")
                              && Catch::Contains("over max_frames = 4"));
  // At the limit, without a limit, and by default: only the first page.
  for (std::int64_t limit : {5, 0}) {
    auto j = load_with(limit);
    CHECK(j.img->pixels.height() == 8);
  }
  CHECK(loader_spec().decode({}).max_frames == 1000);
  auto plain = job_for(file);
  default_loader().load(plain);
  CHECK(plain.img->pixels.height() == 8);
}

TEST_CASE("the load spec range-checks max_frames", "[loader][spec]") {
  auto spec = loader_spec().spec();
  option_map none{{"max_frames", std::int64_t{0}}};
  CHECK_FALSE(check_options(spec, none));
  option_map negative{{"max_frames", std::int64_t{-1}}};
  CHECK_THAT(*check_options(spec, negative), Catch::Contains("max_frames"));
  option_map huge{{"max_frames", std::int64_t{1000001}}};
  CHECK_THAT(*check_options(spec, huge), Catch::Contains("max_frames"));
}

TEST_CASE("a small input is read into memory once and decoded from there",
          "[loader]") {
  temp_dir dir;
  auto file = dir / "card.jpg";
  save(test_card(64, 48), file);
  auto original = read_file(file);
  auto bytes = read_input_bytes(file.string(), -1, in_memory_input_limit);
  REQUIRE(bytes);
  REQUIRE(VIPS_AREA(bytes.get())->length == original.size());
  // Another file put at the path afterwards is never read: every open
  // (header and decode) reads the copy.
  save(test_card(32, 16), dir / "other.jpg");
  std::filesystem::rename(dir / "other.jpg", file);
  auto img = open_image_file(file.string(), vips::VImage::option(), {}, -1,
                             bytes);
  CHECK(img.width() == 64);
  CHECK(loader_of(img) == "jpegload_source");
  auto shrunk = open_image_file(file.string(),
                                vips::VImage::option()->set("shrink", 2),
                                loader_of(img), -1, bytes);
  CHECK(shrunk.width() == 32);
  CHECK(shrunk.height() == 24);
  // The bytes live as long as the images that read them.
  bytes.reset();
  CHECK(img.avg() > 0);
  CHECK(shrunk.avg() > 0);
}

TEST_CASE("only small regular files are read into memory", "[loader]") {
  temp_dir dir;
  auto file = dir / "card.png";
  save(test_card(64, 48), file);
  auto size = std::int64_t(std::filesystem::file_size(file));
  CHECK(read_input_bytes(file.string(), -1, size));
  CHECK_FALSE(read_input_bytes(file.string(), -1, size - 1));
  CHECK_FALSE(read_input_bytes((dir / "missing.png").string(), -1, size));
  // Other formats keep libvips' format search and messages.
  save(test_card(64, 48), dir / "card.tif");
  CHECK_FALSE(read_input_bytes((dir / "card.tif").string(), -1,
                               in_memory_input_limit));
  write_file(dir / "empty.jpg", "");
  CHECK_FALSE(read_input_bytes((dir / "empty.jpg").string(), -1,
                               in_memory_input_limit));
  // A FIFO is neither read nor waited on.
  auto fifo = dir / "fifo.png";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_FALSE(read_input_bytes(fifo.string(), -1, size));
}

TEST_CASE("the loader takes bytes read before it", "[loader]") {
  temp_dir dir;
  auto file = dir / "card.webp";
  save(test_card(64, 48), file);
  auto j = job_for(dir / "gone.webp");
  j.input_bytes = read_input_bytes(file.string(), -1, in_memory_input_limit);
  REQUIRE(j.input_bytes);
  auto l = default_loader();
  l.load(j);
  REQUIRE(j.img);
  CHECK(j.img->input_format == "webp");
  CHECK(j.img->pixels.width() == 64);
}
