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
height = 48
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

TEST_CASE("files that vanish or are cut short during a run fail alone",
          "[bad-input]") {
  // The run lists its inputs first and reads them later; meanwhile another
  // process deletes some and truncates others. Each of those either came
  // out before it was touched or fails with a reason naming it; the rest
  // come out whole, and the process finishes.
  temp_dir dir;
  auto in = dir / "in";
  save(test_card(1600, 1200), dir / "seed.jpg");
  auto seed = read_file(dir / "seed.jpg");
  const int n = 120;
  for (int i = 0; i < n; ++i)
    write_file(in / fmt::format("{:03}.jpg", i), seed);
  write_file(dir / "p.toml", R"(
[pipeline]
max_in_flight = 2
[[filter]]
type = "resize"
width = 1500
workers = 1
[sink]
format = "png"
naming = "{stem}.{ext}"
)");
  child_process run({pixline_binary(), "run", (dir / "p.toml").string(),
                     "--input", in.string(), "--output",
                     (dir / "out").string()},
                    dir / "log");
  // As soon as the first output exists, delete the last third and cut the
  // middle third's files in half.
  REQUIRE(wait_until([&] { return !files_in(dir / "out").empty(); }, 60));
  for (int i = n / 3; i < n; ++i) {
    auto file = in / fmt::format("{:03}.jpg", i);
    if (i >= 2 * n / 3)
      fs::remove(file);
    else
      write_file(file, seed.substr(0, seed.size() / 2));
  }
  int status = run.wait();
  auto log = read_file(dir / "log");
  INFO(log);
  CHECK(status == 1);
  int vanished = 0;
  int cut = 0;
  for (int i = 0; i < n; ++i) {
    auto name = fmt::format("{:03}", i);
    CAPTURE(name);
    auto out = dir / "out" / (name + ".png");
    // Summary lines read "  PATH [STAGE]: REASON".
    auto failure = log.find((in / (name + ".jpg")).string() + " [");
    if (fs::exists(out)) {
      // Whatever came out is whole.
      auto img = vips::VImage::new_from_file(out.c_str());
      CHECK(img.width() == 1500);
      CHECK_NOTHROW(img.avg());
      CHECK(failure == std::string::npos);
      continue;
    }
    REQUIRE(i >= n / 3);
    REQUIRE(failure != std::string::npos);
    auto line = log.substr(failure, log.find('\n', failure) - failure);
    if (i >= 2 * n / 3) {
      CHECK_THAT(line, Catch::Contains("[load]: cannot open: No such file"));
      ++vanished;
    } else {
      ++cut;
    }
  }
  // The run is far slower than the deleting, so most of them were hit.
  CHECK(vanished > 0);
  CHECK(cut > 0);
}
