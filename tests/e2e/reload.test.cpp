// A watch's config reload (app/reload.cpp) with the real binary: SIGHUP and
// --watch-config apply a valid config with nothing lost or repeated while
// files keep landing; an invalid one keeps the old pipeline running.

#include <csignal>

#include <map>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

std::string config_text(const fs::path& dir, const std::string& width) {
  return fmt::format(R"(
[pipeline]
max_in_flight = 4

[source]
kind = "watch"
path = "{in}"
settle_ms = 50
state_dir = "{state}"

[[filter]]
type = "resize"
width = {width}

[sink]
path = "{out}"
format = "png"
naming = "{{stem}}.{{ext}}"
)",
                     fmt::arg("in", (dir / "in").string()),
                     fmt::arg("out", (dir / "out").string()),
                     fmt::arg("state", (dir / "state").string()),
                     fmt::arg("width", width));
}

/// Replaces the config the way editors and deploy tools do: a new file
/// renamed over the old.
void write_config(const fs::path& dir, const std::string& width) {
  write_file(dir / "watch.toml.new", config_text(dir, width));
  fs::rename(dir / "watch.toml.new", dir / "watch.toml");
}

/// Drops an image into the watched folder, written aside and renamed in.
void drop(const fs::path& dir, const std::string& name) {
  save(test_card(96, 64), dir / ("staged-" + name + ".png"));
  fs::rename(dir / ("staged-" + name + ".png"), dir / "in" / (name + ".png"));
}

std::vector<nlohmann::json> events_of(const fs::path& file) {
  std::vector<nlohmann::json> events;
  std::istringstream lines{fs::exists(file) ? read_file(file) : ""};
  for (std::string line; std::getline(lines, line);)
    if (!line.empty())
      events.push_back(nlohmann::json::parse(line));
  return events;
}

size_t count_events(const fs::path& file, const std::string& name,
                    const std::string& result = {}) {
  size_t n = 0;
  for (auto& e : events_of(file))
    if (e["event"] == name && (result.empty() || e.value("result", "") == result))
      ++n;
  return n;
}

int width_of(const fs::path& file) {
  return vips::VImage::new_from_file(file.c_str()).width();
}

int status_of(int port, const char* path) {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(2);
  auto res = client.Get(path);
  return res ? res->status : -1;
}

std::string metrics_of(int port) {
  httplib::Client client{"127.0.0.1", port};
  auto res = client.Get("/metrics");
  return res ? res->body : std::string{};
}

} // namespace

TEST_CASE("SIGHUP reloads a watch under load: nothing lost or repeated",
          "[e2e][watch][reload]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_config(dir.path(), "40");
  port_holder free_port;
  int port = free_port.port();
  free_port.release();
  auto events = dir / "events.jsonl";
  child_process proc{{pixline_binary(), "watch", (dir / "watch.toml").string(),
                      "--events", events.string(), "--metrics",
                      fmt::format("127.0.0.1:{}", port)},
                     dir / "pixline.log"};
  REQUIRE(wait_until([&] { return status_of(port, "/readyz") == 200; }, 20));
  CHECK(status_of(port, "/healthz") == 200);

  // Files keep landing before, during and after the reload.
  std::atomic<bool> dropping{true};
  std::thread dropper([&] {
    for (int i = 0; i < 40 && dropping; ++i) {
      drop(dir.path(), fmt::format("steady{:02}", i));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  write_config(dir.path(), "20");
  proc.signal(SIGHUP);
  REQUIRE(wait_until([&] { return count_events(events, "reloaded", "ok") == 1; },
                     30));
  // Taken after the reload: the new pipeline.
  for (int i = 0; i < 3; ++i)
    drop(dir.path(), fmt::format("after{}", i));
  dropper.join();

  const size_t total = 43;
  REQUIRE(wait_until(
    [&] { return count_events(events, "written") >= total; }, 60));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Every file once: one written event and one output each.
  std::map<std::string, int> written;
  for (auto& e : events_of(events))
    if (e["event"] == "written")
      ++written[e["input"].get<std::string>()];
  CHECK(written.size() == total);
  for (auto& [input, n] : written) {
    CAPTURE(input);
    CHECK(n == 1);
  }
  for (int i = 0; i < 3; ++i)
    CHECK(width_of(dir / "out" / fmt::format("after{}.png", i)) == 20);
  // The first files went through the old pipeline.
  CHECK(width_of(dir / "out" / "steady00.png") == 40);
  CHECK_THAT(metrics_of(port),
             Catch::Contains("pixline_config_reloads_total{result=\"ok\"} 1"));

  // An invalid config: logged with its line, the old pipeline goes on.
  write_file(dir / "watch.toml", config_text(dir.path(), "\"wide\""));
  proc.signal(SIGHUP);
  REQUIRE(wait_until(
    [&] { return count_events(events, "reloaded", "error") == 1; }, 20));
  CHECK(proc.running());
  CHECK_THAT(read_file(dir / "pixline.log"),
             Catch::Contains("watch.toml:13:9:"));
  CHECK_THAT(metrics_of(port), Catch::Contains(
                                 "pixline_config_reloads_total{result=\"error\"} 1"));
  CHECK(status_of(port, "/readyz") == 200);
  drop(dir.path(), "still");
  REQUIRE(wait_until([&] { return fs::exists(dir / "out" / "still.png"); },
                     20));
  CHECK(width_of(dir / "out" / "still.png") == 20);

  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
}

TEST_CASE("watch --watch-config reloads when the file changes",
          "[e2e][watch][reload]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_config(dir.path(), "40");
  auto events = dir / "events.jsonl";
  child_process proc{{pixline_binary(), "watch", (dir / "watch.toml").string(),
                      "--watch-config", "--events", events.string()},
                     dir / "pixline.log"};
  drop(dir.path(), "first");
  REQUIRE(wait_until([&] { return fs::exists(dir / "out" / "first.png"); },
                     20));
  CHECK(width_of(dir / "out" / "first.png") == 40);
  write_config(dir.path(), "24");
  REQUIRE(wait_until([&] { return count_events(events, "reloaded", "ok") == 1; },
                     20));
  drop(dir.path(), "second");
  REQUIRE(wait_until([&] { return fs::exists(dir / "out" / "second.png"); },
                     20));
  CHECK(width_of(dir / "out" / "second.png") == 24);
  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
}

TEST_CASE("a batch ignores SIGHUP", "[e2e][reload]") {
  temp_dir dir;
  for (int i = 0; i < 30; ++i)
    save(test_card(800, 600), dir / "in" / fmt::format("a{}.jpg", i));
  child_process proc{{pixline_binary(), "run", "--chain",
                      "thumbnail width=64 ! save format=png", "-i",
                      (dir / "in").string(), "-o", (dir / "out").string()},
                     dir / "pixline.log"};
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  proc.signal(SIGHUP);
  CHECK(proc.wait() == 0);
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir / "out"))
    n += e.is_regular_file() ? 1 : 0;
  CHECK(n == 30);
}
