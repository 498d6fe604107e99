// isolation = "process" driven as a user would: poison inputs that crash,
// hang, exhaust memory or spew next to good ones, hostile SVGs that try to
// read local files, and many bad files at once. Each must fail alone, with
// its own reason, and never take another image's output with it.

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <vips/vips8>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string poison_plugin() {
  return fmt::format("{}/libplugin_poison.so", PIXLINE_TEST_PLUGIN_DIR);
}

std::string config(const fs::path& dir, const std::string& pipeline,
                   const std::string& filter = "poison",
                   const std::string& source_extra = "") {
  return fmt::format(R"(
[pipeline]
name = "isolation-test"
{pipeline}

[source]
path = "{in}"
{source_extra}

[[filter]]
type = "{filter}"

[sink]
path = "{out}"
format = "png"
)",
                     fmt::arg("pipeline", pipeline),
                     fmt::arg("in", (dir / "in").string()),
                     fmt::arg("out", (dir / "out").string()),
                     fmt::arg("filter", filter),
                     fmt::arg("source_extra", source_extra));
}

/// A watch of `dir`/in through the poison stage, quarantining failures in
/// `dir`/bad.
std::string watch_config(const fs::path& dir, const std::string& pipeline) {
  return fmt::format(R"(
[pipeline]
{pipeline}

[source]
kind = "watch"
path = "{in}"
settle_ms = 100
state_dir = "{state}"
on_failure = "quarantine"
quarantine_dir = "{bad}"

[[filter]]
type = "poison"

[sink]
path = "{out}"
format = "png"
)",
                     fmt::arg("pipeline", pipeline),
                     fmt::arg("in", (dir / "in").string()),
                     fmt::arg("state", (dir / "state").string()),
                     fmt::arg("bad", (dir / "bad").string()),
                     fmt::arg("out", (dir / "out").string()));
}

/// The `failed` events of an events file: input file name -> the event.
std::map<std::string, nlohmann::json> failures(const fs::path& events) {
  std::map<std::string, nlohmann::json> result;
  std::istringstream lines{read_file(events)};
  for (std::string line; std::getline(lines, line);) {
    auto e = nlohmann::json::parse(line);
    if (e["event"] == "failed")
      result[fs::path(e["input"].get<std::string>()).filename().string()] = e;
  }
  return result;
}

/// A run of `dir`/p.toml with the poison plugin and an events file, timed.
struct poisoned_run {
  command_result result;
  double seconds = 0;
  /// Its `failed` events by input file name.
  std::map<std::string, nlohmann::json> failed;
};

poisoned_run run_with_poison(const fs::path& dir,
                             const std::string& extra = "") {
  poisoned_run run;
  auto start = std::chrono::steady_clock::now();
  run.result = run_pixline(fmt::format(
    "run {} --plugin {} --events {} --quiet {}", (dir / "p.toml").string(),
    poison_plugin(), (dir / "events.jsonl").string(), extra));
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                              - start)
                  .count();
  run.failed = failures(dir / "events.jsonl");
  return run;
}

std::string slow_plugin() {
  return fmt::format("{}/libplugin_slow.so", PIXLINE_TEST_PLUGIN_DIR);
}

/// The worker processes a debug log says were started, by pid, in order.
std::vector<std::string> started_workers(const std::string& log) {
  static const std::regex started{R"(worker process (\d+) started)"};
  std::vector<std::string> pids;
  for (std::sregex_iterator it(log.begin(), log.end(), started), end;
       it != end; ++it)
    pids.push_back((*it)[1]);
  return pids;
}

std::size_t count_outputs(const fs::path& dir) {
  std::size_t n = 0;
  for (auto& f : files_in(dir))
    n += fs::path(f).filename().string()[0] != '.';
  return n;
}

} // namespace

TEST_CASE("poison inputs fail alone with their own reason and the good ones "
          "are all written",
          "[isolation]") {
  temp_dir dir;
  for (int i = 0; i < 100; ++i)
    save(test_card(32 + i % 7, 24), dir / "in" / fmt::format("good{:03}.jpg", i));
  for (auto mode : {"abort", "segv", "spin", "alloc", "spew"})
    save(test_card(40, 30), dir / "in" / fmt::format("poison-{}.jpg", mode));
  write_file(dir / "p.toml",
             config(dir.path(), "image_timeout = 5\nworker_memory_mib = 1024"));
  auto run = run_with_poison(dir.path());
  auto& r = run.result;
  auto& failed = run.failed;
  INFO(r.output);
  CHECK(r.status == 1);
  // The deadline (5 s) plus 10.
  CHECK(run.seconds < 15);
  CHECK(count_outputs(dir / "out") == 100);
  REQUIRE(failed.size() == 5);
  for (auto& [name, e] : failed)
    CHECK(e["stage"] == "poison");
  CHECK_THAT(failed["poison-abort.jpg"]["error"].get<std::string>(),
             Catch::StartsWith("worker crashed (SIGABRT) in poison"));
  CHECK_THAT(failed["poison-segv.jpg"]["error"].get<std::string>(),
             Catch::StartsWith("worker crashed (SIGSEGV) in poison"));
  CHECK(failed["poison-spin.jpg"]["error"] == "timed out after 5 s in poison");
  CHECK_THAT(failed["poison-alloc.jpg"]["error"].get<std::string>(),
             Catch::StartsWith("over worker memory limit (1024 MiB) in "
                               "poison"));
  auto spew = failed["poison-spew.jpg"]["error"].get<std::string>();
  CHECK(spew.size() < 1100);
  CHECK_THAT(spew, Catch::EndsWith("(19000 more characters of messages left "
                                   "out)"));
  // A crashed image is tried once more in a fresh worker before it fails.
  CHECK_THAT(r.output, Catch::Contains("trying it again in a fresh worker"));
}

TEST_CASE("a worker process's crash or hang fails only its own image, not "
          "the next one waiting in its link",
          "[isolation]") {
  // One worker process for small images: its stage hands it the next image
  // while it works on one (the request waits in the worker's link), so the
  // image after each poison is already the worker's when it crashes or
  // hangs. That image goes to the fresh worker, is not counted as crashed,
  // and is written.
  temp_dir dir;
  for (int i = 0; i < 40; ++i)
    save(test_card(32 + i % 5, 24), dir / "in" / fmt::format("g{:03}.jpg", i));
  save(test_card(40, 30), dir / "in" / "g010x-poison-abort.jpg");
  save(test_card(40, 30), dir / "in" / "g020x-poison-spin.jpg");
  save(test_card(40, 30), dir / "in" / "g030x-poison-segv.jpg");
  write_file(dir / "p.toml", config(dir.path(), "image_timeout = 3"));
  auto run = run_with_poison(dir.path(), "--workers save=1");
  auto& r = run.result;
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(run.seconds < 3 + 15);
  CHECK(count_outputs(dir / "out") == 40);
  for (int i = 0; i < 40; ++i)
    CHECK(fs::exists(dir / "out" / fmt::format("g{:03}.png", i)));
  REQUIRE(run.failed.size() == 3);
  CHECK_THAT(run.failed["g010x-poison-abort.jpg"]["error"].get<std::string>(),
             Catch::StartsWith("worker crashed (SIGABRT) in poison"));
  CHECK(run.failed["g020x-poison-spin.jpg"]["error"]
        == "timed out after 3 s in poison");
  CHECK_THAT(run.failed["g030x-poison-segv.jpg"]["error"].get<std::string>(),
             Catch::StartsWith("worker crashed (SIGSEGV) in poison"));
  // Each crashing poison is tried once more; no good image ever is.
  CHECK_THAT(r.output, Catch::Contains("g010x-poison-abort.jpg: worker "
                                       "crashed (SIGABRT)"));
  for (int i = 0; i < 40; ++i)
    CHECK_THAT(r.output, !Catch::Contains(fmt::format("g{:03}.jpg: ", i)));
}

TEST_CASE("the same poison in thread isolation takes the whole run down",
          "[isolation]") {
  // The control for the test above: without worker processes, one abort
  // loses every image in flight and the summary.
  temp_dir dir;
  for (int i = 0; i < 20; ++i)
    save(test_card(32, 24), dir / "in" / fmt::format("good{:03}.jpg", i));
  save(test_card(40, 30), dir / "in" / "poison-abort.jpg");
  write_file(dir / "p.toml", config(dir.path(), "isolation = \"thread\""));
  auto r = run_pixline(fmt::format("run {} --plugin {} --quiet",
                                   (dir / "p.toml").string(), poison_plugin()));
  CHECK(r.status == 128 + SIGABRT);
}

TEST_CASE("a worker process can read no file of the user's, open no socket, "
          "start no process and holds none of pixline's files",
          "[isolation][sandbox]") {
  temp_dir dir;
  save(test_card(40, 30), dir / "in" / "poison-probe.png");
  write_file(dir / "p.toml", config(dir.path(), ""));
  // pixline is given an open file, as a supervisor or a shell may leave
  // one: its workers must not hold it.
  auto run = run_with_poison(
    dir.path(), fmt::format("7>>{}", (dir / "handed-down.txt").string()));
  INFO(run.result.output);
  auto& failed = run.failed;
  REQUIRE(failed.count("poison-probe.png") == 1);
  CHECK(failed["poison-probe.png"]["error"]
        == "probe: open /etc/passwd: Permission denied; socket: Operation not "
           "permitted; fork: Operation not permitted; inherited: 0");
}

TEST_CASE("an SVG cannot pull a local file into its output", "[isolation][sandbox]") {
  temp_dir dir;
  // Secrets beside the SVG (as a watch's journal is) and below it, named by
  // a relative and by an absolute path (librsvg itself refuses files
  // outside the SVG's folder).
  write_file(dir / "in" / "secret.txt", "TOP SECRET TOP SECRET");
  write_file(dir / "in" / "state" / "journal.txt", "TOP SECRET TOP SECRET");
  auto svg = [](const std::string& body) {
    return fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" )"
      R"(xmlns:xi="http://www.w3.org/2001/XInclude" width="400" height="80">)"
      R"(<rect width="400" height="80" fill="white"/>)"
      R"(<text x="5" y="50" font-size="36" fill="black">{}</text></svg>)",
      body);
  };
  auto include = [](const std::string& href) {
    return fmt::format(R"(<xi:include href="{}" parse="text"/>)", href);
  };
  write_file(dir / "in" / "plain.svg", svg(""));
  write_file(dir / "in" / "relative.svg", svg(include("secret.txt")));
  write_file(dir / "in" / "absolute.svg",
             svg(include((dir / "in" / "state" / "journal.txt").string())));
  auto differs_from_plain = [&](const fs::path& out, const std::string& stem) {
    auto plain = vips::VImage::new_from_file((out / "plain.png").c_str());
    auto other
      = vips::VImage::new_from_file((out / (stem + ".png")).c_str());
    return (plain - other).abs().max() > 0;
  };
  for (auto isolation : {"thread", "process"}) {
    DYNAMIC_SECTION(isolation) {
      write_file(dir / "p.toml",
                 config(dir.path(),
                        fmt::format("isolation = \"{}\"", isolation), "strip",
                        "include = [\"*.svg\"]"));
      fs::remove_all(dir / "out");
      auto r = run_pixline(
        fmt::format("run {} --quiet", (dir / "p.toml").string()));
      INFO(r.output);
      REQUIRE(r.status == 0);
      REQUIRE(count_outputs(dir / "out") == 3);
      // In this process the decoder reads the files (the control: the test
      // sees a leak when there is one); a worker process reads neither.
      bool leaks = std::string(isolation) == "thread";
      CHECK(differs_from_plain(dir / "out", "relative") == leaks);
      CHECK(differs_from_plain(dir / "out", "absolute") == leaks);
    }
  }
}

TEST_CASE("every error names its own file, whatever the number of workers",
          "[isolation]") {
  temp_dir dir;
  // Cut-short TIFFs: libtiff's messages name the file they come from.
  save(test_card(64, 64), dir / "whole.tif");
  auto tiff = read_file(dir / "whole.tif").substr(0, 300);
  for (int i = 0; i < 50; ++i)
    write_file(dir / "in" / fmt::format("bad{:02}.tif", i), tiff);
  write_file(dir / "p.toml", config(dir.path(), "", "strip"));
  for (int workers : {2, 4, 8})
    for (int rep = 0; rep < 5; ++rep) {
      fs::remove(dir / "events.jsonl");
      auto r = run_pixline(fmt::format(
        "run {} --workers save={} --events {} --quiet",
        (dir / "p.toml").string(), workers, (dir / "events.jsonl").string()));
      REQUIRE(r.status == 1);
      auto failed = failures(dir / "events.jsonl");
      REQUIRE(failed.size() == 50);
      for (auto& [name, e] : failed) {
        auto error = e["error"].get<std::string>();
        INFO(workers << " workers, " << name << ": " << error);
        CHECK(e["stage"] == "load");
        CHECK_THAT(error, Catch::Contains(name));
        CHECK_THAT(error, !Catch::Contains("without a message"));
        std::string others;
        for (int i = 0; i < 50; ++i)
          if (auto other = fmt::format("bad{:02}.tif", i);
              other != name && error.find(other) != std::string::npos)
            others += other + " ";
        CHECK(others.empty());
      }
    }
}

TEST_CASE("files a stage's options name are read by pixline for the worker "
          "processes",
          "[isolation][sandbox]") {
  temp_dir dir;
  // An overlay outside every folder a worker process may open.
  save(solid(8, 8, 255, 0, 0), dir / "private" / "logo.png");
  for (int i = 0; i < 4; ++i)
    save(test_card(64, 48), dir / "in" / fmt::format("p{}.jpg", i));
  write_file(dir / "p.toml",
             fmt::format(R"(
[source]
path = "{in}"

[[filter]]
type = "watermark"
image = "{logo}"
gravity = "north-west"
margin = 0

[sink]
path = "{out}"
format = "png"
)",
                         fmt::arg("in", (dir / "in").string()),
                         fmt::arg("logo", (dir / "private" / "logo.png").string()),
                         fmt::arg("out", (dir / "out").string())));
  auto r = run_pixline(fmt::format("run {} --quiet --log-level warn",
                                   (dir / "p.toml").string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  // Built inside the sandbox, before any other thread could escape it.
  CHECK_THAT(r.output, !Catch::Contains("sandbox"));
  REQUIRE(count_outputs(dir / "out") == 4);
  auto out = vips::VImage::new_from_file((dir / "out" / "p0.png").c_str());
  CHECK(near(pixel(out, 1, 1), {255, 0, 0}, 1));
}

TEST_CASE("a watch quarantines poison files and keeps going and a restart "
          "does nothing more",
          "[isolation][watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "w.toml", watch_config(dir.path(), "image_timeout = 3"));
  auto watch = [&](const char* log) {
    return std::make_unique<child_process>(
      std::vector<std::string>{pixline_binary(), "watch",
                               (dir / "w.toml").string(), "--plugin",
                               poison_plugin()},
      dir / log);
  };
  auto proc = watch("first.log");
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 10; ++i)
    save(test_card(40, 30), dir / "in" / fmt::format("good{}.jpg", i));
  for (auto mode : {"abort", "segv", "spin"})
    save(test_card(40, 30), dir / "in" / fmt::format("poison-{}.jpg", mode));
  CHECK(wait_until([&] { return files_in(dir / "bad").size() == 6; }, 30));
  // Still watching: a file that lands now is written too.
  save(test_card(40, 30), dir / "in" / "late.jpg");
  CHECK(wait_until([&] { return count_outputs(dir / "out") == 11; }, 20));
  CHECK_THAT(read_file(dir / "bad" / "poison-abort.jpg.error.txt"),
             Catch::Contains("worker crashed (SIGABRT) in poison"));
  CHECK_THAT(read_file(dir / "bad" / "poison-segv.jpg.error.txt"),
             Catch::Contains("worker crashed (SIGSEGV) in poison"));
  CHECK_THAT(read_file(dir / "bad" / "poison-spin.jpg.error.txt"),
             Catch::Contains("timed out after 3 s in poison"));
  proc->signal(SIGTERM);
  CHECK(proc->wait() == 0);
  auto before = fs::last_write_time(dir / "out" / "good0.png");
  auto again = watch("second.log");
  std::this_thread::sleep_for(1500ms);
  again->signal(SIGINT);
  CHECK(again->wait() == 0);
  CHECK(fs::last_write_time(dir / "out" / "good0.png") == before);
  CHECK(count_outputs(dir / "out") == 11);
  CHECK(files_in(dir / "bad").size() == 6);
  CHECK_THAT(read_file(dir / "second.log"),
             Catch::Contains("11 files were already done"));
}

TEST_CASE("a file in flight during two crashes of pixline is quarantined "
          "at the next start",
          "[isolation][watch]") {
  // With isolation = "thread", a poison file takes pixline itself down: a
  // supervisor restarting the watch must not crash on it for ever.
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "w.toml", watch_config(dir.path(), "isolation = \"thread\""));
  save(test_card(40, 30), dir / "in" / "poison-abort.jpg");
  for (int start = 1; start <= 2; ++start) {
    child_process proc{{pixline_binary(), "watch", (dir / "w.toml").string(),
                        "--plugin", poison_plugin()},
                       dir / fmt::format("run{}.log", start)};
    CHECK(proc.wait() == 128 + SIGABRT);
  }
  save(test_card(40, 30), dir / "in" / "good.jpg");
  child_process proc{{pixline_binary(), "watch", (dir / "w.toml").string(),
                      "--plugin", poison_plugin()},
                     dir / "run3.log"};
  CHECK(wait_until([&] { return count_outputs(dir / "out") == 1
                                && files_in(dir / "bad").size() == 2; },
                   20));
  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
  CHECK_THAT(read_file(dir / "bad" / "poison-abort.jpg.error.txt"),
             Catch::Contains("was being worked on when pixline crashed, 2 "
                             "times; not tried again"));
}

TEST_CASE("the deadline covers opening a file and a real SVG blur bomb",
          "[isolation]") {
  temp_dir dir;
  for (int i = 0; i < 6; ++i)
    save(test_card(40, 30), dir / "in" / fmt::format("good{}.png", i));
  // Hangs while it is being opened, before any pixel exists.
  save(test_card(13, 7), dir / "in" / "opening.png");
  // 199 bytes that take minutes and gigabytes to render (under max_pixels).
  write_file(dir / "in" / "blur.svg",
             R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="4000" )svg"
             R"svg(height="4000"><filter id="b"><feGaussianBlur )svg"
             R"svg(stdDeviation="500"/></filter><rect width="4000" )svg"
             R"svg(height="4000" fill="red" filter="url(#b)"/></svg>)svg");
  write_file(dir / "p.toml", config(dir.path(), "image_timeout = 2",
                                    "poison_open", "include = [\"*.png\", \"*.svg\"]"));
  auto run = run_with_poison(dir.path());
  auto& failed = run.failed;
  INFO(run.result.output);
  CHECK(run.result.status == 1);
  CHECK(run.seconds < 12);
  CHECK(count_outputs(dir / "out") == 6);
  REQUIRE(failed.size() == 2);
  CHECK(failed["opening.png"]["error"] == "timed out after 2 s in load");
  CHECK_THAT(failed["blur.svg"]["error"].get<std::string>(),
             Catch::StartsWith("timed out after 2 s in"));
}

TEST_CASE("a run removes the scratch folders of killed runs' workers",
          "[isolation]") {
  temp_dir dir;
  save(test_card(40, 30), dir / "in" / "a.png");
  write_file(dir / "p.toml", config(dir.path(), "", "strip"));
  // A killed run's folder (a pid no process has) and a live one's (ours).
  pid_t dead = 4'000'000;
  while (::kill(dead, 0) == 0 || errno != ESRCH)
    ++dead;
  auto stale = dir / "tmp" / fmt::format("pixline-worker-{}-abcdef", dead);
  auto live = dir / "tmp" / fmt::format("pixline-worker-{}-abcdef", ::getpid());
  write_file(stale / "big.v", "leftover");
  write_file(live / "big.v", "in use");
  std::string output;
  int status = run_command(fmt::format("TMPDIR={} {} run {} --quiet",
                                       (dir / "tmp").string(), pixline_binary(),
                                       (dir / "p.toml").string()),
                           &output);
  INFO(output);
  CHECK(status == 0);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live / "big.v"));
  // Its own workers' folders are gone once it ends.
  CHECK(files_in(dir / "tmp").size() == 1);
}

TEST_CASE("a worker that closes its stderr is waited for without spinning",
          "[isolation]") {
  temp_dir dir;
  save(test_card(40, 30), dir / "in" / "poison-quiet.png");
  write_file(dir / "p.toml", config(dir.path(), ""));
  // pixline's CPU time (and its workers') while the worker sleeps 1.5 s: a
  // loop polling the closed pipe would take about as much as the wait.
  auto cpu = [] {
    rusage r{};
    ::getrusage(RUSAGE_CHILDREN, &r);
    return double(r.ru_utime.tv_sec + r.ru_stime.tv_sec)
           + double(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  auto before = cpu();
  auto r = run_pixline(fmt::format("run {} --plugin {} --quiet",
                                   (dir / "p.toml").string(), poison_plugin()));
  auto used = cpu() - before;
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(count_outputs(dir / "out") == 1);
  CHECK(used < 1.0);
}

TEST_CASE("one image starts one worker process, however many workers",
          "[isolation][workers]") {
  temp_dir dir;
  save(test_card(40, 30), dir / "in" / "only.png");
  write_file(dir / "p.toml", config(dir.path(), "", "strip"));
  auto r = run_pixline(fmt::format("run {} -w save=4 --log-level debug",
                                   (dir / "p.toml").string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(count_outputs(dir / "out") == 1);
  CHECK(started_workers(r.output).size() == 1);
}

TEST_CASE("a burst bigger than the workers starts every worker process",
          "[isolation][workers]") {
  temp_dir dir;
  for (int i = 0; i < 12; ++i)
    save(test_card(40, 30), dir / "in" / fmt::format("b{:02}.png", i));
  // 200 ms per image: the images wait for workers.
  write_file(dir / "p.toml", config(dir.path(), "", "slow"));
  auto r = run_pixline(fmt::format("run {} -w save=3 --plugin {} --log-level "
                                   "debug",
                                   (dir / "p.toml").string(), slow_plugin()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(count_outputs(dir / "out") == 12);
  auto started = started_workers(r.output);
  CHECK(started.size() == 3);
  CHECK(std::set<std::string>(started.begin(), started.end()).size() == 3);
}

TEST_CASE("a crashed worker process is replaced when workers start on "
          "demand",
          "[isolation][workers]") {
  temp_dir dir;
  for (int i = 0; i < 6; ++i)
    save(test_card(40, 30), dir / "in" / fmt::format("good{}.jpg", i));
  save(test_card(40, 30), dir / "in" / "poison-abort.jpg");
  write_file(dir / "p.toml", config(dir.path(), ""));
  auto run = run_with_poison(dir.path(), "-w save=1 --log-level debug");
  INFO(run.result.output);
  CHECK(run.result.status == 1);
  CHECK(count_outputs(dir / "out") == 6);
  REQUIRE(run.failed.size() == 1);
  CHECK_THAT(run.failed["poison-abort.jpg"]["error"].get<std::string>(),
             Catch::StartsWith("worker crashed (SIGABRT) in poison"));
  // The first, the one the image was tried again in, and one for the good
  // images after the second crash unless the poison was the last image.
  auto started = started_workers(run.result.output);
  CHECK(started.size() >= 2);
  CHECK(std::set<std::string>(started.begin(), started.end()).size()
        == started.size());
}

TEST_CASE("in a watch, idle worker processes stop but the first, and a "
          "burst starts them again",
          "[isolation][workers][watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "w.toml", fmt::format(R"(
[pipeline]
log_level = "debug"
worker_idle_stop = 1

[source]
kind = "watch"
path = "{in}"
settle_ms = 100
state_dir = "{state}"

[[filter]]
type = "slow"
ms = 150

[sink]
path = "{out}"
format = "png"
workers = 2
)",
                                         fmt::arg("in", (dir / "in").string()),
                                         fmt::arg("state",
                                                  (dir / "state").string()),
                                         fmt::arg("out", (dir / "out").string())));
  child_process watch{{pixline_binary(), "watch", (dir / "w.toml").string(),
                       "--plugin", slow_plugin()},
                      dir / "watch.log"};
  auto log = [&] { return read_file(dir / "watch.log"); };
  // Only the first worker process runs before any image comes.
  REQUIRE(wait_until([&] { return started_workers(log()).size() == 1; }, 20));
  std::this_thread::sleep_for(300ms);
  CHECK(children_of(watch.pid()).size() == 1);
  auto first = started_workers(log()).front();
  for (int i = 0; i < 6; ++i)
    save(test_card(40, 30), dir / "in" / fmt::format("a{}.png", i));
  REQUIRE(wait_until([&] { return count_outputs(dir / "out") == 6; }, 30));
  CHECK(started_workers(log()).size() == 2);
  // A second later the second one is stopped; the first stays.
  REQUIRE(wait_until([&] {
    return log().find("without an image") != std::string::npos;
  }, 10));
  CHECK(wait_until([&] { return children_of(watch.pid()).size() == 1; }, 5));
  CHECK(children_of(watch.pid()) == std::set<std::string>{first});
  // The next burst starts a fresh second one; the first did not change.
  for (int i = 0; i < 6; ++i)
    save(test_card(40, 30), dir / "in" / fmt::format("b{}.png", i));
  REQUIRE(wait_until([&] { return count_outputs(dir / "out") == 12; }, 30));
  auto started = started_workers(log());
  INFO(log());
  CHECK(started.size() == 3);
  CHECK(children_of(watch.pid()).count(first) == 1);
  watch.signal(SIGTERM);
  CHECK(watch.wait() == 0);
}

TEST_CASE("a worker process's outputs arrive whole, small ones in its reply "
          "and large ones in a memfd",
          "[isolation]") {
  // A thumbnail fits in the worker's reply message; a full-size PNG of
  // noise (megabytes) does not and comes as a memfd. Two sinks, so each
  // reply carries two outputs one after the other.
  temp_dir dir;
  auto noise = [](int w, int h) {
    return (vips::VImage::gaussnoise(w, h, vips::VImage::option()
                                             ->set("mean", 128)
                                             ->set("sigma", 60))
              .bandjoin({vips::VImage::gaussnoise(w, h),
                         vips::VImage::gaussnoise(w, h)})
              .cast(VIPS_FORMAT_UCHAR))
      .copy(vips::VImage::option()->set("interpretation",
                                        VIPS_INTERPRETATION_sRGB));
  };
  save(noise(40, 30), dir / "in" / "small.png");
  save(noise(1200, 900), dir / "in" / "large.png");
  write_file(dir / "p.toml", fmt::format(R"(
[pipeline]
name = "outputs"
[source]
path = "{0}/in"
[[sink]]
path = "{0}/out"
format = "png"
naming = "{{stem}}-a.{{ext}}"
[[sink]]
path = "{0}/out"
format = "png"
naming = "{{stem}}-b.{{ext}}"
)",
                                         dir.path().string()));
  auto r = run_pixline(fmt::format("run {}", (dir / "p.toml").string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(fs::file_size(dir / "out" / "large-a.png") > 1'000'000);
  for (std::string name : {"small", "large"})
    for (std::string sink : {"a", "b"}) {
      CAPTURE(name, sink);
      auto in = vips::VImage::new_from_file(
        (dir / "in" / (name + ".png")).c_str());
      auto out = vips::VImage::new_from_file(
        (dir / "out" / (name + "-" + sink + ".png")).c_str());
      REQUIRE(out.width() == in.width());
      CHECK((out - in).abs().max() == 0);
    }
}
