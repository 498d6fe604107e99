// --events: JSON lines another program can follow.

#include <csignal>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

TEST_CASE("events: --events FILE writes one JSON object per line", "[events]") {
  temp_dir dir;
  save(test_card(100, 80), dir / "in" / "a.jpg");
  save(test_card(80, 100), dir / "in" / "b.png");
  write_file(dir / "in" / "bad.jpg", "nope");
  write_file(dir / "p.toml", "[source]\npath = \"x\"\n[sink]\nformat = \"png\"\n");
  std::string out;
  auto status = run_command(
    fmt::format("'{}' run '{}' --input '{}' --output '{}' --events '{}'",
                pixline_binary(), (dir / "p.toml").string(),
                (dir / "in").string(), (dir / "out").string(),
                (dir / "events.jsonl").string()),
    &out);
  INFO(out);
  CHECK(status == 1);
  std::istringstream lines(read_file(dir / "events.jsonl"));
  std::vector<nlohmann::json> events;
  std::string line;
  while (std::getline(lines, line))
    REQUIRE_NOTHROW(events.push_back(nlohmann::json::parse(line)));
  REQUIRE(events.size() == 5);
  CHECK(events.front()["event"] == "started");
  CHECK(events.front()["mode"] == "batch");
  // The number of inputs, known before the first image, for a progress bar.
  CHECK(events.front()["total"] == 3);
  CHECK(events.back()["event"] == "finished");
  CHECK(events.back()["total"] == 3);
  CHECK(events.back()["written"] == 2);
  CHECK(events.back()["failed"] == 1);
  int written = 0;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    auto& e = events[i];
    CHECK(e.contains("time"));
    if (e["event"] == "written") {
      ++written;
      REQUIRE(e["outputs"].size() == 1);
      CHECK(std::filesystem::exists(e["outputs"][0].get<std::string>()));
    } else {
      CHECK(e["event"] == "failed");
      CHECK(e["input"] == (dir / "in" / "bad.jpg").string());
      CHECK(e["stage"] == "load");
      CHECK_THAT(e["error"].get<std::string>(), Catch::Contains("not an image"));
    }
  }
  CHECK(written == 2);
}

TEST_CASE("events: --events - keeps stdout for events only", "[events]") {
  temp_dir dir;
  save(test_card(50, 50), dir / "in" / "a.png");
  write_file(dir / "p.toml", "[source]\npath = \"x\"\n[sink]\nformat = \"png\"\n");
  std::string out;
  auto status = run_command(
    fmt::format("('{}' run '{}' --input '{}' --output '{}' --events - "
                "2>/dev/null)",
                pixline_binary(), (dir / "p.toml").string(),
                (dir / "in").string(), (dir / "out").string()),
    &out);
  CHECK(status == 0);
  std::istringstream lines(out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    CHECK_NOTHROW(nlohmann::json::parse(line));
    ++n;
  }
  CHECK(n == 3);
}

TEST_CASE("events: a watch's started event has no total", "[events][watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "p.toml",
             fmt::format("[source]\nkind = \"watch\"\npath = \"{}\"\n"
                         "state_dir = \"{}\"\n[sink]\npath = \"{}\"\n",
                         (dir / "in").string(), (dir / "state").string(),
                         (dir / "out").string()));
  child_process watch{{pixline_binary(), "watch", (dir / "p.toml").string(),
                       "--events", (dir / "events.jsonl").string()},
                      dir / "watch.log"};
  REQUIRE(wait_until(
    [&] {
      return read_file(dir / "events.jsonl").find('\n') != std::string::npos;
    },
    20));
  // Stopped once it watches (a signal before that ends it at once).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  watch.signal(SIGINT);
  CHECK(watch.wait() == 0);
  auto first = read_file(dir / "events.jsonl");
  auto started = nlohmann::json::parse(first.substr(0, first.find('\n')));
  CHECK(started["event"] == "started");
  CHECK(started["mode"] == "watch");
  // Its inputs keep coming: no total.
  CHECK_FALSE(started.contains("total"));
}
