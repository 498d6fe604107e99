// Everyday workflows of the real binary (issue 33): the commands people
// type first must work the first time.

#include <algorithm>
#include <csignal>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <vips/vips8>

#include <sys/stat.h>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

/// A photo-like 1600x1200 image in every format shrink-on-load treats
/// differently: baseline and progressive JPEG (libjpeg's DCT scaling),
/// PNG (no shrink-on-load) and WebP (libvips' thumbnail).
void write_photos(const fs::path& in) {
  fs::create_directories(in);
  auto photo = noisy_card(1600, 1200);
  photo.jpegsave((in / "baseline.jpg").c_str());
  photo.jpegsave((in / "progressive.jpg").c_str(),
                 vips::VImage::option()->set("interlace", true));
  photo.pngsave((in / "lossless.png").c_str());
  photo.webpsave((in / "lossy.webp").c_str());
}

} // namespace

TEST_CASE("smart crop works on JPEG (baseline, progressive), PNG and WebP "
          "files, in both isolations",
          "[cli][workflows][crop]") {
  temp_dir dir;
  write_photos(dir / "in");
  auto isolation = GENERATE(std::string("process"), std::string("thread"));
  write_file(dir / "pipeline.toml",
             fmt::format("[pipeline]\nisolation = \"{}\"\n[source]\n"
                         "path = \"unused\"\n[sink]\npath = \"unused\"\n",
                         isolation));
  for (std::string crop : {"attention", "entropy", "centre"}) {
    INFO(isolation << " crop=" << crop);
    std::string out;
    int status = run_command(
      fmt::format("{} run '{}' -i '{}' -o '{}' --chain 'thumbnail width=300 "
                  "crop={} ! save format=jpeg naming=\"{{stem}}.{{ext}}\"'",
                  pixline_binary(), (dir / "pipeline.toml").string(),
                  (dir / "in").string(), (dir / crop).string(), crop),
      &out);
    INFO(out);
    CHECK(status == 0);
    CHECK(files_in(dir / crop)
          == std::vector<std::string>{"baseline.jpg", "lossless.jpg", "lossy.jpg",
                                      "progressive.jpg"});
    for (auto& name : files_in(dir / crop)) {
      auto img = vips::VImage::new_from_file((dir / crop / name).c_str());
      CHECK(img.width() == 300);
      CHECK(img.height() == 300);
    }
  }
}

TEST_CASE("the input set: non-images skipped with one line, --recursive, "
          "no inputs is exit 5, include ignores case",
          "[cli][workflows][inputs]") {
  temp_dir dir;
  save(test_card(64, 48), dir / "in" / "a.jpg");
  save(test_card(64, 48), dir / "in" / "C.JPG");
  save(test_card(64, 48), dir / "in" / "sub" / "b.png");
  write_file(dir / "in" / "readme.txt", "not an image");
  write_file(dir / "in" / "notes.md", "nor this");
  auto chain = std::string{" --chain 'thumbnail width=16 ! save format=png'"};
  auto run = [&](const std::string& args, std::string* out) {
    return run_command(pixline_binary() + " run " + args + chain, out);
  };
  std::string out;
  SECTION("a folder takes its images only, and names the others once") {
    CHECK(run(fmt::format("-i '{}' -o '{}'", (dir / "in").string(),
                          (dir / "out").string()),
              &out)
          == 0);
    INFO(out);
    CHECK(files_in(dir / "out") == std::vector<std::string>{"C.png", "a.png"});
    CHECK_THAT(out, Catch::Contains("skipped 2 files with suffixes no image "
                                    "loader claims: notes.md, readme.txt"));
    CHECK_THAT(out, Catch::Contains("2 written, 0 skipped, 0 failed")
                      && !Catch::Contains("failed in stage"));
  }
  SECTION("FIFOs, devices and dangling links are named, never opened") {
    // A FIFO with no writer would block a reader forever.
    REQUIRE(mkfifo((dir / "in" / "pipe.jpg").c_str(), 0600) == 0);
    std::filesystem::create_symlink("/dev/zero", dir / "in" / "zero.jpg");
    std::filesystem::create_symlink(dir / "nowhere.jpg",
                                    dir / "in" / "gone.jpg");
    CHECK(run(fmt::format("-i '{}' -o '{}'", (dir / "in").string(),
                          (dir / "out").string()),
              &out)
          == 0);
    INFO(out);
    CHECK(files_in(dir / "out") == std::vector<std::string>{"C.png", "a.png"});
    CHECK_THAT(out, Catch::Contains("skipped 3 entries: gone.jpg, pipe.jpg, "
                                    "zero.jpg (not regular files"));
  }
  SECTION("--recursive takes the sub-folders") {
    CHECK(run(fmt::format("-r -i '{}' -o '{}'", (dir / "in").string(),
                          (dir / "out").string()),
              &out)
          == 0);
    INFO(out);
    CHECK(files_in(dir / "out")
          == std::vector<std::string>{"C.png", "a.png", "sub/b.png"});
  }
  SECTION("no inputs is exit 5, unless --allow-empty") {
    std::filesystem::create_directories(dir / "empty");
    auto args = fmt::format("-i '{}' -o '{}'", (dir / "empty").string(),
                            (dir / "out").string());
    CHECK(run(args, &out) == 5);
    CHECK_THAT(out, Catch::Contains("no inputs: no image files in"));
    CHECK(run(args + " --allow-empty", &out) == 0);
    CHECK(run(fmt::format("-i '{}' -o '{}'", (dir / "in" / "*.gif").string(),
                          (dir / "out").string()),
              &out)
          == 5);
    CHECK_THAT(out, Catch::Contains("*.gif' matches no file"));
  }
  SECTION("include patterns ignore case") {
    write_file(dir / "p.toml",
               fmt::format("[source]\npath = \"{}\"\ninclude = [\"*.jpg\"]\n"
                           "[sink]\npath = \"{}\"\n",
                           (dir / "in").string(), (dir / "out").string()));
    CHECK(run("'" + (dir / "p.toml").string() + "'", &out) == 0);
    INFO(out);
    CHECK(files_in(dir / "out") == std::vector<std::string>{"C.png", "a.png"});
  }
}

namespace {

/// Every file under `dir`, hidden ones (temporaries) included.
std::vector<std::string> all_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file())
      out.push_back(e.path().filename().string());
  return out;
}

bool has(const fs::path& file, const std::string& text) {
  return read_file(file).find(text) != std::string::npos;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("Ctrl-C in a batch: the first finishes the images in flight and "
          "prints the summary, the second exits at once: exit 130 both",
          "[cli][workflows][signals]") {
  temp_dir dir;
  const int images = 30;
  for (int i = 0; i < images; ++i)
    save(test_card(32, 24), dir / "in" / fmt::format("img{:02}.png", i));
  auto twice = GENERATE(false, true);
  INFO("second Ctrl-C: " << twice);
  child_process proc{{pixline_binary(), "--plugin",
                      fmt::format("{}/libplugin_slow.so",
                                  PIXLINE_TEST_PLUGIN_DIR),
                      "run", "-i", (dir / "in").string(), "-o",
                      (dir / "out").string(), "--events",
                      (dir / "events.jsonl").string(), "--chain",
                      "slow ms=300 ! save format=png"},
                     dir / "pixline.log"};
  REQUIRE(wait_until([&] { return has(dir / "events.jsonl", "\"written\""); },
                     30));
  proc.signal(SIGINT);
  if (twice) {
    // Two signals sent at once would merge into one.
    REQUIRE(wait_until(
      [&] { return has(dir / "pixline.log", "finishing the images"); }, 10));
    proc.signal(SIGINT);
  }
  CHECK(proc.wait() == 130);
  auto log = read_file(dir / "pixline.log");
  INFO(log);
  auto written = files_in(dir / "out");
  CHECK(written.size() < std::size_t(images));
  // Nothing partial: only whole outputs, no temporary files.
  CHECK(all_files(dir / "out").size() == written.size());
  for (auto& name : written) {
    auto img = vips::VImage::new_from_file((dir / "out" / name).c_str());
    CHECK(img.width() == 32);
  }
  if (twice) {
    CHECK_THAT(log, Catch::Contains("exiting now"));
    CHECK_THAT(log, !Catch::Contains("images:"));
  } else {
    CHECK_THAT(log, Catch::Contains(fmt::format("30 images: {} written",
                                                written.size())));
    CHECK_THAT(log, Catch::Contains(fmt::format(
                      "interrupted: {} inputs not started",
                      images - int(written.size()))));
    // Every image admitted was finished and reported.
    CHECK(count_of(read_file(dir / "events.jsonl"), "{\"event\":\"written\"")
          == written.size());
  }
}

TEST_CASE("the progress line fits the terminal, steps around log lines, and "
          "failures are listed once",
          "[cli][workflows][progress]") {
  temp_dir dir;
  for (int i = 0; i < 6; ++i)
    save(test_card(48, 32), dir / "in" / fmt::format("img{}.png", i));
  write_file(dir / "in" / "bad.png", "this is not a png");
  write_file(dir / "in" / "0bad.png", "nor is this");
  // `script` runs the command under a pseudo-terminal, 40 columns wide.
  auto at_terminal = [&](const std::string& options) {
    std::string tty;
    run_command(
      fmt::format("script -qec \"stty cols 40; {} run {} -i '{}' -o '{}' "
                  "--chain 'thumbnail width=16 ! save format=png'\" "
                  "/dev/null",
                  pixline_binary(), options, (dir / "in").string(),
                  (dir / "out").string()),
      &tty);
    fs::remove_all(dir / "out");
    return tty;
  };
  // Debug logs a line per image while the progress line is up.
  auto tty = at_terminal("--log-level debug");
  INFO(tty);
  REQUIRE_THAT(tty, Catch::Contains("images/s"));
  CHECK_THAT(tty, Catch::Contains("8 images: 6 written"));
  std::size_t draws = 0;
  std::istringstream lines{tty};
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> parts;
    std::size_t from = 0;
    for (auto at = line.find('\r'); at != std::string::npos;
         from = at + 1, at = line.find('\r', from))
      parts.push_back(line.substr(from, at - from));
    parts.push_back(line.substr(from));
    for (auto& part : parts) {
      if (part.find("images/s") == std::string::npos)
        continue;
      ++draws;
      auto text = part.substr(0, part.find("\x1b[K"));
      CHECK(text.size() <= 39);
    }
    // A log line written over a progress line that was not cleared would
    // share its last segment with it.
    CHECK_FALSE((parts.back().find("images/s") != std::string::npos
                 && parts.back().find(" -> ") != std::string::npos));
  }
  CHECK(draws > 0);
  // Once, in the summary (not also as a log line above it).
  auto plain = at_terminal("");
  INFO(plain);
  CHECK(count_of(plain, "/bad.png") == 1);
  CHECK(count_of(plain, "/0bad.png") == 1);
  // In input order, whichever failed first.
  CHECK(plain.find("/0bad.png [") < plain.find("/bad.png ["));
}

TEST_CASE("validate refuses what run would fail on: no [source] path, a "
          "naming outside the output folder",
          "[cli][workflows][validate]") {
  temp_dir dir;
  write_file(dir / "nosource.toml",
             "[[filter]]\ntype = \"thumbnail\"\n[sink]\npath = \"out\"\n");
  auto r = run_pixline("validate '" + (dir / "nosource.toml").string() + "'");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("[source] path is not set"));
  r = run_pixline("validate '" + (dir / "nosource.toml").string()
                  + "' --input '" + dir.path().string() + "'");
  CHECK(r.status == 0);
  write_file(dir / "emptypath.toml", "[source]\nrecursive = true\n[sink]\n");
  r = run_pixline("validate '" + (dir / "emptypath.toml").string() + "'");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("emptypath.toml:1:1")
                         && Catch::Contains("needs 'path'"));
  write_file(dir / "up.toml", "[source]\npath = \"in\"\n[sink]\npath = "
                              "\"out\"\nnaming = \"../{stem}.{ext}\"\n");
  r = run_pixline("validate '" + (dir / "up.toml").string() + "'");
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("up.toml:5:")
                         && Catch::Contains("outside the output folder"));
}

TEST_CASE("alpha saved as JPEG is flattened on the sink's background, white "
          "by default",
          "[cli][workflows][alpha]") {
  temp_dir dir;
  // Left half opaque red, right half fully transparent (and black beneath).
  auto rgb = solid(64, 32, 255, 0, 0);
  auto alpha = vips::VImage::xyz(64, 32)[0] < 32; // 255 left, 0 right
  save(rgb.bandjoin(alpha).copy(vips::VImage::option()->set(
         "interpretation", VIPS_INTERPRETATION_sRGB)),
       dir / "in" / "logo.png");
  for (std::string background : {"", "white", "black"}) {
    INFO("background: " << background);
    auto out = dir / ("out" + background);
    std::string log;
    auto option = background.empty() ? "" : " background=" + background;
    REQUIRE(run_command(fmt::format("{} run -i '{}' -o '{}' --chain 'save "
                                    "format=jpeg{}'",
                                    pixline_binary(), (dir / "in").string(),
                                    out.string(), option),
                        &log)
            == 0);
    INFO(log);
    auto img = vips::VImage::new_from_file((out / "logo.jpg").c_str());
    CHECK(img.bands() == 3);
    double expected = background == "black" ? 0 : 255;
    CHECK(near(pixel(img, 56, 16), {expected, expected, expected}, 8));
    CHECK(near(pixel(img, 8, 16), {255, 0, 0}, 24));
  }
}

TEST_CASE("a damaged file that fails only when its pixels are computed is "
          "reported as the decode's failure",
          "[cli][workflows][validate]") {
  temp_dir dir;
  for (std::string ext : {"jpg", "png"}) {
    save(test_card(400, 300), dir / ("whole." + ext));
    auto bytes = read_file(dir / ("whole." + ext));
    write_file(dir / "in" / ("cut." + ext),
               bytes.substr(0, bytes.size() * 2 / 3));
  }
  std::string out;
  CHECK(run_command(fmt::format("{} run -i '{}' -o '{}' --events '{}' --chain "
                                "'sharpen ! save format=webp'",
                                pixline_binary(), (dir / "in").string(),
                                (dir / "out").string(),
                                (dir / "events.jsonl").string()),
                    &out)
        == 1);
  INFO(out);
  CHECK_THAT(out, Catch::Contains("cut.jpg: failed in stage 'load': VipsJpeg")
                    && Catch::Contains("cut.png: failed in stage 'load': "));
  CHECK(count_of(read_file(dir / "events.jsonl"), "\"stage\":\"load\"")
        == 2);
}

TEST_CASE("smart crop works in a watch", "[cli][workflows][crop][watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml",
             fmt::format("[source]\nkind = \"watch\"\npath = \"{}\"\n"
                         "settle_ms = 50\nstate_dir = \"{}\"\n[sink]\n"
                         "path = \"{}\"\n",
                         (dir / "in").string(), (dir / "state").string(),
                         (dir / "out").string()));
  child_process proc{{pixline_binary(), "watch", (dir / "watch.toml").string(),
                      "--chain",
                      "thumbnail width=100 crop=attention ! save format=jpeg"},
                     dir / "pixline.log"};
  // Written aside and renamed in, as careful writers do.
  noisy_card(1600, 1200).jpegsave((dir / "photo.jpg").c_str());
  fs::rename(dir / "photo.jpg", dir / "in" / "photo.jpg");
  bool done = wait_until([&] { return files_in(dir / "out").size() == 1; }, 30);
  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
  INFO(read_file(dir / "pixline.log"));
  REQUIRE(done);
  auto img = vips::VImage::new_from_file((dir / "out" / "photo.jpg").c_str());
  CHECK(img.width() == 100);
  CHECK(img.height() == 100);
}

namespace {

/// `image` as JPEG (DCT shrink-on-load), PNG (no shrink-on-load) and WebP
/// (libvips' thumbnail), through `thumbnail ARGS`: every output must be
/// `width` x `height`.
void check_thumbnails(const vips::VImage& image, const std::string& args,
                      int width, int height) {
  temp_dir dir;
  fs::create_directories(dir / "in");
  image.jpegsave((dir / "in" / "jpeg.jpg").c_str());
  image.pngsave((dir / "in" / "png.png").c_str());
  image.webpsave((dir / "in" / "webp.webp").c_str());
  std::string out;
  REQUIRE(run_command(fmt::format("{} run -i '{}' -o '{}' --chain 'thumbnail "
                                  "{} ! save format=png'",
                                  pixline_binary(), (dir / "in").string(),
                                  (dir / "out").string(), args),
                      &out)
          == 0);
  INFO(out);
  REQUIRE(files_in(dir / "out")
          == std::vector<std::string>{"jpeg.png", "png.png", "webp.png"});
  for (auto& name : files_in(dir / "out")) {
    INFO(name);
    auto img = vips::VImage::new_from_file((dir / "out" / name).c_str());
    CHECK(img.width() == width);
    CHECK(img.height() == height);
  }
}

} // namespace

TEST_CASE("thumbnail with a height alone bounds the height only, on every "
          "loading path",
          "[cli][workflows][thumbnail]") {
  check_thumbnails(noisy_card(1600, 200), "width=0 height=50", 400, 50);
}

TEST_CASE("thumbnail with a width alone bounds the width only (the height "
          "follows), on every loading path",
          "[cli][workflows][thumbnail]") {
  struct want {
    const char* args;
    int width;
    int height;
  };
  // Width alone: the height follows. Neither: a 256x256 box. A crop with
  // width alone: a square.
  auto w = GENERATE(values<want>({{"width=50", 50, 400},
                                  {"", 32, 256},
                                  {"width=50 crop=centre", 50, 50}}));
  CAPTURE(w.args);
  check_thumbnails(noisy_card(200, 1600), w.args, w.width, w.height);
}

namespace {

/// `dir`/matrix.toml: one [[sink]] with 3 widths x 3 formats and a run
/// manifest, from `in` to `out`.
void write_matrix_config(const fs::path& dir, const std::string& isolation,
                         const fs::path& in, const fs::path& out,
                         const std::string& source_extra = "") {
  write_file(dir / "matrix.toml",
             fmt::format(R"([pipeline]
isolation = "{iso}"
manifest = "{out}/manifest.json"
base_url = "https://cdn.example.com/img"

[source]
path = "{in}"
recursive = true
{extra}

[[sink]]
path = "{out}"
widths = [640, 160, 320]
formats = ["webp", "avif", "jpeg"]

[sink.jpeg]
progressive = true
quality = 70

[sink.avif]
effort = 0
)",
                         fmt::arg("iso", isolation),
                         fmt::arg("out", out.string()),
                         fmt::arg("in", in.string()),
                         fmt::arg("extra", source_extra)));
}

} // namespace

TEST_CASE("a sink matrix: every width in every format from one sink, and "
          "one manifest for the run",
          "[cli][workflows][matrix]") {
  temp_dir dir;
  auto isolation = GENERATE(std::string("process"), std::string("thread"));
  CAPTURE(isolation);
  fs::create_directories(dir / "in" / "sub dir");
  noisy_card(800, 600).jpegsave((dir / "in" / "big.jpg").c_str());
  noisy_card(400, 300).pngsave((dir / "in" / "sub dir" / "mid.png").c_str());
  noisy_card(100, 50).jpegsave((dir / "in" / "tiny.jpg").c_str());
  write_matrix_config(dir.path(), isolation, dir / "in", dir / "out");
  std::string out;
  auto status = run_command(fmt::format("{} run '{}'", pixline_binary(),
                                        (dir / "matrix.toml").string()),
                            &out);
  INFO(out);
  REQUIRE(status == 0);
  // Widths wider than an image are left out (never enlarged), except the
  // smallest: tiny.jpg comes out once per format, at its own width.
  std::vector<std::string> expected;
  for (std::string ext : {"avif", "jpg", "webp"}) {
    for (auto w : {"160", "320", "640"})
      expected.push_back(fmt::format("big-{}.{}", w, ext));
    for (auto w : {"160", "320"})
      expected.push_back(fmt::format("sub dir/mid-{}.{}", w, ext));
    expected.push_back(fmt::format("tiny-100.{}", ext));
  }
  expected.push_back("manifest.json");
  std::sort(expected.begin(), expected.end());
  CHECK(files_in(dir / "out") == expected);
  // The per-format table applies: progressive JPEG (SOF2).
  CHECK(has(dir / "out" / "big-640.jpg", "\xff\xc2"));

  auto manifest = nlohmann::json::parse(read_file(dir / "out" / "manifest.json"));
  CHECK(manifest["base_url"] == "https://cdn.example.com/img/");
  auto& images = manifest["images"];
  REQUIRE(images.size() == 3);
  CHECK(images["big.jpg"].size() == 9);
  CHECK(images["sub dir/mid.png"].size() == 6);
  CHECK(images["tiny.jpg"].size() == 3);
  int listed = 0;
  for (auto& [input, outputs] : images.items())
    for (auto& o : outputs) {
      ++listed;
      std::string path = o["path"];
      CAPTURE(input, path);
      REQUIRE(fs::exists(dir / "out" / path));
      auto img = vips::VImage::new_from_file((dir / "out" / path).c_str());
      CHECK(o["width"] == img.width());
      CHECK(o["height"] == img.height());
      CHECK(o["bytes"] == fs::file_size(dir / "out" / path));
      CHECK_THAT(path, Catch::EndsWith(
                         "-" + std::to_string(img.width()) + "."
                         + (o["format"] == "jpeg" ? std::string("jpg")
                                                  : std::string(o["format"]))));
      auto url = "https://cdn.example.com/img/"
                 + (path.rfind("sub dir/", 0) == 0
                      ? "sub%20dir/" + path.substr(8)
                      : path);
      CHECK(o["url"] == url);
    }
  CHECK(listed == 18);
}

TEST_CASE("a watch keeps its run manifest up to date, across restarts",
          "[cli][workflows][matrix][watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_matrix_config(dir.path(), "process", dir / "in", dir / "out",
                      fmt::format("kind = \"watch\"\nstate_dir = \"{}\"",
                                  (dir / "state").string()));
  auto listed = [&](const std::string& input) -> std::size_t {
    try {
      auto m = nlohmann::json::parse(read_file(dir / "out" / "manifest.json"));
      return m["images"].contains(input) ? m["images"][input].size() : 0;
    } catch (const std::exception&) {
      return 0;
    }
  };
  auto start = [&] {
    return std::make_unique<child_process>(
      std::vector<std::string>{pixline_binary(), "watch",
                               (dir / "matrix.toml").string()},
      dir / "watch.log");
  };
  auto watch = start();
  noisy_card(400, 300).jpegsave((dir / "in" / "a.jpg").c_str());
  // Listed within seconds of its outputs, while the watch goes on.
  CHECK(wait_until([&] { return listed("a.jpg") == 6; }, 30));
  watch->signal(SIGINT);
  CHECK(watch->wait() == 0);
  auto again = start();
  noisy_card(200, 100).jpegsave((dir / "in" / "b.jpg").c_str());
  CHECK(wait_until([&] { return listed("b.jpg") == 3; }, 30));
  again->signal(SIGINT);
  CHECK(again->wait() == 0);
  INFO(read_file(dir / "watch.log"));
  // The first run's input is still listed.
  CHECK(listed("a.jpg") == 6);
}

TEST_CASE("a sink matrix whose outputs would share a name is refused",
          "[cli][workflows][matrix]") {
  temp_dir dir;
  auto check = [&](const std::string& sink, const std::string& why) {
    write_file(dir / "p.toml",
               "[source]\npath = \".\"\n[[sink]]\npath = \"out\"\n" + sink);
    auto r = run_pixline("validate '" + (dir / "p.toml").string() + "'");
    INFO(sink);
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains(why));
  };
  check("widths = [100, 200]\nnaming = \"{stem}.{ext}\"\n", "has no {width}");
  check("formats = [\"png\", \"webp\"]\nnaming = \"{stem}-{width}.png\"\n",
        "neither {format} nor {ext}");
  check("formats = [\"png\"]\nformat = \"webp\"\n", "not both");
  check("formats = [\"png\"]\n[sink.webp]\nquality = 50\n",
        "'formats' does not list it");
  check("widths = [100, 100]\n", "twice");
  check("formats = [\"bmp\"]\n", "not a format");
}
