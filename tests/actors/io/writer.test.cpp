#include "actors/io/writer.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "actors/io/jpeg_encoder.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

job job_with(vips::VImage pixels, std::string relative = "photo.png") {
  job j;
  j.id = 3;
  j.path = "in/" + relative;
  j.relative = relative;
  j.img = std::make_shared<tracked_image>();
  j.img->pixels = std::move(pixels);
  j.img->input_format = "png";
  return j;
}

/// A JPEG in `dir` cut in half, opened so that computing it fails.
vips::VImage cut_jpeg(const fs::path& dir) {
  save(test_card(256, 256), dir / "in.jpg");
  auto bytes = read_file(dir / "in.jpg");
  write_file(dir / "cut.jpg", bytes.substr(0, bytes.size() / 2));
  return vips::VImage::new_from_file(
    (dir / "cut.jpg").c_str(),
    vips::VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR));
}

writer_options options_in(const fs::path& dir, option_map extra = {}) {
  extra["path"] = dir.string();
  return writer_spec().decode(extra);
}

} // namespace

TEST_CASE("the writer encodes each format with the right extension",
          "[writer]") {
  temp_dir dir;
  auto format = GENERATE(as<std::string>{}, "jpeg", "png", "webp", "avif",
                         "tiff", "jxl", "gif");
  CAPTURE(format);
  writer w{options_in(dir.path(), {{"format", format}})};
  auto j = job_with(test_card(40, 30));
  w.write(j);
  REQUIRE(j.outputs.size() == 1);
  auto expected = dir / ("photo." + extension_of(format));
  CHECK(j.outputs[0] == expected.string());
  CHECK_FALSE(j.img);
  auto back = vips::VImage::new_from_file(expected.c_str());
  CHECK(back.width() == 40);
  CHECK(back.height() == 30);
  // Nothing but the output: no temporary file left behind.
  CHECK(files_in(dir.path()) == std::vector<std::string>{
                                  "photo." + extension_of(format)});
}

TEST_CASE("outputs get 0644 under the umask, whatever another thread does",
          "[writer]") {
  temp_dir dir;
  // A umask set while the writer creates its temporary file (Debian 12's
  // liborc sets 0066 for a moment when it maps code memory) must not reach
  // the output; the umask the process started with does.
  writer w{options_in(dir.path(), {{"format", std::string{"png"}}})};
  auto j = job_with(test_card(8, 8));
  auto old = ::umask(0066);
  w.write(j);
  ::umask(old);
  REQUIRE(j.outputs.size() == 1);
  auto perms = fs::status(j.outputs[0]).permissions();
  CHECK(int(perms) == int(0644 & ~old));
}

TEST_CASE("naming templates place outputs", "[writer]") {
  temp_dir dir;
  writer w{options_in(dir.path(),
                      {{"format", std::string{"png"}},
                       {"naming",
                        std::string{"{dir}/{stem}_{width}x{height}.{ext}"}}})};
  auto j = job_with(test_card(40, 30), "a/b/photo.jpg");
  w.write(j);
  CHECK(files_in(dir.path())
        == std::vector<std::string>{"a/b/photo_40x30.png"});
}

TEST_CASE("format auto keeps the input format", "[writer]") {
  temp_dir dir;
  writer w{options_in(dir.path())};
  auto j = job_with(test_card(10, 10), "x.webp");
  j.img->input_format = "webp";
  w.write(j);
  CHECK(files_in(dir.path()) == std::vector<std::string>{"x.webp"});
  auto k = job_with(test_card(10, 10), "y.svg");
  k.img->input_format = "svg";
  w.write(k);
  CHECK(files_in(dir.path()) == std::vector<std::string>{"x.webp", "y.jpg"});
}

TEST_CASE("overwrite policies", "[writer]") {
  temp_dir dir;
  write_file(dir / "photo.png", "old");
  SECTION("skip leaves the old file") {
    writer w{options_in(dir.path(), {{"overwrite", std::string{"skip"}}})};
    auto j = job_with(test_card(10, 10));
    w.write(j);
    CHECK(j.skipped);
    CHECK(j.outputs.empty());
    CHECK(read_file(dir / "photo.png") == "old");
  }
  SECTION("error fails the image and leaves the old file") {
    writer w{options_in(dir.path(), {{"overwrite", std::string{"error"}}})};
    auto j = job_with(test_card(10, 10));
    CHECK_THROWS_WITH(w.write(j), Catch::Contains("exists"));
    CHECK(read_file(dir / "photo.png") == "old");
  }
  SECTION("replace swaps in a whole new file") {
    writer w{options_in(dir.path())};
    auto j = job_with(test_card(10, 10));
    w.write(j);
    CHECK(vips::VImage::new_from_file((dir / "photo.png").c_str()).width()
          == 10);
  }
}

TEST_CASE("a failed encode leaves no file behind", "[writer]") {
  temp_dir dir;
  auto pixels = cut_jpeg(dir.path());
  fs::create_directories(dir / "out");
  writer w{options_in(dir / "out", {{"format", std::string{"png"}}})};
  auto j = job_with(pixels, "cut.jpg");
  CHECK_THROWS(w.write(j));
  CHECK(files_in(dir / "out").empty());
}

TEST_CASE("a name that leaves the output folder is refused", "[writer]") {
  temp_dir dir;
  writer w{options_in(dir / "out", {{"naming", std::string{"../{stem}.{ext}"}}})};
  auto j = job_with(test_card(10, 10));
  CHECK_THROWS_WITH(w.write(j), Catch::Contains("leaves the output folder"));
  CHECK_FALSE(fs::exists(dir / "photo.png"));
}

TEST_CASE("quality changes jpeg size", "[writer]") {
  temp_dir dir;
  auto noisy = vips::VImage::gaussnoise(200, 200).bandjoin_const({128, 128})
                 .cast(VIPS_FORMAT_UCHAR)
                 .copy(vips::VImage::option()->set("interpretation",
                                                   VIPS_INTERPRETATION_sRGB));
  writer lo{options_in(dir / "lo", {{"format", std::string{"jpeg"}},
                                    {"quality", std::int64_t{20}}})};
  writer hi{options_in(dir / "hi", {{"format", std::string{"jpeg"}},
                                    {"quality", std::int64_t{95}}})};
  auto a = job_with(noisy);
  auto b = job_with(noisy);
  lo.write(a);
  hi.write(b);
  CHECK(fs::file_size(a.outputs[0]) * 2 < fs::file_size(b.outputs[0]));
}

TEST_CASE("an image that takes longer than timeout is stopped", "[writer]") {
  // png goes through libvips' saver, which signals "eval" as it computes;
  // jpeg through encode_jpeg_here, which checks between strips.
  auto format = GENERATE(as<std::string>{}, "png", "jpeg");
  CAPTURE(format);
  temp_dir dir;
  vips_threads one{1};
  // Heavy on purpose: a large blur takes seconds, the limit is 50 ms.
  // 1-band 8-bit B_W, 16 MP: small enough for encode_jpeg_here.
  auto slow = vips::VImage::gaussnoise(4000, 4000)
                .gaussblur(40)
                .cast(VIPS_FORMAT_UCHAR)
                .copy(vips::VImage::option()->set("interpretation",
                                                  VIPS_INTERPRETATION_B_W));
  REQUIRE(jpeg_encodable_here(slow));
  writer w{options_in(dir / "out", {{"format", format}, {"timeout", 0.05}})};
  auto j = job_with(slow);
  auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(w.write(j), Catch::Contains("timeout = 0.05 s"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  CHECK(files_in(dir / "out").empty());
  // Without a limit the same kind of work completes (small enough here).
  writer unlimited{options_in(dir / "ok", {{"format", format},
                                           {"timeout", 0.0}})};
  auto k = job_with(vips::VImage::gaussnoise(64, 64).gaussblur(2).cast(
    VIPS_FORMAT_UCHAR));
  unlimited.write(k);
  CHECK(k.outputs.size() == 1);
}

namespace {

/// Whether libvips' sink computed `img` when `w` wrote it: libvips' sinks
/// signal "posteval" on the image they computed, encode_jpeg_here does not.
bool written_by_libvips_sink(writer& w, vips::VImage img) {
  vips_image_set_progress(img.get_image(), TRUE);
  bool evaluated = false;
  auto handler = g_signal_connect(
    img.get_image(), "posteval",
    G_CALLBACK(+[](VipsImage*, VipsProgress*, gpointer flag) {
      *static_cast<bool*>(flag) = true;
    }),
    &evaluated);
  auto j = job_with(img);
  w.write(j);
  g_signal_handler_disconnect(img.get_image(), handler);
  REQUIRE(j.outputs.size() == 1);
  return evaluated;
}

} // namespace

TEST_CASE("small stripped jpegs are encoded on the save worker's thread, "
          "with libvips' bytes",
          "[writer]") {
  temp_dir dir;
  vips_threads one{1};
  auto photo = noisy_card(500, 400);
  writer w{options_in(dir / "here", {{"format", std::string{"jpeg"}},
                                     {"quality", std::int64_t{85}}})};
  CHECK_FALSE(written_by_libvips_sink(w, photo));
  // The same file as libvips' jpegsave with the writer's settings (optimize
  // auto: on below 16 MP).
  jpeg_settings settings;
  settings.quality = 85;
  settings.optimize = true;
  CHECK(read_file(dir / "here" / "photo.jpg") == libvips_jpeg(photo, settings));

  // Metadata to keep, another format or libvips threads per image:
  // libvips' saver. (So are images libvips converts before saving, such as
  // one with alpha: jpeg_encodable_here refuses them, and the "posteval"
  // libvips' sink signals is then on the converted image.)
  writer keep{options_in(dir / "keep", {{"format", std::string{"jpeg"}},
                                        {"strip", false}})};
  CHECK(written_by_libvips_sink(keep, photo));
  writer png{options_in(dir / "png", {{"format", std::string{"png"}}})};
  CHECK(written_by_libvips_sink(png, photo));
  vips_threads two{2};
  CHECK(written_by_libvips_sink(w, photo));
}

namespace {

std::uintmax_t size_of_output(const job& j) {
  REQUIRE(j.outputs.size() == 1);
  return fs::file_size(j.outputs[0]);
}

} // namespace

TEST_CASE("optimize: Huffman optimisation makes smaller jpegs, auto is on for "
          "small images",
          "[writer]") {
  temp_dir dir;
  auto out = [&](const std::string& optimize) {
    writer w{options_in(dir / optimize, {{"format", std::string{"jpeg"}},
                                         {"optimize", optimize}})};
    auto j = job_with(test_card(400, 300));
    w.write(j);
    return j;
  };
  auto on = out("on");
  auto off = out("off");
  auto automatic = out("auto");
  CHECK(size_of_output(on) < size_of_output(off));
  // Under 16 MP, auto is on: the same bytes.
  CHECK(read_file(automatic.outputs[0]) == read_file(on.outputs[0]));
}

TEST_CASE("optimize = auto streams jpegs over 16 megapixels", "[writer]") {
  temp_dir dir;
  // 4100 x 4000 = 16.4 MP: auto leaves the tables alone, so the file equals
  // optimize = off, and differs from on.
  auto big = vips::VImage::gaussnoise(4100, 4000).cast(VIPS_FORMAT_UCHAR)
          .bandjoin({vips::VImage::gaussnoise(4100, 4000).cast(VIPS_FORMAT_UCHAR),
                     vips::VImage::gaussnoise(4100, 4000).cast(VIPS_FORMAT_UCHAR)})
          .copy_memory();
  auto out = [&](const std::string& optimize) {
    writer w{options_in(dir / optimize, {{"format", std::string{"jpeg"}},
                                         {"optimize", optimize}})};
    auto j = job_with(big);
    w.write(j);
    return read_file(j.outputs.at(0));
  };
  auto automatic = out("auto");
  CHECK(automatic == out("off"));
  CHECK(automatic != out("on"));
}

TEST_CASE("palette pngs have at most 256 colours and are smaller", "[writer]") {
  temp_dir dir;
  auto out = [&](bool palette) {
    writer w{options_in(dir / (palette ? "p" : "rgb"),
                        {{"format", std::string{"png"}}, {"palette", palette}})};
    auto j = job_with(test_card(300, 200));
    w.write(j);
    return j;
  };
  auto rgb = out(false);
  auto pal = out(true);
  CHECK(size_of_output(pal) < size_of_output(rgb));
  auto back = vips::VImage::new_from_file(pal.outputs[0].c_str());
  CHECK(back.width() == 300);
  // Count distinct colours: a histogram of the packed RGB value.
  auto packed = (back[0].cast(VIPS_FORMAT_UINT) * 65536
                 + back[1].cast(VIPS_FORMAT_UINT) * 256
                 + back[2].cast(VIPS_FORMAT_UINT));
  std::set<std::uint32_t> colours;
  auto region = packed.cast(VIPS_FORMAT_UINT).copy_memory();
  auto* px = static_cast<const std::uint32_t*>(region.data());
  for (int i = 0; i < region.width() * region.height(); ++i)
    colours.insert(px[i]);
  CHECK(colours.size() <= 256);
  CHECK(colours.size() > 16);
}

TEST_CASE("tiff pyramid: tiled, with half-size levels", "[writer]") {
  temp_dir dir;
  writer w{options_in(dir.path(), {{"format", std::string{"tiff"}},
                                   {"pyramid", true}})};
  auto j = job_with(test_card(1024, 768));
  w.write(j);
  REQUIRE(j.outputs.size() == 1);
  auto levels = vips::VImage::new_from_file(j.outputs[0].c_str())
                  .get_int("n-pages");
  // 1024 -> 512 -> 256: three levels, the last fits one 256 px tile.
  CHECK(levels == 3);
  auto level1 = vips::VImage::new_from_file(
    j.outputs[0].c_str(), vips::VImage::option()->set("page", 1));
  CHECK(level1.width() == 512);
  CHECK(level1.height() == 384);
}

TEST_CASE("{hash} names an output after its content", "[writer]") {
  temp_dir dir;
  writer w{options_in(dir.path(), {{"format", std::string{"png"}},
                                   {"naming", std::string{"{stem}.{hash}.{ext}"}}})};
  auto a = job_with(test_card(40, 30));
  w.write(a);
  REQUIRE(a.outputs.size() == 1);
  auto name = fs::path(a.outputs[0]).filename().string();
  REQUIRE(name.size() == std::string("photo.").size() + 16 + 4);
  auto bytes = read_file(a.outputs[0]);
  std::unique_ptr<gchar, decltype(&g_free)> sha(
    g_compute_checksum_for_string(G_CHECKSUM_SHA256, bytes.data(),
                                  gssize(bytes.size())),
    &g_free);
  CHECK(name == "photo." + std::string(sha.get(), 16) + ".png");
  // Other pixels, another name.
  auto b = job_with(test_card(41, 30));
  w.write(b);
  CHECK(b.outputs.at(0) != a.outputs[0]);
}

TEST_CASE("subsample: off keeps full colour resolution in jpegs", "[writer]") {
  temp_dir dir;
  // One-pixel red and blue columns: chroma subsampling smears them.
  auto x = vips::VImage::xyz(64, 64)[0];
  auto stripes = ((x % 2) == 0).ifthenelse(std::vector<double>{255, 0, 0},
                                           std::vector<double>{0, 0, 255})
                   .cast(VIPS_FORMAT_UCHAR)
                   .copy(vips::VImage::option()->set(
                     "interpretation", VIPS_INTERPRETATION_sRGB));
  auto error_with = [&](const std::string& mode) {
    writer w{options_in(dir / mode, {{"format", std::string{"jpeg"}},
                                     {"quality", std::int64_t{95}},
                                     {"subsample", mode}})};
    auto j = job_with(stripes);
    w.write(j);
    auto back = vips::VImage::new_from_file(j.outputs.at(0).c_str());
    return (back.cast(VIPS_FORMAT_FLOAT) - stripes.cast(VIPS_FORMAT_FLOAT))
      .abs()
      .avg();
  };
  auto on = error_with("on");
  auto off = error_with("off");
  CAPTURE(on, off);
  CHECK(off < on / 2);
  // Quality 95: auto does not subsample.
  CHECK(error_with("auto") == Approx(off));
}

TEST_CASE("a staged output appears only when committed, and whole",
          "[writer][commit]") {
  temp_dir dir;
  auto target = dir / "a.txt";
  auto staged = stage_file(target, "hello", 5);
  CHECK_FALSE(fs::exists(target));
  // Only the temporary file, hidden, with pixline's pid and random digits.
  auto names = files_in(dir.path());
  REQUIRE(names.size() == 1);
  CHECK_THAT(names[0],
             Catch::Matches(fmt::format(R"(\.pixline-{}-[0-9a-f]{{16}}\.tmp)",
                                        ::getpid())));
  staged->commit();
  CHECK(read_file(target) == "hello");
  CHECK(files_in(dir.path()) == std::vector<std::string>{"a.txt"});
  CHECK_NOTHROW(staged->commit());
}

TEST_CASE("a durable commit fsyncs before the rename, and fsync = false does not",
          "[writer][commit]") {
  temp_dir dir;
  for (bool durable : {true, false}) {
    CAPTURE(durable);
    // fsync fails on a pipe (EINVAL): only a commit that calls it fails.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[1]);
    write_file(dir / ".a.txt.tmp", "x");
    staged_file staged{safe_dir::open_root(dir.path(), false), ".a.txt.tmp",
                       "a.txt", dir / "a.txt", unique_fd{fds[0]}, durable};
    CHECK(staged.durable() == durable);
    if (durable) {
      CHECK_THROWS_WITH(staged.commit(), Catch::Contains("fsync failed"));
      CHECK(files_in(dir.path()).empty());
    } else {
      staged.commit();
      CHECK(read_file(dir / "a.txt") == "x");
      CHECK(files_in(dir.path()) == std::vector<std::string>{"a.txt"});
    }
  }
  // The save stage's option, on by default, reaches each staged output.
  CHECK(writer_spec().decode({}).fsync);
  for (bool fsync : {true, false}) {
    writer w{options_in(dir.path(), {{"fsync", fsync}})};
    w.defer_commits(true);
    auto j = job_with(test_card(20, 10));
    w.write(j);
    REQUIRE(j.staged.size() == 1);
    CHECK(j.staged[0]->durable() == fsync);
    commit_outputs(j);
    CHECK(fs::exists(dir / "photo.png"));
  }
}

TEST_CASE("a staged output dropped without a commit leaves nothing",
          "[writer][commit]") {
  temp_dir dir;
  write_file(dir / "a.txt", "old");
  stage_file(dir / "a.txt", "new", 3);
  CHECK(files_in(dir.path()) == std::vector<std::string>{"a.txt"});
  CHECK(read_file(dir / "a.txt") == "old");
}

TEST_CASE("a commit that fails names the output and leaves nothing",
          "[writer][commit]") {
  temp_dir dir;
  // rename() cannot put a file over a folder that has something in it.
  write_file(dir / "a.jpg" / "inside", "x");
  auto staged = stage_file(dir / "a.jpg", "data", 4);
  CHECK_THROWS_WITH(staged->commit(),
                    Catch::Contains((dir / "a.jpg").string())
                      && Catch::Contains("rename failed"));
  CHECK(files_in(dir.path()) == std::vector<std::string>{"a.jpg/inside"});
}

TEST_CASE("a writer that defers commits leaves its output to commit_outputs",
          "[writer][commit]") {
  temp_dir dir;
  writer w{options_in(dir.path())};
  w.defer_commits(true);
  auto j = job_with(test_card(20, 10));
  w.write(j);
  auto expected = (dir / "photo.png").string();
  REQUIRE(j.outputs == std::vector<std::string>{expected});
  REQUIRE(j.staged.size() == 1);
  CHECK_FALSE(fs::exists(expected));
  commit_outputs(j);
  CHECK(j.staged.empty());
  CHECK(j.outputs == std::vector<std::string>{expected});
  CHECK(vips::VImage::new_from_file(expected.c_str()).width() == 20);
  CHECK(files_in(dir.path()) == std::vector<std::string>{"photo.png"});
}

TEST_CASE("a deferred output touches the output folder only when committed",
          "[writer][commit]") {
  temp_dir dir;
  fs::create_directories(dir / "out");
  auto naming = option_map{{"naming", std::string{"{dir}/{stem}.{ext}"}}};
  writer w{options_in(dir / "out", naming)};
  w.defer_commits(true);
  auto nothing_written = [&] {
    // No temporary file, no folder: the save worker did not wait for them.
    CHECK(files_in(dir / "out").empty());
    CHECK_FALSE(fs::exists(dir / "out" / "a"));
  };
  SECTION("written at the commit, in a folder made then") {
    auto j = job_with(test_card(20, 10), "a/b/photo.png");
    w.write(j);
    REQUIRE(j.staged.size() == 1);
    nothing_written();
    commit_outputs(j);
    CHECK(j.outputs
          == std::vector<std::string>{(dir / "out" / "a/b/photo.png").string()});
    CHECK(files_in(dir / "out") == std::vector<std::string>{"a/b/photo.png"});
    CHECK(vips::VImage::new_from_file((dir / "out" / "a/b/photo.png").c_str())
            .width()
          == 20);
    auto mask = ::umask(0);
    ::umask(mask);
    CHECK(int(fs::status(dir / "out" / "a/b/photo.png").permissions())
          == int(0644 & ~mask));
  }
  SECTION("dropped without a commit, it leaves nothing") {
    job j = job_with(test_card(20, 10), "a/photo.png");
    w.write(j);
    j.staged.clear();
    nothing_written();
  }
  SECTION("a symlink in the way fails the commit, naming the output, and "
          "nothing is written through it") {
    fs::create_directories(dir / "elsewhere");
    fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "sub");
    auto j = job_with(test_card(10, 10), "sub/y.png");
    w.write(j);
    CHECK_THROWS_WITH(commit_outputs(j),
                      Catch::Contains("refusing to follow symlink "
                                      + (dir / "out" / "sub").string()));
    CHECK(j.outputs.empty());
    CHECK(j.written.empty());
    CHECK(files_in(dir / "elsewhere").empty());
  }
}

TEST_CASE("a deferred output from encoded bytes outlives the bytes it was "
          "stored from",
          "[writer][commit]") {
  temp_dir dir;
  writer w{options_in(dir.path())};
  w.defer_commits(true);
  auto j = job_with(test_card(20, 10));
  std::optional<output_record> record;
  {
    // What a worker process or a node sends: gone once store() returns.
    auto encoded = w.encode(*j.img);
    record = w.store(j, encoded);
    std::fill(encoded.bytes.begin(), encoded.bytes.end(), std::uint8_t(0));
  }
  REQUIRE(record);
  REQUIRE(record->staged);
  record->staged->commit();
  auto out = vips::VImage::new_from_file((dir / "photo.png").c_str());
  CHECK(out.width() == 20);
  CHECK(out.height() == 10);
}

TEST_CASE("commit_outputs drops an output that fails and the manifest after "
          "it",
          "[writer][commit]") {
  temp_dir dir;
  write_file(dir / "bad.png" / "inside", "x");
  job j;
  j.id = 5;
  auto stage = [&](const std::string& name, bool manifest) {
    auto f = stage_file(dir / name, name.data(), name.size());
    if (manifest)
      f->mark_manifest();
    j.outputs.push_back((dir / name).string());
    j.staged.push_back(f);
  };
  stage("good.webp", false);
  stage("bad.png", false);
  stage("good.json", true);
  SECTION("a job that was fine fails, naming the output") {
    CHECK_THROWS_WITH(commit_outputs(j),
                      Catch::Contains((dir / "bad.png").string())
                        && Catch::Contains("rename failed"));
  }
  SECTION("a job that had failed keeps its error, with the commit's added") {
    j.error = "sink 3: cannot encode";
    CHECK_NOTHROW(commit_outputs(j));
    CHECK_THAT(j.error, Catch::StartsWith("sink 3: cannot encode; ")
                          && Catch::Contains("bad.png"));
  }
  CHECK(j.staged.empty());
  CHECK(j.outputs == std::vector<std::string>{(dir / "good.webp").string()});
  CHECK(files_in(dir.path())
        == std::vector<std::string>{"bad.png/inside", "good.webp"});
  CHECK(read_file(dir / "good.webp") == "good.webp");
}

TEST_CASE("commit_outputs writes the manifest last, when every output is "
          "there",
          "[writer][commit]") {
  temp_dir dir;
  job j;
  for (std::string name : {"a.webp", "a.json"}) {
    auto f = stage_file(dir / name, name.data(), name.size());
    if (name == "a.json")
      f->mark_manifest();
    j.outputs.push_back((dir / name).string());
    j.staged.push_back(f);
  }
  commit_outputs(j);
  CHECK_FALSE(j.failed());
  CHECK(j.outputs.size() == 2);
  CHECK(files_in(dir.path()) == std::vector<std::string>{"a.json", "a.webp"});
}

TEST_CASE("a symlink below the output folder is refused and nothing is "
          "written through it",
          "[writer][safe]") {
  temp_dir dir;
  fs::create_directories(dir / "out" / "a");
  fs::create_directories(dir / "elsewhere");
  auto naming = option_map{{"naming", std::string{"{dir}/{stem}.{ext}"}}};
  writer w{options_in(dir / "out", naming)};
  SECTION("a symlinked sub-folder") {
    fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "sub");
    auto j = job_with(test_card(10, 10), "sub/y.png");
    CHECK_THROWS_WITH(w.write(j),
                      Catch::Contains("refusing to follow symlink "
                                      + (dir / "out" / "sub").string()));
  }
  SECTION("a symlink deeper down, in a folder that exists") {
    fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "a" / "b");
    auto j = job_with(test_card(10, 10), "a/b/c/y.png");
    CHECK_THROWS_WITH(w.write(j),
                      Catch::Contains("refusing to follow symlink "
                                      + (dir / "out" / "a" / "b").string()));
  }
  SECTION("overwrite = skip looks for the output through no symlink either") {
    writer skip{options_in(dir / "out",
                           {{"naming", std::string{"{dir}/{stem}.{ext}"}},
                            {"overwrite", std::string{"skip"}}})};
    write_file(dir / "elsewhere" / "y.png", "victim");
    fs::create_directory_symlink(dir / "elsewhere", dir / "out" / "sub");
    auto j = job_with(test_card(10, 10), "sub/y.png");
    CHECK_THROWS_WITH(skip.write(j),
                      Catch::Contains("refusing to follow symlink"));
    fs::remove(dir / "elsewhere" / "y.png");
  }
  CHECK(files_in(dir / "elsewhere").empty());
}

TEST_CASE("a symlink at an output's final or old temporary name is replaced, "
          "never followed",
          "[writer][safe]") {
  temp_dir dir;
  fs::create_directories(dir / "out");
  write_file(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "out" / "photo.png");
  // The temporary names of earlier versions were predictable.
  for (int id = 0; id < 8; ++id)
    fs::create_symlink(dir / "victim",
                       dir / "out"
                         / fmt::format(".photo.png.pixline-{}-{}.tmp",
                                       ::getpid(), id));
  writer w{options_in(dir / "out")};
  auto j = job_with(test_card(10, 10));
  w.write(j);
  CHECK(read_file(dir / "victim") == "precious");
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "out" / "photo.png")));
  CHECK(vips::VImage::new_from_file((dir / "out" / "photo.png").c_str())
          .width()
        == 10);
}

TEST_CASE("two inputs named to one output: on_collision",
          "[writer][collision]") {
  temp_dir dir;
  auto first = job_with(test_card(10, 10), "photo.jpg");
  auto second = job_with(test_card(20, 20), "photo.png");
  auto width_of = [&](const std::string& name) {
    return vips::VImage::new_from_file((dir / name).c_str()).width();
  };
  SECTION("fail, the default: the later one fails naming the earlier") {
    writer w{options_in(dir.path())};
    w.write(first);
    CHECK_THROWS_WITH(w.write(second),
                      Catch::Contains((dir / "photo.png").string())
                        && Catch::Contains("in/photo.jpg")
                        && Catch::Contains("on_collision"));
    CHECK(files_in(dir.path()) == std::vector<std::string>{"photo.png"});
    CHECK(width_of("photo.png") == 10);
  }
  SECTION("suffix: the later one gets the first free name") {
    auto opts = options_in(dir.path(),
                           {{"on_collision", std::string{"suffix"}},
                            {"naming", std::string{"{stem}.{ext}"}}});
    // Two writers of one run, as two save workers.
    writer w1{opts}, w2{opts};
    auto claims = std::make_shared<output_claims>();
    w1.share_claims(claims);
    w2.share_claims(claims);
    auto third = job_with(test_card(30, 30), "sub/photo.gif");
    w1.write(first);
    w2.write(second);
    w1.write(third);
    CHECK(second.outputs
          == std::vector<std::string>{(dir / "photo.1.png").string()});
    CHECK(files_in(dir.path())
          == std::vector<std::string>{"photo.1.png", "photo.2.png",
                                      "photo.png"});
    CHECK(width_of("photo.png") == 10);
    CHECK(width_of("photo.1.png") == 20);
    CHECK(width_of("photo.2.png") == 30);
    // The same input again (a new version in a watch) keeps its own name.
    auto again = job_with(test_card(40, 40), "photo.png");
    w2.write(again);
    CHECK(width_of("photo.1.png") == 40);
  }
  SECTION("replace: the later one overwrites") {
    writer w{
      options_in(dir.path(), {{"on_collision", std::string{"replace"}}})};
    w.write(first);
    w.write(second);
    CHECK(files_in(dir.path()) == std::vector<std::string>{"photo.png"});
    CHECK(width_of("photo.png") == 20);
  }
  SECTION("an image that fails leaves its name to the next") {
    writer w{options_in(dir / "out")};
    auto bad = job_with(cut_jpeg(dir.path()), "photo.jpg");
    CHECK_THROWS(w.write(bad));
    CHECK_NOTHROW(w.write(second));
    CHECK(files_in(dir / "out") == std::vector<std::string>{"photo.png"});
  }
  SECTION("the same input written again is no collision") {
    writer w{options_in(dir.path())};
    w.write(first);
    auto same = job_with(test_card(12, 12), "photo.jpg");
    CHECK_NOTHROW(w.write(same));
    CHECK(width_of("photo.png") == 12);
  }
}

TEST_CASE("an output name of 255 bytes is written", "[writer][safe]") {
  temp_dir dir;
  std::string stem(251, 'n');
  writer w{options_in(dir.path())};
  auto j = job_with(test_card(10, 10), stem + ".jpg");
  w.write(j);
  CHECK(files_in(dir.path()) == std::vector<std::string>{stem + ".png"});
}

TEST_CASE("the default naming keeps the input's sub-folder",
          "[writer][collision]") {
  temp_dir dir;
  writer w{options_in(dir.path())};
  auto top = job_with(test_card(10, 10), "photo.png");
  auto a = job_with(test_card(10, 10), "a/photo.png");
  auto b = job_with(test_card(10, 10), "b/c/photo.png");
  for (auto* j : {&top, &a, &b})
    w.write(*j);
  CHECK(files_in(dir.path())
        == std::vector<std::string>{"a/photo.png", "b/c/photo.png",
                                    "photo.png"});
}

TEST_CASE("writers of a run share their output folder, opened again when it "
          "was removed",
          "[writer][safe]") {
  temp_dir dir;
  auto root = std::make_shared<output_root>(dir / "out");
  writer w1{options_in(dir / "out")}, w2{options_in(dir / "out")};
  w1.share_root(root);
  w2.share_root(root);
  auto a = job_with(test_card(10, 10), "a.png");
  w1.write(a);
  CHECK(w1.root() == w2.root());
  // A watch outlives `rm -r out`: the next output makes it again.
  fs::remove_all(dir / "out");
  auto b = job_with(test_card(10, 10), "b.png");
  w2.write(b);
  CHECK(files_in(dir / "out") == std::vector<std::string>{"b.png"});
}
