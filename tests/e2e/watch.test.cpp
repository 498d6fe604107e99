// Watch mode driven as a user would: a real pixline process watches a folder
// while other processes write into it; some runs are killed with SIGKILL.

#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "pipeline/journal.hpp"
#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string watch_config(const fs::path& dir, const std::string& extra = "") {
  return fmt::format(R"(
[pipeline]
name = "watch-test"
max_in_flight = 4

[source]
kind = "watch"
path = "{in}"
recursive = true
settle_ms = 100
state_dir = "{state}"
{extra}

[[filter]]
type = "thumbnail"
width = 32

[sink]
path = "{out}"
format = "png"
naming = "{{dir}}/{{stem}}.{{ext}}"
)",
                     fmt::arg("in", (dir / "in").string()),
                     fmt::arg("out", (dir / "out").string()),
                     fmt::arg("state", (dir / "state").string()),
                     fmt::arg("extra", extra));
}

/// watch_config's pipeline as a batch (a directory source).
std::string batch_config(const fs::path& dir) {
  auto config = watch_config(dir);
  config.replace(config.find("kind = \"watch\""), 14, "kind = \"directory\"");
  for (auto key : {"settle_ms = 100\n", "state_dir = "})
    config.insert(config.find(key), "# ");
  return config;
}

/// Output names only, without pixline's temporary files.
std::set<std::string> outputs(const fs::path& dir) {
  std::set<std::string> result;
  for (auto& f : files_in(dir))
    if (fs::path(f).filename().string()[0] != '.')
      result.insert(f);
  return result;
}

std::unique_ptr<child_process> start_watch(const fs::path& dir) {
  return std::make_unique<child_process>(
    std::vector<std::string>{pixline_binary(), "watch",
                             (dir / "watch.toml").string()},
    dir / "pixline.log");
}

/// A watch of `dir`/in that moves originals to `dir`/done and quarantines
/// failures in `dir`/bad, started and given time to begin watching.
std::unique_ptr<child_process> start_moving_watch(const fs::path& dir) {
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml",
             watch_config(dir, fmt::format("on_failure = \"quarantine\"\n"
                                           "quarantine_dir = \"{}\"\n"
                                           "on_success = \"move\"\n"
                                           "done_dir = \"{}\"",
                                           (dir / "bad").string(),
                                           (dir / "done").string())));
  auto proc = start_watch(dir);
  std::this_thread::sleep_for(300ms);
  return proc;
}

std::string jpeg_bytes(int size) {
  temp_dir tmp;
  save(test_card(size, size), tmp / "x.jpg");
  return read_file(tmp / "x.jpg");
}

/// A small tmpfs on a folder (the tests run as root), private to this user
/// and unmounted when the object dies.
struct small_disk {
  small_disk(const fs::path& at, const std::string& size) : dir(at) {
    fs::create_directories(dir);
    REQUIRE(run_command(fmt::format(
              "mount -t tmpfs -o size={},mode=0700 tmpfs '{}'", size,
              dir.string()))
            == 0);
  }
  ~small_disk() {
    run_command(fmt::format("umount -l '{}'", dir.string()));
  }
  small_disk(const small_disk&) = delete;
  small_disk& operator=(const small_disk&) = delete;

  /// Fills it up.
  void fill() const {
    run_command(fmt::format("head -c 64M /dev/zero > '{}/.filler' 2>/dev/null",
                            dir.string()));
  }

  fs::path dir;
};

bool log_says(const fs::path& dir, const std::string& text) {
  return read_file(dir / "pixline.log").find(text) != std::string::npos;
}

} // namespace

TEST_CASE("watch takes files however they arrive, each once", "[watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  auto bytes = jpeg_bytes(200);
  // Already there before the start.
  write_file(dir / "in" / "before.jpg", bytes);
  auto proc = start_watch(dir.path());
  REQUIRE(wait_until([&] { return fs::exists(dir / "out" / "before.png"); },
                     20));
  // Written slowly in chunks by another process, with pauses longer than the
  // settle time: must not be taken half-written.
  auto half = bytes.size() / 2;
  write_file(dir / "chunk1", bytes.substr(0, half));
  write_file(dir / "chunk2", bytes.substr(half));
  std::string out;
  auto slow = std::thread([&] {
    run_command(fmt::format("(cat '{0}'; sleep 0.5; cat '{1}') > '{2}'",
                            (dir / "chunk1").string(),
                            (dir / "chunk2").string(),
                            (dir / "in" / "slow.jpg").string()));
  });
  // Renamed into the folder, and into new sub-folders made after the start.
  write_file(dir / "staging.jpg", bytes);
  run_command(fmt::format("mv '{}' '{}'", (dir / "staging.jpg").string(),
                          (dir / "in" / "renamed.jpg").string()));
  run_command(fmt::format("mkdir -p '{0}/new/deeper' && cp '{1}' "
                          "'{0}/new/deeper/nested.jpg'",
                          (dir / "in").string(),
                          (dir / "in" / "before.jpg").string()));
  // Hidden files and temporary names are not inputs.
  write_file(dir / "in" / ".partial.jpg", bytes);
  slow.join();
  std::set<std::string> expected{"before.png", "slow.png", "renamed.png",
                                 "new/deeper/nested.png"};
  CHECK(wait_until([&] { return outputs(dir / "out") == expected; }, 20));
  // The slow file was complete when taken: its output decodes to the full
  // thumbnail, not a grey half.
  auto slow_out = vips::VImage::new_from_file((dir / "out" / "slow.png").c_str());
  CHECK(slow_out.width() == 32);
  CHECK(slow_out.avg() > 10);
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
  CHECK(outputs(dir / "out") == expected);
  // Restarted: nothing is done again.
  auto before = fs::last_write_time(dir / "out" / "before.png");
  auto again = start_watch(dir.path());
  std::this_thread::sleep_for(1500ms);
  again->signal(SIGINT);
  CHECK(again->wait() == 0);
  CHECK(fs::last_write_time(dir / "out" / "before.png") == before);
  CHECK_THAT(read_file(dir / "pixline.log"),
             Catch::Contains("4 files were already done"));
}

TEST_CASE("a replaced file is processed again, an unchanged one is not",
          "[watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  write_file(dir / "in" / "a.jpg", jpeg_bytes(100));
  auto proc = start_watch(dir.path());
  REQUIRE(wait_until([&] { return fs::exists(dir / "out" / "a.png"); }, 20));
  auto first = read_file(dir / "out" / "a.png");
  // New content under the same name (via rename, as careful writers do).
  save(vips::VImage::black(100, 50) + 255, dir / "staged.jpg");
  fs::rename(dir / "staged.jpg", dir / "in" / "a.jpg");
  CHECK(wait_until(
    [&] {
      return vips::VImage::new_from_file((dir / "out" / "a.png").c_str())
               .height()
             == 16;
    },
    20));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
}

TEST_CASE("bad files are quarantined with their reason, good ones still "
          "come out",
          "[watch]") {
  temp_dir dir;
  auto proc = start_moving_watch(dir.path());
  write_file(dir / "in" / "junk.jpg", "this is not a jpeg");
  auto bytes = jpeg_bytes(120);
  write_file(dir / "in" / "cut.jpg", bytes.substr(0, bytes.size() / 3));
  write_file(dir / "in" / "good.jpg", bytes);
  CHECK(wait_until(
    [&] {
      return files_in(dir / "bad").size() == 4
             && fs::exists(dir / "done" / "good.jpg");
    },
    20));
  CHECK(outputs(dir / "out") == std::set<std::string>{"good.png"});
  CHECK(files_in(dir / "in").empty());
  auto reason = read_file(dir / "bad" / "junk.jpg.error.txt");
  CHECK_THAT(reason, Catch::Contains("stage: load")
                       && Catch::Contains("not an image"));
  CHECK_THAT(read_file(dir / "bad" / "cut.jpg.error.txt"),
             Catch::Contains("error: "));
  CHECK(read_file(dir / "done" / "good.jpg") == bytes);
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
}

TEST_CASE("done_dir and quarantine keep every version of a name, each "
          "failure with its own reason",
          "[watch][safe]") {
  temp_dir dir;
  // A copy that a killed run left in done_dir (no process has this pid) is
  // removed at start.
  auto stale = dir / "done" / ".pixline-2147483000-0123456789abcdef.tmp";
  write_file(stale, "half a copy");
  auto proc = start_moving_watch(dir.path());
  CHECK(wait_until([&] { return !fs::exists(stale); }, 10));
  auto first = jpeg_bytes(100);
  auto second = jpeg_bytes(120);
  write_file(dir / "in" / "photo.jpg", first);
  write_file(dir / "in" / "x.jpg", "first bad file");
  CHECK(wait_until(
    [&] {
      return fs::exists(dir / "done" / "photo.jpg")
             && fs::exists(dir / "bad" / "x.jpg.error.txt");
    },
    20));
  write_file(dir / "in" / "photo.jpg", second);
  write_file(dir / "in" / "x.jpg", "second bad file");
  CHECK(wait_until(
    [&] {
      return fs::exists(dir / "done" / "photo.1.jpg")
             && fs::exists(dir / "bad" / "x.1.jpg.error.txt");
    },
    20));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
  CHECK(files_in(dir / "done")
        == std::vector<std::string>{"photo.1.jpg", "photo.jpg"});
  CHECK(read_file(dir / "done" / "photo.jpg") == first);
  CHECK(read_file(dir / "done" / "photo.1.jpg") == second);
  CHECK(files_in(dir / "bad")
        == std::vector<std::string>{"x.1.jpg", "x.1.jpg.error.txt", "x.jpg",
                                    "x.jpg.error.txt"});
  CHECK(read_file(dir / "bad" / "x.jpg") == "first bad file");
  CHECK(read_file(dir / "bad" / "x.1.jpg") == "second bad file");
  CHECK_THAT(read_file(dir / "bad" / "x.1.jpg.error.txt"),
             Catch::Contains("stage: load"));
  CHECK(files_in(dir / "in").empty());
}

TEST_CASE("killed at any moment and restarted, every input ends with "
          "exactly one complete output",
          "[watch][crash]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  const int files = 240;
  auto bytes = jpeg_bytes(96);
  for (int i = 0; i < files; ++i)
    write_file(dir / "in" / fmt::format("d{}", i % 8)
                 / fmt::format("img{:03}.jpg", i),
               bytes);
  std::mt19937 rng{12345};
  // Each run is killed 0-50 ms after it has written its first output, so
  // however fast the machine, it dies with work in hand; a fixed pause
  // let a fast machine finish all 240 files within two runs.
  std::uniform_int_distribution<int> pause_ms{0, 50};
  int kills = 0;
  int killed_mid_way = 0;
  for (; kills < 40; ++kills) {
    auto before = outputs(dir / "out").size();
    if (before == size_t(files))
      break;
    auto proc = start_watch(dir.path());
    wait_until([&] { return outputs(dir / "out").size() > before; }, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    proc->signal(SIGKILL);
    proc->wait();
    auto after = outputs(dir / "out").size();
    if (after > before && after < size_t(files))
      ++killed_mid_way;
  }
  CAPTURE(kills, killed_mid_way);
  // The test really did kill runs mid-way, with some outputs written and
  // others not.
  CHECK(killed_mid_way >= 3);
  // A last, clean run finishes whatever is left.
  auto last = start_watch(dir.path());
  CHECK(wait_until(
    [&] { return outputs(dir / "out").size() == size_t(files); }, 60));
  std::this_thread::sleep_for(300ms);
  last->signal(SIGTERM);
  CHECK(last->wait() == 0);
  auto outs = outputs(dir / "out");
  REQUIRE(outs.size() == size_t(files));
  // No temporary file is left: the last start removed those of killed runs.
  CHECK(files_in(dir / "out").size() == size_t(files));
  // Each output is complete.
  for (auto& name : outs) {
    auto img = vips::VImage::new_from_file((dir / "out" / name).c_str());
    CHECK(img.width() == 32);
    CHECK_NOTHROW(img.avg());
  }
  // The journal finished each input once: one outcome line per file, and
  // it knows whose each output is (a run killed between an output's line
  // and its input's may write the output's again).
  std::map<std::string, int> lines;
  std::set<std::string> claimed;
  std::ifstream log(dir / "state" / "journal.log");
  std::string line;
  while (std::getline(log, line))
    if (line.rfind("pixline-journal\t", 0) == 0)
      continue; // the format line
    else if (line[0] == 'O')
      claimed.insert(line.substr(line.rfind('\t') + 1));
    else
      ++lines[line.substr(line.rfind('\t') + 1)];
  CHECK(lines.size() == size_t(files));
  CHECK(claimed.size() == size_t(files));
  for (auto& [path, count] : lines) {
    CAPTURE(path);
    CHECK(count == 1);
  }
}

TEST_CASE("a burst of 2,000 files is queued by path and memory stays at a "
          "batch run's bound",
          "[watch][burst]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  const int files = 2000;
  auto bytes = jpeg_bytes(400);
  for (int i = 0; i < files; ++i)
    write_file(dir / "staging" / fmt::format("img{:04}.jpg", i), bytes);

  // The same files as a batch, for the memory bound to compare with.
  write_file(dir / "batch.toml", batch_config(dir.path()));
  child_process batch{{pixline_binary(), "run", (dir / "batch.toml").string(),
                       "--input", (dir / "staging").string(), "--output",
                       (dir / "batch-out").string()},
                      dir / "batch.log"};
  REQUIRE(batch.wait() == 0);
  REQUIRE(files_in(dir / "batch-out").size() == size_t(files));

  auto proc = start_watch(dir.path());
  std::this_thread::sleep_for(500ms);
  // Dropped all at once: one rename each, as fast as the shell can.
  REQUIRE(run_command(fmt::format("mv '{}'/* '{}'/",
                                  (dir / "staging").string(),
                                  (dir / "in").string()))
          == 0);
  CHECK(wait_until([&] { return outputs(dir / "out").size() == size_t(files); },
                   180));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
  auto log = read_file(dir / "pixline.log");
  INFO(log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
  CHECK_THAT(log, Catch::Contains(fmt::format("{} images: {} written",
                                              files, files)));
  // The summary's "at most N in flight (budget 4)": never above the budget.
  auto at = log.find("at most ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stoi(log.substr(at + 8)) <= 4);
  CAPTURE(proc->max_rss_kib(), batch.max_rss_kib());
  WARN("peak RSS over 2,000 files: watch " << proc->max_rss_kib()
                                           << " KiB, batch "
                                           << batch.max_rss_kib() << " KiB");
  CHECK(proc->max_rss_kib() < batch.max_rss_kib() * 5 / 4 + 30 * 1024);
}

TEST_CASE("an idle watch hands the heap's free memory back", "[watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  // env -i: pixline leaves malloc alone if the environment sets MALLOC_*.
  child_process proc{{"/usr/bin/env", "-i", pixline_binary(), "--log-level",
                      "debug", "watch", (dir / "watch.toml").string()},
                     dir / "pixline.log"};
  std::this_thread::sleep_for(500ms);
  auto bytes = jpeg_bytes(800);
  for (int i = 0; i < 6; ++i)
    write_file(dir / "in" / fmt::format("img{}.jpg", i), bytes);
  CHECK(wait_until([&] { return outputs(dir / "out").size() == 6; }, 60));
  const std::string trimmed = "nothing in flight: heap trimmed";
  CHECK(wait_until(
    [&] {
      return read_file(dir / "pixline.log").find(trimmed) != std::string::npos;
    },
    10));
  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
  auto log = read_file(dir / "pixline.log");
  INFO(log);
  CHECK_THAT(log, Catch::Contains("heap trimmed when over 64 MiB is free")
                    && Catch::Contains(trimmed));
}

TEST_CASE("on_success = delete removes originals only once written",
          "[watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml",
             watch_config(dir.path(), "on_success = \"delete\""));
  auto bytes = jpeg_bytes(100);
  write_file(dir / "in" / "a.jpg", bytes);
  write_file(dir / "in" / "sub" / "b.jpg", bytes);
  write_file(dir / "in" / "bad.jpg", "not an image");
  auto proc = start_watch(dir.path());
  CHECK(wait_until([&] { return outputs(dir / "out").size() == 2; }, 20));
  CHECK(wait_until([&] { return files_in(dir / "in").size() == 1; }, 5));
  // The failed file stays (on_failure = "keep").
  CHECK(files_in(dir / "in") == std::vector<std::string>{"bad.jpg"});
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
}

TEST_CASE("a second signal exits at once", "[watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  auto bytes = jpeg_bytes(1500);
  for (int i = 0; i < 40; ++i)
    write_file(dir / "in" / fmt::format("big{:02}.jpg", i), bytes);
  auto proc = start_watch(dir.path());
  // Wait until it is busy, then signal twice in a row (two different signals:
  // two of the same kind may merge into one while pending).
  REQUIRE(wait_until([&] { return !outputs(dir / "out").empty(); }, 30));
  proc->signal(SIGINT);
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 128 + SIGTERM);
  CHECK_THAT(read_file(dir / "pixline.log"), Catch::Contains("exiting now"));
  // Whatever it had written is whole, and a restart finishes the rest.
  auto again = start_watch(dir.path());
  CHECK(wait_until([&] { return outputs(dir / "out").size() == 40; }, 60));
  again->signal(SIGTERM);
  CHECK(again->wait() == 0);
  for (auto& name : outputs(dir / "out"))
    CHECK_NOTHROW(
      vips::VImage::new_from_file((dir / "out" / name).c_str()).avg());
}

TEST_CASE("an overflowing inotify queue is caught up by a rescan", "[watch]") {
  // The kernel's per-watcher event queue gets its size when the watcher is
  // made, from fs.inotify.max_queued_events: shrink it to 16 while pixline
  // starts (root only, as in CI), then rename 300 files in at once.
  const fs::path knob = "/proc/sys/fs/inotify/max_queued_events";
  std::string old_limit;
  {
    std::ifstream in(knob);
    in >> old_limit;
  }
  auto set_limit = [&](const std::string& value) {
    std::ofstream(knob) << value << std::flush;
    std::string now;
    std::ifstream(knob) >> now;
    return now == value;
  };
  if (old_limit.empty() || !set_limit("16")) {
    WARN("cannot change " << knob.string()
                          << " (needs root, and a writable /proc/sys); "
                             "overflow not tested");
    set_limit(old_limit);
    return;
  }
  set_limit(old_limit);
  struct restore {
    fs::path knob;
    std::string value;
    ~restore() {
      std::ofstream(knob) << value;
    }
  } restore_limit{knob, old_limit};
  temp_dir dir;
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "staging");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  auto bytes = jpeg_bytes(40);
  const int n = 300;
  for (int i = 0; i < n; ++i)
    write_file(dir / "staging" / fmt::format("f{:03}.jpg", i), bytes);
  REQUIRE(set_limit("16"));
  auto proc = start_watch(dir.path());
  // An empty folder at the start: once the one existing file is out, the
  // watcher exists and its queue holds 16 events.
  write_file(dir / "in" / "first.jpg", bytes);
  REQUIRE(wait_until([&] { return outputs(dir / "out").size() == 1; }, 20));
  set_limit(old_limit);
  // Stopped while the files arrive, so it cannot drain the queue as fast as
  // they come: the overflow is certain, not a race this test might lose on
  // a fast or idle machine.
  proc->signal(SIGSTOP);
  for (int i = 0; i < n; ++i) {
    auto name = fmt::format("f{:03}.jpg", i);
    fs::rename(dir / "staging" / name, dir / "in" / name);
  }
  proc->signal(SIGCONT);
  CHECK(wait_until([&] { return outputs(dir / "out").size() == n + 1; }, 60));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
  CHECK_THAT(read_file(dir / "pixline.log"),
             Catch::Contains("inotify queue overflowed; rescanning"));
  CHECK(outputs(dir / "out").size() == n + 1);
}

TEST_CASE("a state folder another user replaced is refused, and nothing is "
          "deleted",
          "[watch][safe]") {
  // The attack of issue 29: an upload folder anyone may write to, pixline
  // as root deleting originals, its journal in the folder.
  const std::string intruder = "pixline-intruder";
  REQUIRE(run_command(fmt::format("id -u {0} >/dev/null 2>&1 || useradd "
                                  "--system --no-create-home --shell "
                                  "/usr/sbin/nologin {0}",
                                  intruder))
          == 0);
  temp_dir dir;
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read
                                | fs::perms::group_exec
                                | fs::perms::others_read
                                | fs::perms::others_exec);
  fs::create_directories(dir / "in");
  fs::permissions(dir / "in", fs::perms::all);
  auto config = watch_config(dir.path(), "on_success = \"delete\"");
  auto state_line = fmt::format("state_dir = \"{}\"", (dir / "state").string());
  REQUIRE(config.find(state_line) != std::string::npos);
  config.replace(config.find(state_line), state_line.size(), "");
  write_file(dir / "watch.toml", config);
  write_file(dir / "in" / "a.jpg", jpeg_bytes(64));
  auto proc = start_watch(dir.path());
  CHECK(wait_until([&] { return !fs::exists(dir / "in" / "a.jpg"); }, 20));
  proc->signal(SIGTERM);
  REQUIRE(proc->wait() == 0);
  REQUIRE(fs::exists(dir / "out" / "a.png"));

  // Another user uploads b.jpg, and swaps in a journal that says it is done.
  write_file(dir / "in" / "b.jpg", jpeg_bytes(80));
  auto key = pixline::key_of(dir / "in" / "b.jpg");
  REQUIRE(key);
  auto in = (dir / "in").string();
  write_file(dir / "forged.log",
             fmt::format("D\t{}\t{}\t{:016x}\t{}\n", key->size, key->mtime_ns,
                         key->hash, key->path));
  fs::permissions(dir / "forged.log", fs::perms::all);
  REQUIRE(run_command(fmt::format(
            "runuser -u {} -- sh -c \"mv '{in}/.pixline' '{in}/.old' && "
            "mkdir '{in}/.pixline' && cp '{}' '{in}/.pixline/journal.log'\"",
            intruder, (dir / "forged.log").string(), fmt::arg("in", in)))
          == 0);
  std::string out;
  auto status = run_command(fmt::format("timeout 20 '{}' watch '{}'",
                                        pixline_binary(),
                                        (dir / "watch.toml").string()),
                            &out);
  INFO(out);
  CHECK(status == 2);
  CHECK_THAT(out, Catch::Contains("refusing to use the state folder")
                    && Catch::Contains("not to this user"));
  CHECK(fs::exists(dir / "in" / "b.jpg"));
}

TEST_CASE("a journal that cannot be written stops the watch, and the "
          "original stays",
          "[watch][safe]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  small_disk state{dir / "state", "1m"};
  write_file(dir / "watch.toml",
             watch_config(dir.path(), "on_success = \"delete\""));
  auto proc = start_watch(dir.path());
  REQUIRE(wait_until([&] { return fs::exists(dir / "state" / "journal.log"); },
                     20));
  state.fill();
  write_file(dir / "in" / "a.jpg", jpeg_bytes(64));
  bool stopped = wait_until(
    [&] { return log_says(dir.path(), "the watch stopped"); }, 20);
  if (!stopped)
    proc->signal(SIGKILL);
  INFO(read_file(dir / "pixline.log"));
  CHECK(stopped);
  CHECK(proc->wait() == 3);
  CHECK(log_says(dir.path(), "No space left on device"));
  CHECK(fs::exists(dir / "in" / "a.jpg"));
}

TEST_CASE("an output that finds the disk full is tried again later, never "
          "failed for good",
          "[watch][safe]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  small_disk out{dir / "out", "1m"};
  write_file(dir / "watch.toml",
             watch_config(dir.path(),
                          fmt::format("on_failure = \"quarantine\"\n"
                                      "quarantine_dir = \"{}\"\nretries = 1",
                                      (dir / "bad").string())));
  out.fill();
  auto proc = start_watch(dir.path());
  write_file(dir / "in" / "a.jpg", jpeg_bytes(64));
  CHECK(wait_until(
    [&] { return log_says(dir.path(), "no space left for its outputs"); },
    20));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
  CHECK(fs::exists(dir / "in" / "a.jpg"));
  CHECK(files_in(dir / "bad").empty());
  CHECK(outputs(dir / "out").empty());
  // With room again, the next start writes it.
  fs::remove(dir / "out" / ".filler");
  proc = start_watch(dir.path());
  CHECK(wait_until([&] { return fs::exists(dir / "out" / "a.png"); }, 20));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
}

namespace {

/// A watch of `dir` with `config` (a file in `dir`), logging to `log`.
std::unique_ptr<child_process> start_watch_of(const fs::path& dir,
                                              const std::string& config,
                                              const std::string& log) {
  return std::make_unique<child_process>(
    std::vector<std::string>{pixline_binary(), "watch",
                             (dir / config).string()},
    dir / log);
}

int height_of(const fs::path& file) {
  return vips::VImage::new_from_file(file.c_str()).height();
}

} // namespace

TEST_CASE("an output folder inside or around another run's is refused, "
          "whatever path names it",
          "[watch][safe][lock]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  save(test_card(64, 64), dir / "other" / "b.jpg");
  auto tree = dir / "tree";
  auto held = tree / "out";
  auto config = watch_config(dir.path());
  config.replace(config.find((dir / "out").string()),
                 (dir / "out").string().size(), held.string());
  write_file(dir / "watch.toml", config);
  write_file(dir / "batch.toml", batch_config(dir.path()));
  auto first = start_watch_of(dir.path(), "watch.toml", "first.log");
  save(test_card(64, 64), dir / "in" / "a.jpg");
  REQUIRE(wait_until([&] { return fs::exists(held / "a.png"); }, 20));
  auto batch_into = [&](const fs::path& out) {
    return run_pixline(fmt::format("run '{}' --input '{}' --output '{}'",
                                   (dir / "batch.toml").string(),
                                   (dir / "other").string(), out.string()));
  };
  auto refused = [&](const fs::path& out, const std::string& message) {
    auto r = batch_into(out);
    INFO(r.output);
    CHECK(r.status == 6);
    CHECK_THAT(r.output, Catch::Contains(message));
    CHECK_FALSE(fs::exists(out / "b.png"));
  };
  auto pid = first->pid();
  SECTION("a folder inside it") {
    refused(held / "sub",
            fmt::format("another pixline process (pid {}) is writing to {}, "
                        "and this run's output folder {} is inside it",
                        pid, held.string(), (held / "sub").string()));
    refused(held / "a" / "b" / "c",
            fmt::format("is writing to {}, and this run's output folder {} "
                        "is inside it",
                        held.string(), (held / "a/b/c").string()));
  }
  SECTION("a folder around it") {
    refused(tree,
            fmt::format("another pixline process (pid {}) is writing to {}, "
                        "which is inside this run's output folder {}",
                        pid, held.string(), tree.string()));
  }
  SECTION("the folder or one inside it through a symlink") {
    fs::create_symlink(held, dir / "link");
    refused(dir / "link",
            fmt::format("another pixline process (pid {}) is writing to the "
                        "output folder {}",
                        pid, (dir / "link").string()));
    fs::create_symlink(tree, dir / "tree-link");
    refused(dir / "tree-link" / "out" / "sub",
            fmt::format("is writing to {}, and this run's output folder {} "
                        "is inside it",
                        held.string(), (held / "sub").string()));
  }
  SECTION("the folder through a bind mount") {
    fs::create_directories(dir / "mnt");
    REQUIRE(run_command(fmt::format("mount --bind '{}' '{}'", tree.string(),
                                    (dir / "mnt").string()))
            == 0);
    struct unmount {
      fs::path at;
      ~unmount() {
        run_command(fmt::format("umount '{}'", at.string()));
      }
    } guard{dir / "mnt"};
    refused(dir / "mnt" / "out", "another pixline process");
    refused(dir / "mnt" / "out" / "sub", "is inside it");
    refused(dir / "mnt", "which is inside this run's output folder");
  }
  SECTION("a folder beside it is not refused") {
    auto r = batch_into(tree / "beside");
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(fs::exists(tree / "beside" / "b.png"));
  }
  first->signal(SIGTERM);
  CHECK(first->wait_for(30) == 0);
  // Once it is gone the whole tree is free again.
  auto r = batch_into(tree);
  INFO(r.output);
  CHECK(r.status == 0);
}

TEST_CASE("two watches started at once into nested folders: exactly one "
          "runs",
          "[watch][safe][lock]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "in2");
  auto outer = watch_config(dir.path());
  auto inner = outer;
  inner.replace(inner.find((dir / "out").string()),
                (dir / "out").string().size(), (dir / "out/sub").string());
  inner.replace(inner.find((dir / "state").string()),
                (dir / "state").string().size(), (dir / "state2").string());
  inner.replace(inner.find((dir / "in").string()),
                (dir / "in").string().size(), (dir / "in2").string());
  write_file(dir / "outer.toml", outer);
  write_file(dir / "inner.toml", inner);
  for (int round = 0; round < 6; ++round) {
    INFO("round " << round);
    auto a = start_watch_of(dir.path(), round % 2 ? "outer.toml" : "inner.toml",
                            "a.log");
    auto b = start_watch_of(dir.path(), round % 2 ? "inner.toml" : "outer.toml",
                            "b.log");
    // The one refused exits 6 at its start; the other keeps watching.
    std::optional<int> ended[2];
    child_process* procs[2] = {a.get(), b.get()};
    auto poll = [&] {
      for (int i = 0; i < 2; ++i)
        if (!ended[i])
          ended[i] = procs[i]->wait_for(0);
      return int(bool(ended[0])) + int(bool(ended[1]));
    };
    REQUIRE(wait_until([&] { return poll() >= 1; }, 20));
    // The other still runs a moment later: it holds its folder.
    std::this_thread::sleep_for(500ms);
    CHECK(poll() == 1);
    for (int i = 0; i < 2; ++i) {
      if (ended[i]) {
        CHECK(*ended[i] == 6);
      } else {
        procs[i]->signal(SIGTERM);
        CHECK(procs[i]->wait_for(30) == 0);
      }
    }
    auto logs = read_file(dir / "a.log") + read_file(dir / "b.log");
    INFO(logs);
    CHECK_THAT(logs, Catch::Contains("another pixline process"));
  }
}

TEST_CASE("a restarted watch still knows whose each output name is",
          "[watch][safe][collision]") {
  temp_dir dir;
  std::string policy = GENERATE("fail", "suffix");
  CAPTURE(policy);
  fs::create_directories(dir / "in");
  // [sink] is the config's last table: these lines are the sink's.
  write_file(dir / "watch.toml",
             watch_config(dir.path(), "on_success = \"delete\"")
               + fmt::format("on_collision = \"{}\"\n", policy));
  save(test_card(64, 64), dir / "in" / "photo.jpg");
  auto first = start_watch_of(dir.path(), "watch.toml", "first.log");
  REQUIRE(wait_until(
    [&] {
      return fs::exists(dir / "out" / "photo.png")
             && !fs::exists(dir / "in" / "photo.jpg");
    },
    20));
  first->signal(SIGINT);
  REQUIRE(first->wait() == 0);
  // The original of out/photo.png is gone: that output is all that is left
  // of it. Another input named to it while no watch runs...
  auto kept = read_file(dir / "out" / "photo.png");
  save(test_card(64, 32), dir / "in" / "photo.png");
  auto second = start_watch_of(dir.path(), "watch.toml", "second.log");
  if (policy == "fail") {
    // ...fails, naming the input that has the name, and stays.
    CHECK(wait_until(
      [&] {
        return read_file(dir / "second.log")
                 .find("already the output of "
                       + (dir / "in" / "photo.jpg").string())
               != std::string::npos;
      },
      20));
    CHECK(fs::exists(dir / "in" / "photo.png"));
    CHECK(outputs(dir / "out") == std::set<std::string>{"photo.png"});
  } else {
    // ...gets the next free name.
    CHECK(wait_until([&] { return !fs::exists(dir / "in" / "photo.png"); },
                     20));
    CHECK(outputs(dir / "out")
          == std::set<std::string>{"photo.1.png", "photo.png"});
    CHECK(height_of(dir / "out" / "photo.1.png") == 16);
  }
  CHECK(read_file(dir / "out" / "photo.png") == kept);
  // A new version of the input that owns the name replaces its output.
  save(test_card(64, 48), dir / "in" / "photo.jpg");
  CHECK(wait_until(
    [&] {
      return !fs::exists(dir / "in" / "photo.jpg")
             && height_of(dir / "out" / "photo.png") == 24;
    },
    20));
  second->signal(SIGINT);
  CHECK(second->wait() == 0);
  INFO(read_file(dir / "second.log"));
}

TEST_CASE("within one watch, a name stays its input's once the journal "
          "has it",
          "[watch][safe][collision]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml",
             watch_config(dir.path(), "on_success = \"delete\""));
  auto watch = start_watch_of(dir.path(), "watch.toml", "watch.log");
  save(test_card(64, 64), dir / "in" / "photo.jpg");
  REQUIRE(wait_until(
    [&] {
      return fs::exists(dir / "out" / "photo.png")
             && !fs::exists(dir / "in" / "photo.jpg");
    },
    20));
  // The name has left the run's table for the journal; another input
  // named to it in the same run still fails, naming the first.
  auto kept = read_file(dir / "out" / "photo.png");
  save(test_card(64, 32), dir / "in" / "photo.png");
  CHECK(wait_until(
    [&] {
      return read_file(dir / "watch.log")
               .find("already the output of "
                     + (dir / "in" / "photo.jpg").string())
             != std::string::npos;
    },
    20));
  CHECK(read_file(dir / "out" / "photo.png") == kept);
  // Once that output is gone, its name is free.
  fs::remove(dir / "out" / "photo.png");
  save(test_card(32, 32), dir / "in" / "photo.png");
  CHECK(wait_until(
    [&] {
      return !fs::exists(dir / "in" / "photo.png")
             && fs::exists(dir / "out" / "photo.png");
    },
    20));
  CHECK(height_of(dir / "out" / "photo.png") == 32);
  watch->signal(SIGINT);
  CHECK(watch->wait() == 0);
  INFO(read_file(dir / "watch.log"));
}

namespace {

int readyz_status(int port) {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(2);
  auto res = client.Get("/readyz");
  return res ? res->status : -1;
}

/// Resident memory (KiB) of process `pid`, from /proc.
long resident_kib(int pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

} // namespace

TEST_CASE("a watch's memory follows its journal's live entries, a few "
          "hundred bytes each",
          "[watch][journal][memory]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  // Started on the journal as it is, ready (journal read, pipeline
  // built), past the idle heap trim: its resident memory.
  auto resident = [&](const std::string& log) {
    port_holder free_port;
    int port = free_port.port();
    free_port.release();
    child_process watch{{pixline_binary(), "watch",
                         (dir / "watch.toml").string(), "--metrics",
                         fmt::format("127.0.0.1:{}", port)},
                        dir / log};
    REQUIRE(wait_until([&] { return readyz_status(port) == 200; }, 60));
    std::this_thread::sleep_for(1500ms);
    auto kib = resident_kib(watch.pid());
    watch.signal(SIGINT);
    CHECK(watch.wait() == 0);
    return kib;
  };
  auto empty = resident("empty.log");
  // What a long watch leaves: 100,000 inputs done (kept in place, as with
  // on_success = "keep"), one output each.
  constexpr int inputs = 100000;
  std::string text = "pixline-journal\t2\txxh3\t\n";
  for (int i = 0; i < inputs; ++i) {
    auto in = (dir / "in" / fmt::format("{:03}/photo-{:06}.jpg", i / 1000, i))
                .string();
    auto out = (dir / "out" / fmt::format("{:03}/photo-{:06}.png", i / 1000, i))
                 .string();
    text += fmt::format("O\t{}\t{:016x}\t{:016x}\t{}\t{}\n", 5000 + i, i, i,
                        in, out);
    text += fmt::format("D\t{}\t{}\t{:016x}\t{}\n", 90000 + i, i, i, in);
  }
  write_file(dir / "state" / "journal.log", text);
  auto full = resident("full.log");
  double per_input = double(full - empty) * 1024 / inputs;
  INFO("resident: " << empty << " KiB with an empty journal, " << full
                    << " KiB with " << inputs << " inputs: " << per_input
                    << " bytes each");
  CHECK(per_input < 400);
}

TEST_CASE("a journal entry whose outputs are not on the disk never lets an "
          "original go",
          "[watch][safe]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml",
             watch_config(dir.path(), "on_success = \"delete\""));
  // A done line with no output (forged, or from a journal whose outputs
  // never reached the disk) and one whose output was replaced since.
  save(test_card(64, 64), dir / "in" / "victim.jpg");
  save(test_card(64, 64), dir / "in" / "stale.jpg");
  write_file(dir / "out" / "stale.png", "not the output that was written");
  auto victim = *pixline::key_of(dir / "in" / "victim.jpg");
  auto stale = *pixline::key_of(dir / "in" / "stale.jpg");
  fs::create_directories(dir / "state");
  fs::permissions(dir / "state", fs::perms::owner_all);
  auto line = [](const pixline::file_key& k) {
    return fmt::format("D\t{}\t{}\t{:016x}\t{}\n", k.size, k.mtime_ns, k.hash,
                       k.path);
  };
  write_file(dir / "state" / "journal.log",
             "pixline-journal\t2\txxh3\t\n" + line(victim)
               + fmt::format("O\t1234\t{:016x}\t{:016x}\t{}\t{}\n", 42,
                             stale.hash, stale.path,
                             (dir / "out" / "stale.png").string())
               + line(stale));
  fs::permissions(dir / "state" / "journal.log",
                  fs::perms::owner_read | fs::perms::owner_write);
  auto proc = start_watch(dir.path());
  // Processed again, and only then deleted.
  CHECK(wait_until([&] { return files_in(dir / "in").empty(); }, 20));
  proc->signal(SIGINT);
  CHECK(proc->wait() == 0);
  auto log = read_file(dir / "pixline.log");
  INFO(log);
  CHECK(outputs(dir / "out")
        == std::set<std::string>{"stale.png", "victim.png"});
  CHECK(height_of(dir / "out" / "victim.png") == 32);
  CHECK(height_of(dir / "out" / "stale.png") == 32);
  CHECK_THAT(log, Catch::Contains(victim.path + ": not deleting it: the "
                                  "journal lists no output written for it; "
                                  "processing it again"));
  CHECK_THAT(log, Catch::Contains(stale.path + ": not deleting it: its "
                                  "output "
                                  + (dir / "out" / "stale.png").string()
                                  + " is not the file written for it"));
}

TEST_CASE("two pixline processes never write one folder at once",
          "[watch][safe][lock]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  save(test_card(64, 64), dir / "other" / "b.jpg");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  // The same pipeline as a batch.
  write_file(dir / "batch.toml", batch_config(dir.path()));
  auto batch = [&] {
    return run_pixline(fmt::format(
      "run '{}' --input '{}' --output '{}'", (dir / "batch.toml").string(),
      (dir / "other").string(), (dir / "out").string()));
  };
  auto first = start_watch_of(dir.path(), "watch.toml", "first.log");
  save(test_card(64, 64), dir / "in" / "a.jpg");
  REQUIRE(wait_until([&] { return fs::exists(dir / "out" / "a.png"); }, 20));
  auto busy = [&](const std::string& config, const std::string& what,
                  const std::string& folder) {
    auto second = start_watch_of(dir.path(), config, "second.log");
    auto status = second->wait_for(20);
    auto log = read_file(dir / "second.log");
    INFO(log);
    CHECK(status == 6);
    CHECK_THAT(log, Catch::Contains(
                      fmt::format("another pixline process (pid {}) is "
                                  "writing to the {} {}",
                                  first->pid(), what, folder)));
    if (!status)
      second->signal(SIGKILL);
  };
  SECTION("a batch into the same output folder") {
    auto r = batch();
    INFO(r.output);
    CHECK(r.status == 6);
    CHECK_THAT(r.output,
               Catch::Contains(fmt::format("another pixline process (pid {}) "
                                           "is writing to the output folder "
                                           "{}",
                                           first->pid(),
                                           (dir / "out").string())));
    CHECK(outputs(dir / "out") == std::set<std::string>{"a.png"});
  }
  SECTION("a watch with the same state folder") {
    auto config = watch_config(dir.path());
    auto at = config.find((dir / "out").string());
    config.replace(at, (dir / "out").string().size(),
                   (dir / "out2").string());
    write_file(dir / "same-state.toml", config);
    busy("same-state.toml", "state folder", (dir / "state").string());
    CHECK_FALSE(fs::exists(dir / "out2" / "a.png"));
  }
  SECTION("a watch of another folder into the same output folder") {
    auto config = watch_config(dir.path());
    config.replace(config.find((dir / "state").string()),
                   (dir / "state").string().size(),
                   (dir / "state2").string());
    config.replace(config.find((dir / "in").string()),
                   (dir / "in").string().size(), (dir / "other").string());
    write_file(dir / "same-out.toml", config);
    busy("same-out.toml", "output folder", (dir / "out").string());
    CHECK(outputs(dir / "out") == std::set<std::string>{"a.png"});
  }
  // Once the first is gone, killed even, the folders are free.
  first->signal(SIGKILL);
  CHECK(first->wait() == 128 + SIGKILL);
  auto r = batch();
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(outputs(dir / "out") == std::set<std::string>{"a.png", "b.png"});
}

TEST_CASE("watch needs no config file with --chain, and never opens a FIFO",
          "[watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  child_process proc({pixline_binary(), "watch", "-i", (dir / "in").string(),
                      "-o", (dir / "out").string(), "--chain",
                      "thumbnail width=16 ! save format=png"},
                     dir / "pixline.log");
  REQUIRE(wait_until([&] { return log_says(dir.path(), "watching"); }, 20));
  // A FIFO with no writer blocks whoever opens it for reading.
  REQUIRE(mkfifo((dir / "in" / "pipe.jpg").c_str(), 0600) == 0);
  write_file(dir / "in" / "a.jpg", jpeg_bytes(64));
  REQUIRE(wait_until([&] { return outputs(dir / "out").size() == 1; }, 30));
  write_file(dir / "in" / "b.jpg", jpeg_bytes(64));
  CHECK(wait_until([&] { return outputs(dir / "out").size() == 2; }, 30));
  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
  CHECK(outputs(dir / "out") == std::set<std::string>{"a.png", "b.png"});
  // Its journal went to the default place beside the inputs.
  CHECK(fs::exists(dir / "in" / ".pixline" / "journal.log"));
}
