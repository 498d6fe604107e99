// Stage workers on other nodes, with real processes on loopback: the same
// files as a local run, a node killed mid-run (and restarted), and TLS
// peers checked against the configured CA.

#include <csignal>
#include <regex>
#include <set>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

std::string slow_plugin() {
  return fmt::format("{}/libplugin_slow.so", PIXLINE_TEST_PLUGIN_DIR);
}

/// A `pixline node` on a port of the OS's choosing (or `port`).
class node {
public:
  node(const fs::path& log, std::vector<std::string> extra = {}, int port = 0)
    : log_(log) {
    std::vector<std::string> args{pixline_binary(), "--plugin", slow_plugin(),
                                  "node", "--listen",
                                  fmt::format("127.0.0.1:{}", port)};
    args.insert(args.end(), extra.begin(), extra.end());
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

/// `pixline run` over `images` inputs through a stage taking `ms` per image
/// on nodes a and b (two workers each), writing --events to
/// DIR/events.jsonl and its log to DIR/run.log.
std::unique_ptr<child_process> start_slow_run(const fs::path& dir, int images,
                                              int ms, const node& a,
                                              const node& b,
                                              int metrics_port = 0) {
  make_inputs(dir / "in", images);
  auto config = dir / "c.toml";
  write_file(config, fmt::format(R"(plugins = ["{1}"]
[source]
path = "{0}/in"
[[filter]]
type = "slow"
ms = {2}
workers = {{ a = 2, b = 2 }}
[sink]
path = "{0}/out"
format = "png"
)",
                                 dir.string(), slow_plugin(), ms)
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
  auto files = files_in(dir.path() / "local");
  REQUIRE(files.size() == 18);
  CHECK(files_in(dir.path() / "remote") == files);
  for (auto& f : files) {
    INFO(f);
    CHECK(read_file(dir.path() / "remote" / f)
          == read_file(dir.path() / "local" / f));
  }
  // The work happened on the nodes.
  CHECK_THAT(a.log(), Catch::Contains("started 2 workers"));
  CHECK_THAT(b.log(), Catch::Contains("started 2 workers"));
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
  CHECK(r.status != 0);
  CHECK_THAT(r.output, Catch::Contains(fmt::format(
                         "node x (127.0.0.1:{}): cannot connect", port)));
}

namespace {

/// A CA and certificates it signed, made with the openssl command.
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
              "cd {} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
              "-keyout {}.key -out {}.pem -subj /CN={} 2>&1",
              dir.string(), name, name, name))
            == 0);
  }
  void signed_by(const std::string& name, const std::string& issuer) {
    REQUIRE(run_command(fmt::format(
              "cd {0} && openssl req -newkey rsa:2048 -nodes -keyout {1}.key "
              "-out {1}.csr -subj /CN={1} 2>&1 && openssl x509 -req -in "
              "{1}.csr -CA {2}.pem -CAkey {2}.key -CAcreateserial -days 2 "
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
  fs::path dir;
};

} // namespace

TEST_CASE("with TLS a node serves peers the CA signed and rejects others",
          "[distributed]") {
  temp_dir dir;
  make_inputs(dir.path() / "in", 3);
  certificates certs{dir.path()};
  node a{dir.path() / "a.log",
         {"--tls-cert", certs.pem("node"), "--tls-key", certs.key("node"),
          "--tls-ca", certs.pem("ca")}};
  CHECK_THAT(a.log(), Catch::Contains("TLS"));
  auto config = [&](const std::string& out, const std::string& who,
                    bool tls) {
    auto path = dir.path() / (out + ".toml");
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
                                 dir.path().string(), out, a.address(), tls,
                                 certs.pem(who), certs.key(who),
                                 certs.pem("ca")));
    return path.string();
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
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains("node a (" + a.address() + ")"));
    CHECK(!fs::exists(dir.path() / "rogue"));
    CHECK_THAT(a.log(), !Catch::Contains("started"));
  }
  SECTION("a coordinator without TLS") {
    auto r = run_pixline("run " + config("plain", "coordinator", false));
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK_THAT(a.log(), !Catch::Contains("started"));
  }
}
