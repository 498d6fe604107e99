// Stage workers on other nodes, with real processes on loopback: the same
// files as a local run, a node killed mid-run (and restarted), and TLS
// peers checked against the configured CA.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/images.hpp"
#include "support/lossy_link.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

std::string slow_plugin() {
  return fmt::format("{}/libplugin_slow.so", PIXLINE_TEST_PLUGIN_DIR);
}

/// A `pixline node` on a port of the OS's choosing (or `port`).
class node {
public:
  /// In `cwd` when given (the current folder otherwise).
  node(const fs::path& log, std::vector<std::string> extra = {}, int port = 0,
       const fs::path& cwd = {})
    : log_(log) {
    std::vector<std::string> args{pixline_binary(), "--plugin", slow_plugin(),
                                  "node", "--listen",
                                  fmt::format("127.0.0.1:{}", port)};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!cwd.empty())
      args.insert(args.begin(),
                  {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd.string()});
    process_ = std::make_unique<child_process>(args, log);
    std::regex listening{"listening on 127\\.0\\.0\\.1:([0-9]+)"};
    std::smatch m;
    REQUIRE(wait_until(
      [&] {
        auto text = read_file(log_);
        if (!std::regex_search(text, m, listening))
          return false;
        port_ = std::stoi(m[1].str());
        return true;
      },
      10));
  }

  int port() const {
    return port_;
  }
  std::string address() const {
    return fmt::format("127.0.0.1:{}", port_);
  }
  std::string log() const {
    return read_file(log_);
  }
  void kill() {
    process_->signal(SIGKILL);
    process_->wait();
  }
  void signal(int sig) {
    process_->signal(sig);
  }
  /// Resident memory in KiB.
  long rss_kib() const {
    std::istringstream in(read_file(fmt::format("/proc/{}/status",
                                                process_->pid())));
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0)
        return std::stol(line.substr(6));
    return -1;
  }

private:
  fs::path log_;
  std::unique_ptr<child_process> process_;
  int port_ = 0;
};

/// Inputs of several sizes and formats, one with an EXIF orientation.
void make_inputs(const fs::path& dir, int count) {
  fs::create_directories(dir);
  for (int i = 0; i < count; ++i) {
    auto img = test_card(300 + 37 * i, 200 + 23 * i);
    if (i % 3 == 0)
      save(img, dir / fmt::format("in{:02}.png", i));
    else if (i % 3 == 1)
      save(img, dir / fmt::format("in{:02}.jpg", i));
    else {
      img = img.copy();
      img.set("orientation", 6);
      save(img, dir / fmt::format("in{:02}.jpg", i));
    }
  }
}

std::string nodes_toml(const std::vector<std::pair<std::string, const node*>>& nodes,
                       const std::string& extra = "") {
  std::string text;
  for (auto& [name, n] : nodes)
    text += fmt::format("[[node]]\nname = \"{}\"\naddress = \"{}\"\n{}\n", name,
                        n->address(), extra);
  return text;
}

/// Output paths of the "written" events in an --events file, with repeats.
std::vector<std::string> written_outputs(const fs::path& events) {
  std::vector<std::string> result;
  std::istringstream in(read_file(events));
  std::string line;
  while (std::getline(in, line)) {
    auto e = nlohmann::json::parse(line);
    if (e["event"] == "written")
      for (auto& out : e["outputs"])
        result.push_back(out.get<std::string>());
  }
  return result;
}

/// Checks that `local` holds `n` files and `remote` the same ones, byte
/// for byte.
void check_same_files(const fs::path& local, const fs::path& remote,
                      size_t n) {
  auto files = files_in(local);
  REQUIRE(files.size() == n);
  CHECK(files_in(remote) == files);
  for (auto& f : files) {
    INFO(f);
    CHECK(read_file(remote / f) == read_file(local / f));
  }
}

/// Waits until the --events file lists at least `n` written outputs.
bool wait_for_written(const fs::path& events, size_t n) {
  return wait_until(
    [&] { return fs::exists(events) && written_outputs(events).size() >= n; },
    30);
}

/// Waits until `log` contains `text`.
bool wait_for_line(const fs::path& log, const std::string& text) {
  return wait_until(
    [&] { return read_file(log).find(text) != std::string::npos; }, 30);
}

/// Checks that the --events file lists `n` outputs, each once.
void check_each_written_once(const fs::path& events, int n) {
  auto outputs = written_outputs(events);
  CHECK(outputs.size() == size_t(n));
  CHECK(std::set<std::string>(outputs.begin(), outputs.end()).size()
        == size_t(n));
}

/// A pipeline that reads DIR/in, runs the slow plugin stage (`ms` per
/// image) with `workers` and writes PNGs to DIR/out; [[node]]s go after it.
std::string slow_pipeline(const fs::path& dir, int ms,
                          const std::string& workers) {
  return fmt::format(R"(plugins = ["{1}"]
[source]
path = "{0}/in"
[[filter]]
type = "slow"
ms = {2}
workers = {3}
[sink]
path = "{0}/out"
format = "png"
)",
                     dir.string(), slow_plugin(), ms, workers);
}

/// Waits at most `seconds` for `run` to end, and kills it if it did not:
/// its exit code, or nothing when it had to be killed.
std::optional<int> ended_within(child_process& run, double seconds) {
  auto status = run.wait_for(seconds);
  if (!status) {
    run.signal(SIGKILL);
    run.wait();
  }
  return status;
}

/// `pixline run` over `images` inputs through a stage taking `ms` per image
/// on nodes a and b (two workers each), writing --events to
/// DIR/events.jsonl and its log to DIR/run.log.
std::unique_ptr<child_process> start_slow_run(const fs::path& dir, int images,
                                              int ms, const node& a,
                                              const node& b,
                                              int metrics_port = 0) {
  make_inputs(dir / "in", images);
  auto config = dir / "c.toml";
  write_file(config, slow_pipeline(dir, ms, "{ a = 2, b = 2 }")
                       + nodes_toml({{"a", &a}, {"b", &b}}));
  std::vector<std::string> args{pixline_binary(), "run", config.string(),
                                "--events", (dir / "events.jsonl").string()};
  if (metrics_port > 0) {
    args.push_back("--metrics");
    args.push_back(fmt::format("127.0.0.1:{}", metrics_port));
  }
  return std::make_unique<child_process>(args, dir / "run.log");
}

} // namespace

TEST_CASE("a coordinator and two nodes (raw and png on the wire) write the "
          "same files as a local run, byte for byte",
          "[distributed]") {
  temp_dir dir;
  make_inputs(dir.path() / "in", 9);
  node a{dir.path() / "a.log"};
  node b{dir.path() / "b.log"};
  auto pipeline = [&](const std::string& out, const std::string& load,
                      const std::string& filter, const std::string& save) {
    return fmt::format(R"([source]
path = "{0}/in"
workers = {2}
[[filter]]
type = "autorotate"
[[filter]]
type = "resize"
width = 240
workers = {3}
[[filter]]
type = "sharpen"
workers = {3}
[[sink]]
path = "{0}/{1}"
format = "jpeg"
quality = 85
workers = {4}
[[sink]]
path = "{0}/{1}"
format = "webp"
naming = "{{stem}}-small.{{ext}}"
workers = {4}
[[sink.filter]]
type = "thumbnail"
width = 64
)",
                       dir.path().string(), out, load, filter, save);
  };
  write_file(dir.path() / "local.toml",
             pipeline("local", "1", "1", "2"));
  write_file(dir.path() / "remote.toml",
             pipeline("remote", "{ local = 1, a = 2, b = 1 }",
                      "{ a = 1, b = 1 }", "{ a = 1, b = 2 }")
               + nodes_toml({{"a", &a}}, "wire = \"png\"")
               + nodes_toml({{"b", &b}}));
  auto local = run_pixline("run -q " + (dir.path() / "local.toml").string());
  REQUIRE(local.status == 0);
  auto remote = run_pixline("run " + (dir.path() / "remote.toml").string());
  INFO(remote.output);
  REQUIRE(remote.status == 0);
  CHECK_THAT(remote.output, Catch::Contains("9 written"));
  check_same_files(dir.path() / "local", dir.path() / "remote", 18);
  // The work happened on the nodes.
  CHECK_THAT(a.log(), Catch::Contains("started 2 workers"));
  CHECK_THAT(b.log(), Catch::Contains("started 2 workers"));
}

TEST_CASE("a stage on a node reads the coordinator's files, never the "
          "node's",
          "[distributed]") {
  // The overlay is "logo.png", relative: the coordinator's folder has a
  // blue one, the folder the nodes run in a red one of the same name.
  temp_dir dir;
  make_inputs(dir.path() / "in", 4);
  auto here = dir.path() / "coordinator";
  auto there = dir.path() / "nodes";
  fs::create_directories(here);
  fs::create_directories(there);
  save(solid(40, 20, 0, 0, 255), here / "logo.png");
  save(solid(40, 20, 255, 0, 0), there / "logo.png");
  // One node runs stages in sandboxed worker processes, one in its own
  // process.
  node a{dir.path() / "a.log", {}, 0, there};
  node b{dir.path() / "b.log", {"--isolation", "thread"}, 0, there};
  auto pipeline = [&](const std::string& out, const std::string& workers) {
    return fmt::format(R"([source]
path = "{0}/in"
[[filter]]
type = "watermark"
image = "logo.png"
gravity = "centre"
workers = {2}
[sink]
path = "{0}/{1}"
format = "png"
workers = {2}
[[sink.filter]]
type = "icc"
profile = "p3"
)",
                       dir.path().string(), out, workers);
  };
  write_file(dir.path() / "local.toml", pipeline("local", "1"));
  write_file(dir.path() / "remote.toml",
             pipeline("remote", "{ a = 1, b = 1 }")
               + nodes_toml({{"a", &a}, {"b", &b}}));
  auto in_here = [&](const std::string& args) {
    command_result r;
    r.status = run_command(fmt::format("cd '{}' && {} {}", here.string(),
                                       pixline_binary(), args),
                           &r.output);
    return r;
  };
  auto local = in_here("run -q " + (dir.path() / "local.toml").string());
  INFO(local.output);
  REQUIRE(local.status == 0);
  auto remote = in_here("run " + (dir.path() / "remote.toml").string());
  INFO(remote.output << a.log() << b.log());
  REQUIRE(remote.status == 0);
  check_same_files(dir.path() / "local", dir.path() / "remote", 4);
  CHECK_THAT(a.log(), Catch::Contains("started 1 workers"));
  CHECK_THAT(b.log(), Catch::Contains("started 1 workers"));

  // An overlay the coordinator cannot read stops the run here, before any
  // node is asked, naming the file.
  fs::remove(here / "logo.png");
  auto missing = in_here("run " + (dir.path() / "remote.toml").string());
  INFO(missing.output);
  CHECK(missing.status == 2);
  CHECK_THAT(missing.output, Catch::Contains("logo.png"));
}

TEST_CASE("consecutive stages on one node run there as one job: the image "
          "crosses once, and the outputs are those of a local run",
          "[distributed]") {
  temp_dir dir;
  constexpr int images = 4;
  constexpr int width = 640;
  constexpr int height = 480;
  fs::create_directories(dir.path() / "in");
  for (int i = 0; i < images; ++i)
    save(test_card(width + i, height),
         dir.path() / "in" / fmt::format("n{}.png", i));
  // Decoded, an input is about this many bytes (3 bands of 8 bits).
  const double raw = 3.0 * width * height;
  node a{dir.path() / "a.log"};
  auto pipeline = [&](const std::string& out, const std::string& load,
                      const std::string& filters, const std::string& save) {
    // Watched, but for the local run, which is a batch.
    auto watched
      = out == "local"
          ? std::string{}
          : fmt::format("kind = \"watch\"\nstate_dir = \"{}/state-{}\"",
                        dir.path().string(), out);
    return fmt::format(R"([source]
path = "{0}/in"
{5}
workers = {2}
[[filter]]
type = "sharpen"
workers = {3}
[[filter]]
type = "flip"
direction = "horizontal"
workers = {3}
[[filter]]
type = "invert"
workers = {3}
[sink]
path = "{0}/{1}"
format = "png"
workers = {4}
)",
                       dir.path().string(), out, load, filters, save, watched);
  };
  write_file(dir.path() / "local.toml", pipeline("local", "1", "1", "1"));
  auto local = run_pixline("run -q " + (dir.path() / "local.toml").string());
  INFO(local.output);
  REQUIRE(local.status == 0);
  // The coordinator's count of bytes to and from nodes per image, for the
  // pipeline placed so: a watch of the inputs, scraped once every output
  // is written.
  auto measured = [&](const std::string& name, const std::string& load,
                      const std::string& filters, const std::string& save) {
    auto config = dir.path() / (name + ".toml");
    write_file(config, pipeline(name, load, filters, save)
                         + nodes_toml({{"a", &a}}));
    port_holder metrics;
    metrics.release();
    child_process watch{{pixline_binary(), "watch", config.string(),
                         "--metrics",
                         fmt::format("127.0.0.1:{}", metrics.port())},
                        dir.path() / (name + ".log")};
    INFO(read_file(dir.path() / (name + ".log")) << a.log());
    REQUIRE(wait_until(
      [&] {
        return fs::exists(dir.path() / name)
               && files_in(dir.path() / name).size() == size_t(images);
      },
      60));
    httplib::Client scrape("127.0.0.1", metrics.port());
    auto page = scrape.Get("/metrics");
    watch.signal(SIGINT);
    CHECK(watch.wait() == 0);
    REQUIRE(page);
    auto sum = [&](const std::string& family) {
      double total = 0;
      std::regex sample{family + "\\{stage=\"[^\"]*\"\\} ([0-9.e+]+)"};
      for (std::sregex_iterator m{page->body.begin(), page->body.end(),
                                  sample},
           end;
           m != end; ++m)
        total += std::stod((*m)[1].str());
      return total / images;
    };
    check_same_files(dir.path() / "local", dir.path() / name, images);
    return std::pair<double, double>{sum("pixline_node_bytes_sent_total"),
                                     sum("pixline_node_bytes_received_total")};
  };
  // The three filters on the node: each image goes there once, decoded,
  // and comes back once (one hop each way, not one per stage).
  auto [sent, received] = measured("filters", "1", "{ a = 2 }", "1");
  INFO("per image: " << sent << " bytes to the node, " << received
                     << " back; decoded " << raw);
  CHECK(sent > raw);
  CHECK(sent < 1.5 * raw);
  CHECK(received > raw);
  CHECK(received < 1.5 * raw);
  // The filters and the save stage on the node: the image goes there, the
  // encoded outputs come back.
  std::tie(sent, received) = measured("to-save", "1", "{ a = 2 }", "{ a = 2 }");
  CHECK(sent > raw);
  CHECK(sent < 1.5 * raw);
  CHECK(received > 0);
  CHECK(received < 0.5 * raw);
  // Every stage on the node: the file goes there, the outputs come back;
  // no decoded image crosses at all.
  std::tie(sent, received) = measured("all", "{ a = 2 }", "{ a = 2 }",
                                      "{ a = 2 }");
  CHECK(sent > 0);
  CHECK(sent < 0.5 * raw);
  CHECK(received > 0);
  CHECK(received < 0.5 * raw);
}

TEST_CASE("a node killed mid-run loses no image, and a restarted node "
          "rejoins",
          "[distributed]") {
  temp_dir dir;
  const int images = 40;
  node a{dir.path() / "a.log"};
  node b{dir.path() / "b.log"};
  auto events = dir.path() / "events.jsonl";
  port_holder metrics;
  metrics.release();
  auto run = start_slow_run(dir.path(), images, 150, a, b, metrics.port());
  // Kill node a once the run is well under way (images are in flight on
  // both nodes all the time: four slow workers, a budget of more).
  REQUIRE(wait_for_written(events, 4));
  a.kill();
  // The loss is counted where operators look.
  REQUIRE(wait_for_line(dir.path() / "run.log", "lost on a node"));
  httplib::Client scrape("127.0.0.1", metrics.port());
  auto page = scrape.Get("/metrics");
  REQUIRE(page);
  std::smatch lost_count;
  REQUIRE(std::regex_search(
    page->body, lost_count,
    std::regex{"pixline_images_lost_total\\{stage=\"slow\"\\} ([0-9]+)"}));
  CHECK(std::stoi(lost_count[1].str()) >= 1);
  int a_port = a.port();
  // Same port, so the coordinator's retries find it.
  node again{dir.path() / "a2.log", {}, a_port};
  int status = run->wait();
  auto log = read_file(dir.path() / "run.log");
  INFO(log);
  CHECK(status == 0);
  // Every image written, each output exactly once.
  check_each_written_once(events, images);
  CHECK(files_in(dir.path() / "out").size() == size_t(images));
  // The loss was noticed and logged, and images went elsewhere.
  CHECK_THAT(log, Catch::Contains("node a (" + a.address() + ") lost"));
  CHECK_THAT(log, Catch::Contains("lost on a node"));
  // The restarted node came back and got workers.
  CHECK_THAT(log, Catch::Contains("is back"));
  CHECK_THAT(again.log(), Catch::Contains("started 2 workers"));
}

TEST_CASE("a job fused on a node that is killed goes back whole and is "
          "done again, the same as a local run",
          "[distributed]") {
  temp_dir dir;
  const int images = 24;
  make_inputs(dir.path() / "in", images);
  node a{dir.path() / "a.log"};
  node b{dir.path() / "b.log"};
  // The slow stage, a flip and the save stage on the same nodes: one job
  // each image, from the decoded image to the encoded output.
  auto pipeline = [&](const std::string& out, const std::string& workers) {
    return fmt::format(R"(plugins = ["{1}"]
[source]
path = "{0}/in"
[[filter]]
type = "slow"
ms = 150
workers = {3}
[[filter]]
type = "flip"
workers = {3}
[sink]
path = "{0}/{2}"
format = "png"
workers = {3}
)",
                       dir.path().string(), slow_plugin(), out, workers);
  };
  write_file(dir.path() / "local.toml", pipeline("local", "2"));
  auto local = run_pixline("run -q " + (dir.path() / "local.toml").string());
  INFO(local.output);
  REQUIRE(local.status == 0);
  auto events = dir.path() / "events.jsonl";
  write_file(dir.path() / "remote.toml",
             pipeline("remote", "{ a = 2, b = 2 }")
               + nodes_toml({{"a", &a}, {"b", &b}}));
  child_process run{{pixline_binary(), "run",
                     (dir.path() / "remote.toml").string(), "--events",
                     events.string()},
                    dir.path() / "run.log"};
  REQUIRE(wait_for_written(events, 4));
  a.kill();
  auto status = ended_within(run, 60);
  auto log = read_file(dir.path() / "run.log");
  INFO(log);
  REQUIRE(status);
  CHECK(*status == 0);
  // The jobs node a had went to node b as a whole: the fused stage lost
  // them, and every output is written once, as a local run writes it.
  CHECK_THAT(log, Catch::Contains("slow+flip+save: "));
  CHECK_THAT(log, Catch::Contains("lost on a node"));
  check_each_written_once(events, images);
  check_same_files(dir.path() / "local", dir.path() / "remote", images);
}

TEST_CASE("a node killed at any moment loses no image and never hangs the "
          "run",
          "[distributed]") {
  // Issue 30: a proxy that heard of its node's loss while idle quit, and a
  // job sent to it meanwhile (even one just given back by another proxy of
  // that node) vanished: the run waited for it for ever. Kill node a at a
  // random point of several runs; each must finish with every output once.
  temp_dir dir;
  const int images = 40;
  make_inputs(dir.path() / "in", images);
  std::mt19937 rng{std::random_device{}()};
  int mid_run = 0;
  for (int round = 0; round < 5; ++round) {
    auto sub = dir.path() / fmt::format("round{}", round);
    fs::create_directories(sub);
    node a{sub / "a.log"};
    node b{sub / "b.log"};
    auto config = sub / "c.toml";
    write_file(config, fmt::format(R"([source]
path = "{0}/in"
workers = {{ local = 1, a = 3, b = 1 }}
[[filter]]
type = "resize"
width = 200
workers = {{ a = 4, b = 1 }}
[[filter]]
type = "sharpen"
workers = {{ a = 4, b = 1 }}
[sink]
path = "{1}/out"
format = "jpeg"
workers = {{ local = 1, a = 3, b = 1 }}
)",
                                   dir.path().string(), sub.string())
                         + nodes_toml({{"a", &a}, {"b", &b}}));
    auto events = sub / "events.jsonl";
    child_process run{{pixline_binary(), "run", config.string(), "--events",
                       events.string()},
                      sub / "run.log"};
    // After 1 to 20 outputs and a few more milliseconds: anywhere from the
    // first images to the middle of the run.
    auto outputs = std::uniform_int_distribution<size_t>{1, 20}(rng);
    auto pause = std::uniform_int_distribution<int>{0, 150}(rng);
    REQUIRE(wait_for_written(events, outputs));
    std::this_thread::sleep_for(std::chrono::milliseconds(pause));
    if (written_outputs(events).size() < size_t(images))
      ++mid_run;
    a.kill();
    auto status = ended_within(run, 60);
    auto log = read_file(sub / "run.log");
    INFO("round " << round << ", killed after " << outputs << " outputs + "
                  << pause << " ms\n"
                  << log);
    if (!status)
      FAIL("the run was still going 60 s after node a was killed");
    CHECK(*status == 0);
    check_each_written_once(events, images);
    CHECK(files_in(sub / "out").size() == size_t(images));
  }
  // The kills did land in the middle of runs.
  CHECK(mid_run >= 3);
}

TEST_CASE("an image lost on nodes three times is not sent to a node again",
          "[distributed]") {
  // Issue 30: an image a node can never finish (one that takes longer to
  // send than the node's connection timeout) was sent again for ever. Here
  // every attempt exceeds the node's timeout of 1 s.
  temp_dir dir;
  make_inputs(dir.path() / "in", 1);
  node a{dir.path() / "a.log"};
  write_file(dir.path() / "c.toml",
             slow_pipeline(dir.path(), 2500, "{ a = 4 }")
               + nodes_toml({{"a", &a}}, "timeout = 1"));
  child_process run{{pixline_binary(), "run", (dir.path() / "c.toml").string()},
                    dir.path() / "run.log"};
  auto status = ended_within(run, 20);
  auto log = read_file(dir.path() / "run.log");
  INFO(log);
  REQUIRE(status);
  // No local worker: the image fails, naming why, instead of waiting.
  CHECK(*status == 1);
  CHECK_THAT(log, Catch::Contains("lost on nodes 3 times (the last time: "
                                  "node a: nothing from the node for its "
                                  "timeout (1 s)); not sent again"));
}

TEST_CASE("a node that stops answering (half-open connection) is given up "
          "by heartbeat",
          "[distributed]") {
  temp_dir dir;
  const int images = 24;
  node a{dir.path() / "a.log"};
  node b{dir.path() / "b.log"};
  auto events = dir.path() / "events.jsonl";
  auto run = start_slow_run(dir.path(), images, 100, a, b);
  REQUIRE(wait_for_written(events, 2));
  // A stopped process keeps its TCP connection open but says nothing: only
  // the missing heartbeats tell.
  a.signal(SIGSTOP);
  auto lost = "node a (" + a.address() + ") lost";
  CHECK(wait_for_line(dir.path() / "run.log", lost));
  // Awake again, so the coordinator's reconnect attempt gets an answer
  // (see docs/distributed.md on connecting to a host that is gone).
  a.signal(SIGCONT);
  int status = run->wait();
  auto log = read_file(dir.path() / "run.log");
  INFO(log);
  CHECK(status == 0);
  check_each_written_once(events, images);
}

TEST_CASE("a node silent for less than its connection_timeout is not given "
          "up",
          "[distributed]") {
  // A message counts as a sign of life only once its last byte arrived, so
  // on a slow link the timeout must exceed the longest transfer: here a
  // node is silent for 7 s, more than the default 5 s.
  temp_dir dir;
  const int images = 12;
  make_inputs(dir.path() / "in", images);
  node a{dir.path() / "a.log", {"--connection-timeout", "20"}};
  write_file(dir.path() / "c.toml",
             slow_pipeline(dir.path(), 100, "{ local = 1, a = 2 }")
               + nodes_toml({{"a", &a}}, "connection_timeout = 20"));
  auto events = dir.path() / "events.jsonl";
  child_process run{{pixline_binary(), "run", (dir.path() / "c.toml").string(),
                     "--events", events.string()},
                    dir.path() / "run.log"};
  REQUIRE(wait_for_written(events, 2));
  a.signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::seconds(7));
  a.signal(SIGCONT);
  auto status = ended_within(run, 60);
  auto log = read_file(dir.path() / "run.log");
  INFO(log);
  REQUIRE(status);
  CHECK(*status == 0);
  check_each_written_once(events, images);
  CHECK_THAT(log, !Catch::Contains("lost"));
}

TEST_CASE("a node that cannot be reached at the start fails the run with "
          "its name",
          "[distributed]") {
  temp_dir dir;
  make_inputs(dir.path() / "in", 1);
  int port = 0;
  {
    node gone{dir.path() / "gone.log"};
    port = gone.port();
    gone.kill();
  }
  write_file(dir.path() / "c.toml",
             fmt::format(R"([source]
path = "{0}/in"
workers = {{ x = 1 }}
[sink]
path = "{0}/out"
[[node]]
name = "x"
address = "127.0.0.1:{1}"
)",
                         dir.path().string(), port));
  auto r = run_pixline("run " + (dir.path() / "c.toml").string());
  INFO(r.output);
  CHECK(r.status == 4);
  CHECK_THAT(r.output, Catch::Contains(fmt::format(
                         "node x (127.0.0.1:{}): cannot connect: connection "
                         "refused",
                         port)));
  // In plain words, not CAF's error dump.
  CHECK_THAT(r.output, !Catch::Contains("system_error"));
}

TEST_CASE("validate warns of a node host that does not resolve, and a node "
          "needs TLS or --insecure beyond loopback",
          "[distributed]") {
  temp_dir dir;
  write_file(dir.path() / "c.toml", fmt::format(R"([source]
path = "{0}/in"
workers = {{ a = 1 }}
[sink]
path = "{0}/out"
[[node]]
name = "a"
address = "nod-a.invalid:7400"
)",
                                               dir.path().string()));
  auto r = run_pixline("validate " + (dir.path() / "c.toml").string());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("warning: " + (dir.path() / "c.toml").string()
                                       + ":6: [[node]] \"a\": cannot resolve "
                                         "the host name \"nod-a.invalid\""));
  auto node = run_pixline("node --listen 0.0.0.0:0");
  INFO(node.output);
  CHECK(node.status == 2);
  CHECK_THAT(node.output, Catch::Contains("needs TLS")
                            && Catch::Contains("--insecure"));
}

namespace {

/// A CA and certificates it signed, made with the commands of the recipe
/// in docs/distributed.md.
struct certificates {
  explicit certificates(const fs::path& dir) : dir(dir) {
    ca("ca");
    ca("rogue");
    signed_by("node", "ca");
    signed_by("coordinator", "ca");
    signed_by("intruder", "rogue");
  }
  void ca(const std::string& name) {
    REQUIRE(run_command(fmt::format(
              "cd {} && openssl req -x509 -newkey rsa:2048 -nodes -days 365 "
              "-keyout {}.key -out {}.pem -subj /CN={} 2>&1",
              dir.string(), name, name, name))
            == 0);
  }
  void signed_by(const std::string& name, const std::string& issuer) {
    REQUIRE(run_command(fmt::format(
              "cd {0} && openssl req -newkey rsa:2048 -nodes -keyout {1}.key "
              "-out {1}.csr -subj /CN={1} 2>&1 && openssl x509 -req -in "
              "{1}.csr -CA {2}.pem -CAkey {2}.key -CAcreateserial -days 365 "
              "-out {1}.pem 2>&1",
              dir.string(), name, issuer))
            == 0);
  }
  std::string pem(const std::string& name) const {
    return (dir / (name + ".pem")).string();
  }
  std::string key(const std::string& name) const {
    return (dir / (name + ".key")).string();
  }
  /// `pixline node` options for a node with the certificate "node".
  std::vector<std::string> node_options() const {
    return {"--tls-cert", pem("node"), "--tls-key", key("node"), "--tls-ca",
            pem("ca")};
  }
  fs::path dir;
};

/// A config in `dir` that reads DIR/in and writes DIR/OUT with two workers
/// on node a at `address`, as the coordinator `who` of `certs`; returns its
/// path.
std::string tls_config(const fs::path& dir, const std::string& out,
                       const std::string& address, const certificates& certs,
                       const std::string& who, bool tls,
                       const std::string& ca = "ca") {
  auto path = dir / (out + ".toml");
  write_file(path, fmt::format(R"([source]
path = "{0}/in"
[sink]
path = "{0}/{1}"
workers = {{ a = 2 }}
[[node]]
name = "a"
address = "{2}"
tls = {3}
[tls]
certificate = "{4}"
key = "{5}"
ca = "{6}"
)",
                               dir.string(), out, address, tls,
                               certs.pem(who), certs.key(who),
                               certs.pem(ca)));
  return path.string();
}

} // namespace

TEST_CASE("with TLS a node serves peers the CA signed and rejects others",
          "[distributed]") {
  temp_dir dir;
  make_inputs(dir.path() / "in", 3);
  certificates certs{dir.path()};
  node a{dir.path() / "a.log", certs.node_options()};
  CHECK_THAT(a.log(), Catch::Contains("TLS"));
  auto config = [&](const std::string& out, const std::string& who,
                    bool tls) {
    return tls_config(dir.path(), out, a.address(), certs, who, tls);
  };
  SECTION("a coordinator whose certificate the CA signed") {
    auto r = run_pixline("run " + config("good", "coordinator", true));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(files_in(dir.path() / "good").size() == 3);
    CHECK_THAT(a.log(), Catch::Contains("started 2 workers"));
  }
  SECTION("a coordinator with a certificate from another CA") {
    auto r = run_pixline("run " + config("rogue", "intruder", true));
    INFO(r.output);
    CHECK(r.status == 4);
    CHECK_THAT(r.output, Catch::Contains("node a (" + a.address()
                                         + "): cannot connect: TLS handshake "
                                           "failed: the node does not trust "
                                           "this coordinator's certificate"));
    CHECK(!fs::exists(dir.path() / "rogue"));
    // The node says so too.
    CHECK_THAT(a.log(), Catch::Contains("refused a TLS handshake from "
                                        "127.0.0.1:")
                          && Catch::Contains("its certificate: unable to get "
                                             "local issuer certificate"));
    CHECK_THAT(a.log(), !Catch::Contains("started"));
  }
  SECTION("a coordinator that does not trust the node's CA") {
    auto r = run_pixline("run " + tls_config(dir.path(), "distrust", a.address(),
                                             certs, "coordinator", true,
                                             "rogue"));
    INFO(r.output);
    CHECK(r.status == 4);
    CHECK_THAT(r.output, Catch::Contains("TLS handshake failed: this "
                                         "coordinator does not trust the "
                                         "node's certificate"));
    CHECK_THAT(a.log(), !Catch::Contains("started"));
    CHECK_THAT(a.log(), Catch::Contains("it refused this node's certificate"));
  }
  SECTION("a coordinator with TLS and a node without") {
    node plain{dir.path() / "plain.log"};
    auto r = run_pixline("run " + tls_config(dir.path(), "tls", plain.address(),
                                             certs, "coordinator", true));
    INFO(r.output);
    CHECK(r.status == 4);
    CHECK_THAT(r.output, Catch::Contains("does it use TLS?"));
  }
  SECTION("a coordinator without TLS") {
    auto r = run_pixline("run " + config("plain", "coordinator", false));
    INFO(r.output);
    CHECK(r.status == 4);
    CHECK_THAT(r.output, Catch::Contains("node a (" + a.address()
                                         + "): cannot connect: the node closed "
                                           "the connection during the "
                                           "handshake: it probably requires "
                                           "TLS"));
    CHECK_THAT(a.log(), Catch::Contains("it does not speak TLS"));
    CHECK_THAT(a.log(), !Catch::Contains("started"));
  }
}

namespace {

/// A network namespace joined to this one by a veth pair: this side
/// 10.230.N.1, the namespace 10.230.N.2. `cut()` makes the namespace drop
/// every packet it would send here (a blackhole route), so this side's
/// connections to it go silent with unacknowledged data and new connection
/// attempts get no answer: a host gone from the network, as far as TCP can
/// tell. Needs root (CI runs as root).
class namespace_link {
public:
  namespace_link() {
    auto id = ::getpid() % 250;
    name_ = fmt::format("pxl30-{}", ::getpid());
    host_if_ = fmt::format("px30h{}", ::getpid() % 100000);
    here_ = fmt::format("10.230.{}.1", id);
    there_ = fmt::format("10.230.{}.2", id);
    std::string out;
    int rc = run_command(
      fmt::format("ip netns add {0} && ip link add {1} type veth peer name "
                  "px30n netns {0} && ip addr add {2}/24 dev {1} && ip link "
                  "set {1} up && ip netns exec {0} ip addr add {3}/24 dev "
                  "px30n && ip netns exec {0} ip link set px30n up && ip netns "
                  "exec {0} ip link set lo up 2>&1",
                  name_, host_if_, here_, there_),
      &out);
    INFO(out);
    REQUIRE(rc == 0); // root and iproute2 are needed (scripts/install-deps.sh)
  }
  ~namespace_link() {
    run_command(fmt::format("ip link del {} 2>/dev/null; ip netns del {} "
                            "2>/dev/null",
                            host_if_, name_));
  }
  namespace_link(const namespace_link&) = delete;
  namespace_link& operator=(const namespace_link&) = delete;

  /// Limits both directions of the link to `mbit` Mbit/s (tc tbf; this
  /// kernel has no netem).
  void limit(int mbit) {
    for (auto& [prefix, dev] :
         std::vector<std::pair<std::string, std::string>>{
           {"", host_if_}, {fmt::format("ip netns exec {} ", name_), "px30n"}})
      REQUIRE(run_command(fmt::format("{}tc qdisc add dev {} root tbf rate "
                                      "{}mbit burst 64kb latency 400ms",
                                      prefix, dev, mbit))
              == 0);
  }
  void cut() {
    REQUIRE(run_command(fmt::format("ip netns exec {} ip route add blackhole "
                                    "{}/32",
                                    name_, here_))
            == 0);
  }
  /// `args` as a command that runs them inside the namespace.
  std::vector<std::string> inside(std::vector<std::string> args) const {
    std::string ip;
    REQUIRE(run_command("command -v ip", &ip) == 0);
    ip.erase(ip.find_last_not_of(" \n") + 1);
    args.insert(args.begin(), {ip, "netns", "exec", name_});
    return args;
  }
  const std::string& there() const {
    return there_;
  }
  /// A `pixline node` inside the namespace on port 7400, logging to `log`.
  std::unique_ptr<child_process> start_node(const fs::path& log) const {
    auto node = std::make_unique<child_process>(
      inside({pixline_binary(), "--plugin", slow_plugin(), "node", "--listen",
              there_ + ":7400", "--insecure"}),
      log);
    REQUIRE(wait_for_line(log, "listening on"));
    return node;
  }

private:
  std::string name_, host_if_, here_, there_;
};

/// `count` PNGs of `width` x `height` in `in` (big0.png, ...).
void big_inputs(const fs::path& in, int count, int width, int height) {
  fs::create_directories(in);
  for (int i = 0; i < count; ++i)
    save(test_card(width, height), in / fmt::format("big{}.png", i));
}

/// Time of the moment the --events file first lists `n` written outputs.
std::optional<std::chrono::steady_clock::time_point>
when_written(const fs::path& events, size_t n, double seconds) {
  if (!wait_until(
        [&] {
          return fs::exists(events) && written_outputs(events).size() >= n;
        },
        seconds))
    return std::nullopt;
  return std::chrono::steady_clock::now();
}

} // namespace

TEST_CASE("a run whose node's link is cut exits within 10 s of its last "
          "output, and a node that drops packets fails the start in time",
          "[distributed][netns]") {
  temp_dir dir;
  // Big enough (18 MB of raw pixels each) that an image sent after the cut
  // does not fit in the kernel's send buffer: CAF keeps the rest and, when
  // stopping, waits to send it (issue 30: up to 987 s).
  const int images = 4;
  big_inputs(dir.path() / "in", images, 3000, 2000);
  namespace_link link;
  auto node_process = link.start_node(dir.path() / "n.log");
  auto config = dir.path() / "c.toml";
  write_file(config, slow_pipeline(dir.path(), 100, "{ local = 1, n = 2 }")
                       + fmt::format(R"([[node]]
name = "n"
address = "{}:7400"
connect_timeout = 2
)",
                                     link.there()));
  auto events = dir.path() / "events.jsonl";
  child_process run{{pixline_binary(), "run", config.string(), "--events",
                     events.string()},
                    dir.path() / "run.log"};
  // Cut as soon as the node has its workers: the first images are still
  // being decoded here, so they go out into the cut link.
  REQUIRE(wait_for_line(dir.path() / "n.log", "started"));
  link.cut();
  auto last = when_written(events, images, 60);
  auto log = [&] { return read_file(dir.path() / "run.log"); };
  INFO(log());
  REQUIRE(last);
  auto status = ended_within(run, 10);
  INFO(log());
  REQUIRE(status);
  CHECK(std::chrono::steady_clock::now() - *last < std::chrono::seconds(10));
  CHECK(*status == 0);
  check_each_written_once(events, images);
  CHECK_THAT(log(), Catch::Contains("node n (" + link.there() + ":7400) lost"));

  // The same node at the start of a run: no answer to the connection, so
  // the run stops after connect_timeout, naming the node, with exit code 4.
  auto started = std::chrono::steady_clock::now();
  auto again = run_pixline("run " + config.string());
  INFO(again.output);
  CHECK(again.status == 4);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  CHECK_THAT(again.output,
             Catch::Contains("node n (" + link.there()
                             + ":7400): cannot connect: no answer within 2 s"));
}

namespace {

/// Opens `count` connections to a node on loopback, each opening with a CAF
/// protocol header (32 bytes, big-endian): a client handshake announcing a
/// 512 MiB payload, or (`message`) a message to actor 1 announcing as
/// much. CAF alone would allocate that much for each.
std::vector<int> forged_handshakes(int port, int count, bool message = false) {
  std::vector<int> sockets;
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockets.push_back(fd);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(std::uint16_t(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    unsigned char header[32] = {0x01, 0, 0, 0, 0x20, 0x00, 0x00, 0x00};
    if (message) {
      header[0] = 0x02;
      header[31] = 1;
    }
    REQUIRE(::send(fd, header, sizeof header, MSG_NOSIGNAL) == 32);
  }
  return sockets;
}

/// True when the peer of `fd` closes the connection within 5 s (what it
/// sent before is read and dropped).
bool closed_by_peer(int fd) {
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0)
      return true;
    if (n < 0)
      return errno == ECONNRESET;
  }
}

} // namespace

TEST_CASE("a forged message header cannot make a node without TLS "
          "allocate memory before CAF's handshake",
          "[distributed]") {
  temp_dir dir;
  make_inputs(dir.path() / "in", 2);
  node a{dir.path() / "a.log"};
  auto before = a.rss_kib();
  REQUIRE(before > 0);
  auto sockets = forged_handshakes(a.port(), 4);
  auto messages = forged_handshakes(a.port(), 2, true);
  sockets.insert(sockets.end(), messages.begin(), messages.end());
  // The node closes each connection at once rather than wait for 512 MiB.
  for (int fd : sockets)
    CHECK(closed_by_peer(fd));
  auto after = a.rss_kib();
  for (int fd : sockets)
    ::close(fd);
  INFO("RSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after - before < 4 * 1024);
  INFO(a.log());
  CHECK_THAT(a.log(),
             Catch::Contains("refused a connection from 127.0.0.1:")
               && Catch::Contains("its handshake announces a payload of "
                                  "536870912 bytes (at most 1048576)"));
  // And the node still serves its coordinators.
  write_file(dir.path() / "c.toml",
             fmt::format(R"([source]
path = "{0}/in"
[[filter]]
type = "sharpen"
workers = {{ a = 1 }}
[sink]
path = "{0}/out"
format = "png"
)",
                         dir.path().string())
               + nodes_toml({{"a", &a}}));
  auto r = run_pixline("run " + (dir.path() / "c.toml").string());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(files_in(dir.path() / "out").size() == 2);
}

TEST_CASE("images larger than a slow link carries within the connection "
          "timeout go through, near the link's rate",
          "[distributed][netns]") {
  // Raw pixels both ways, 13.5 MB each (3000 x 1500 x 3), over 20 Mbit/s:
  // 5.4 s per message, more than the connection timeout (5 s). Sent whole,
  // the node dropped the coordinator each time and the image went round
  // for ever (issue 30).
  temp_dir dir;
  const int images = 2;
  big_inputs(dir.path() / "in", images, 3000, 1500);
  namespace_link link;
  const int mbit = 20;
  link.limit(mbit);
  auto node_process = link.start_node(dir.path() / "n.log");
  auto config = dir.path() / "c.toml";
  write_file(config, slow_pipeline(dir.path(), 0, "{ n = 1 }")
                       + fmt::format("[[node]]\nname = \"n\"\naddress = "
                                     "\"{}:7400\"\n",
                                     link.there()));
  auto events = dir.path() / "events.jsonl";
  auto started = std::chrono::steady_clock::now();
  child_process run{{pixline_binary(), "run", config.string(), "--events",
                     events.string()},
                    dir.path() / "run.log"};
  auto status = ended_within(run, 120);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - started)
                .count();
  auto log = read_file(dir.path() / "run.log");
  INFO(log << read_file(dir.path() / "n.log"));
  REQUIRE(status);
  CHECK(*status == 0);
  check_each_written_once(events, images);
  CHECK_THAT(log, !Catch::Contains("lost"));
  // What the link can carry for those bytes: each image there and back.
  double bytes = images * 2 * 3000.0 * 1500 * 3;
  double link_seconds = bytes * 8 / (mbit * 1e6);
  WARN(fmt::format("{:.1f} MB over {} Mbit/s in {:.1f} s: {:.0f}% of the "
                   "link's rate (the run's start and the local decode and "
                   "encode included)",
                   bytes / 1e6, mbit, took, 100 * link_seconds / took));
  CHECK(link_seconds / took >= 0.7);
}

TEST_CASE("a forged message header cannot make a TLS node allocate memory "
          "before the TLS handshake",
          "[distributed]") {
  temp_dir dir;
  make_inputs(dir.path() / "in", 2);
  certificates certs{dir.path()};
  node a{dir.path() / "a.log", certs.node_options()};
  auto before = a.rss_kib();
  REQUIRE(before > 0);
  auto sockets = forged_handshakes(a.port(), 4);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto after = a.rss_kib();
  for (int fd : sockets)
    ::close(fd);
  INFO("RSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after - before < 4 * 1024);
  // And the node still serves its coordinator.
  auto r = run_pixline(
    "run " + tls_config(dir.path(), "out", a.address(), certs, "coordinator",
                        true));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(files_in(dir.path() / "out").size() == 2);
}

TEST_CASE("a stage that crashes on a node fails its image only and the node "
          "keeps serving",
          "[distributed][isolation]") {
  // Nodes run each worker's stage in a sandboxed worker process too
  // (--isolation process, the default).
  temp_dir dir;
  auto poison = fmt::format("{}/libplugin_poison.so", PIXLINE_TEST_PLUGIN_DIR);
  fs::create_directories(dir.path() / "in");
  for (int i = 0; i < 3; ++i)
    save(test_card(64, 48), dir.path() / "in" / fmt::format("good{}.jpg", i));
  save(test_card(64, 48), dir.path() / "in" / "poison-abort.jpg");
  node a{dir.path() / "a.log", {"--plugin", poison}};
  write_file(dir.path() / "c.toml",
             fmt::format(R"(
[source]
path = "{in}"

[[filter]]
type = "poison"
workers = {{ a = 2 }}

[sink]
path = "{out}"
format = "png"
)",
                         fmt::arg("in", (dir.path() / "in").string()),
                         fmt::arg("out", (dir.path() / "out").string()))
               + nodes_toml({{"a", &a}}));
  child_process run{{pixline_binary(), "--plugin", poison, "run",
                     (dir.path() / "c.toml").string(), "--events",
                     (dir.path() / "events.jsonl").string()},
                    dir.path() / "run.log"};
  auto status = ended_within(run, 30);
  auto log = read_file(dir.path() / "run.log");
  INFO(log << a.log());
  REQUIRE(status);
  CHECK(*status == 1);
  CHECK(files_in(dir.path() / "out").size() == 3);
  CHECK_THAT(log, Catch::Contains("poison-abort.jpg: failed in stage 'poison': "
                                  "worker crashed (SIGABRT) in poison"));
  // The node survived and still serves: a second run uses it again.
  fs::remove(dir.path() / "in" / "poison-abort.jpg");
  fs::remove_all(dir.path() / "out");
  child_process again{{pixline_binary(), "--plugin", poison, "run",
                       (dir.path() / "c.toml").string()},
                      dir.path() / "again.log"};
  auto second = ended_within(again, 30);
  REQUIRE(second);
  CHECK(*second == 0);
  CHECK(files_in(dir.path() / "out").size() == 3);
}

TEST_CASE("over a link with 50 ms RTT and 1 % loss a run moves its images "
          "near the rate plain TCP gets on the same link",
          "[distributed][netns]") {
  // The coordinator in one namespace, a node in the other, 25 ms each way
  // and 1 % of the packets lost each way, CUBIC (the Linux default; this
  // machine's may differ, so the link sets it). With the images sent
  // whole, a 13.5 MB one outlasted the connection timeout and went round
  // for ever (issue 30: 0 of 10 in 150 s).
  temp_dir dir;
  lossy_link link{dir.path(), 25, 0.01};

  // The link alone: round trips, loss, and what a plain TCP connection
  // carries on it: the rate the run is held to.
  auto ping = link.ping();
  std::smatch m;
  REQUIRE(std::regex_search(ping, m,
                            std::regex{"500 sent, ([0-9]+) answered, round "
                                       "trip min [0-9.]+ median ([0-9.]+)"}));
  INFO(ping);
  CHECK(std::stoi(m[1].str()) >= 475); // 2 % expected (1 % each way)
  CHECK(std::stoi(m[1].str()) < 500);
  CHECK(std::stod(m[2].str()) >= 50);
  CHECK(std::stod(m[2].str()) < 60);
  const std::uint64_t baseline_bytes = 4'000'000;
  auto baseline = link.send(baseline_bytes);
  INFO(baseline.report);
  CHECK_THAT(baseline.report, Catch::Contains("(cubic,"));
  double link_rate = baseline_bytes / baseline.seconds;

  // One big image (13.5 MB of raw pixels on the wire) and three small
  // ones, resized to a quarter on the node.
  auto in = dir.path() / "in";
  big_inputs(in, 1, 3000, 1500);
  make_inputs(in, 3);
  auto pipeline = [&](const std::string& out, const std::string& workers) {
    return fmt::format(R"([source]
path = "{0}"
[[filter]]
type = "resize"
scale = 0.25
workers = {2}
[sink]
path = "{1}"
format = "png"
)",
                       in.string(), (dir.path() / out).string(), workers);
  };
  write_file(dir.path() / "local.toml", pipeline("local", "1"));
  auto local = run_pixline("run -q " + (dir.path() / "local.toml").string());
  INFO(local.output);
  REQUIRE(local.status == 0);

  child_process node_process{
    link.in_b({pixline_binary(), "node", "--listen", link.b() + ":7400",
               "--insecure"}),
    dir.path() / "n.log"};
  REQUIRE(wait_for_line(dir.path() / "n.log", "listening on"));
  auto config = dir.path() / "remote.toml";
  write_file(config, pipeline("remote", "{ n = 1 }")
                       + fmt::format("[[node]]\nname = \"n\"\naddress = "
                                     "\"{}:7400\"\n"
                                     // Far below the ~35 s the big image
                                     // takes to cross: the node's timeout
                                     // is a silence limit, and a transfer
                                     // that moves is not silence.
                                     "timeout = 10\n",
                                     link.b()));
  auto events = dir.path() / "events.jsonl";
  auto before = link.bytes();
  auto started = std::chrono::steady_clock::now();
  child_process run{link.in_a({pixline_binary(), "run", config.string(),
                               "--events", events.string()}),
                    dir.path() / "run.log"};
  auto status = ended_within(run, 100);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - started)
                .count();
  auto after = link.bytes();
  auto log = read_file(dir.path() / "run.log");
  INFO(log << read_file(dir.path() / "n.log"));
  REQUIRE(status);
  CHECK(*status == 0);
  check_each_written_once(events, 4);
  check_same_files(dir.path() / "local", dir.path() / "remote", 4);
  // The heartbeats got through the big transfers: no node taken for lost,
  // no image sent again.
  CHECK_THAT(log, !Catch::Contains("lost"));
  CHECK_THAT(read_file(events), !Catch::Contains("lost"));
  // The node served one connection from start to end.
  auto node_log = read_file(dir.path() / "n.log");
  auto first = node_log.find("started 1 workers for a coordinator");
  CHECK(first != std::string::npos);
  CHECK(node_log.find("started", first + 1) == std::string::npos);
  CHECK(node_log.find("coordinator gone") == node_log.rfind("coordinator gone"));

  // The bytes the run had to move: each input's pixels to the node and the
  // resized pixels back.
  double payload = 0;
  for (auto& f : files_in(in)) {
    auto img = vips::VImage::new_from_file((in / f).c_str());
    payload += double(img.width()) * img.height() * img.bands();
  }
  for (auto& f : files_in(dir.path() / "local")) {
    auto img = vips::VImage::new_from_file((dir.path() / "local" / f).c_str());
    payload += double(img.width()) * img.height() * img.bands();
  }
  double on_link = double(after.a_to_b - before.a_to_b)
                   + double(after.b_to_a - before.b_to_a);
  double run_rate = payload / took;
  WARN(fmt::format(
    "link: {}; plain TCP: {} ({:.2f} Mbit/s); the run: {:.1f} MB of "
    "pixels in {:.1f} s ({:.2f} Mbit/s, {:.0f}% of plain TCP, the run's "
    "start and the local decode and encode included), {:.1f} MB on the "
    "link (TCP/IP headers, acknowledgements and retransmissions included)",
    ping, baseline.report, link_rate * 8 / 1e6, payload / 1e6, took,
    run_rate * 8 / 1e6, 100 * run_rate / link_rate, on_link / 1e6));
  CHECK(run_rate >= 0.7 * link_rate);
  // Nothing went twice: the link carried the pixels and little more.
  CHECK(on_link < 1.2 * payload);

  // The forwarder lost about 1 % of the packets each way.
  auto directions = link.stop();
  for (auto& d : directions) {
    INFO(d.packets << " packets, " << d.dropped << " dropped");
    CHECK(d.packets > 1000);
    CHECK(d.dropped > 0.005 * d.packets);
    CHECK(d.dropped < 0.015 * d.packets);
  }
}
