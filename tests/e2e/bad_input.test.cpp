// A folder of hostile and broken inputs next to good ones: each bad file gets
// a clear error naming it, the process survives, every good output is
// intact.

#include <random>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

/// A small JPEG whose header claims 60000 x 60000 pixels.
std::string jpeg_bomb() {
  temp_dir tmp;
  save(test_card(16, 16), tmp / "small.jpg");
  auto bytes = read_file(tmp / "small.jpg");
  auto sof = bytes.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  // FF C0, length (2), precision (1), height (2), width (2)
  for (size_t at : {sof + 5, sof + 7}) {
    bytes[at] = char(0xEA);
    bytes[at + 1] = char(0x60);
  }
  return bytes;
}

std::string random_bytes(size_t n) {
  std::mt19937 rng{7};
  std::string s(n, '\0');
  for (auto& c : s)
    c = char(rng() & 0xFF);
  return s;
}

} // namespace

TEST_CASE("bad inputs fail alone, each named with its reason", "[bad-input]") {
  temp_dir dir;
  auto in = dir / "in";
  save(test_card(300, 200), in / "good.jpg");
  save(test_card(200, 300), in / "other.png");
  save(test_card(120, 80), in / "with space é.webp");
  save(test_card(90, 60), in / "line\nbreak.jpg");
  save(test_card(64, 64), in / "really-a-png.jpg.tmp.png");
  fs::rename(in / "really-a-png.jpg.tmp.png", in / "really-a-png.jpg");
  for (auto ext : {"jpg", "png", "webp"}) {
    save(test_card(256, 256), dir / fmt::format("whole.{}", ext));
    auto whole = read_file(dir / fmt::format("whole.{}", ext));
    write_file(in / fmt::format("truncated.{}", ext),
               whole.substr(0, whole.size() / 2));
  }
  write_file(in / "zero.jpg", "");
  write_file(in / "random.jpg", random_bytes(5000));
  write_file(in / "notes.png", "just some text\n");
  write_file(in / "bomb.jpg", jpeg_bomb());
  write_file(dir / "p.toml", R"(
[source]
kind = "directory"
path = "unused"
[[filter]]
type = "thumbnail"
width = 48
[sink]
format = "png"
naming = "{stem}.{ext}"
)");
  std::string out;
  auto status = run_command(fmt::format("'{}' run '{}' --input '{}' --output '{}'",
                                        pixline_binary(),
                                        (dir / "p.toml").string(), in.string(),
                                        (dir / "out").string()),
                            &out);
  INFO(out);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("12 images: 5 written, 0 skipped, 7 failed"));
  auto reason_of = [&](const std::string& name) {
    // Summary lines read "  PATH [STAGE]: REASON".
    auto at = out.find((in / name).string() + " [");
    if (at == std::string::npos)
      return std::string{};
    auto end = out.find('\n', at);
    return out.substr(at, end - at);
  };
  CHECK_THAT(reason_of("zero.jpg"), Catch::Contains("empty file"));
  CHECK_THAT(reason_of("random.jpg"), Catch::Contains("not an image"));
  CHECK_THAT(reason_of("notes.png"), Catch::Contains("not an image"));
  CHECK_THAT(reason_of("bomb.jpg"),
             Catch::Contains("60000x60000") && Catch::Contains("max_pixels"));
  for (auto ext : {"jpg", "png", "webp"}) {
    CAPTURE(ext);
    CHECK_FALSE(reason_of(fmt::format("truncated.{}", ext)).empty());
  }
  // Every good image came out whole, odd names included.
  auto outputs = files_in(dir / "out");
  CHECK(outputs
        == std::vector<std::string>{"good.png", "line\nbreak.png",
                                    "other.png", "really-a-png.png",
                                    "with space é.png"});
  for (auto& name : outputs) {
    CAPTURE(name);
    auto img = vips::VImage::new_from_file((dir / "out" / name).c_str());
    CHECK(std::max(img.width(), img.height()) == 48);
    CHECK_NOTHROW(img.avg());
  }
}

TEST_CASE("size limits apply before decoding", "[bad-input]") {
  temp_dir dir;
  save(test_card(100, 100), dir / "in" / "a.png");
  write_file(dir / "p.toml", R"(
[source]
kind = "directory"
path = "unused"
max_pixels = 5000
[sink]
format = "png"
)");
  std::string out;
  auto status = run_command(fmt::format("'{}' run '{}' --input '{}' --output '{}'",
                                        pixline_binary(),
                                        (dir / "p.toml").string(),
                                        (dir / "in").string(),
                                        (dir / "out").string()),
                            &out);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("100x100 = 10000 pixels, over max_pixels = 5000"));
}
