// The metrics endpoint as Prometheus would see it: a real `pixline watch
// --metrics` scraped over HTTP while images land in its folder.

#include <csignal>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;

namespace {

std::string watch_config(const fs::path& dir) {
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
width = 24

[sink]
path = "{out}"
format = "png"
)",
                     fmt::arg("in", (dir / "in").string()),
                     fmt::arg("out", (dir / "out").string()),
                     fmt::arg("state", (dir / "state").string()));
}

/// The value of the sample written exactly as `series`, or "" when the
/// scrape failed or has no such line.
std::string scrape(int port, const std::string& series) {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(2);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200)
    return {};
  auto& body = res->body;
  auto at = body.find("\n" + series + " ");
  if (at == std::string::npos)
    return {};
  auto begin = at + series.size() + 2;
  return body.substr(begin, body.find('\n', begin) - begin);
}

/// A loopback port nobody listens on now.
int unused_port() {
  port_holder free_port;
  return free_port.port();
}

int health(int port) {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(2);
  auto res = client.Get("/readyz");
  return res ? res->status : -1;
}

} // namespace

TEST_CASE("pixline watch --metrics serves counts that match the images",
          "[metrics][watch]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  int port = unused_port();
  child_process proc{{pixline_binary(), "watch", (dir / "watch.toml").string(),
                      "--metrics", fmt::format("127.0.0.1:{}", port)},
                     dir / "pixline.log"};
  REQUIRE(wait_until([&] { return health(port) == 200; }, 20));

  {
    httplib::Client client{"127.0.0.1", port};
    auto res = client.Get("/metrics");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK_THAT(res->get_header_value("Content-Type"),
               Catch::StartsWith("text/plain; version=0.0.4"));
    CHECK_THAT(res->body,
               Catch::Contains("# TYPE pixline_images_out_total counter"));
    auto hz = client.Get("/healthz");
    REQUIRE(hz);
    CHECK(hz->body == "ok\n");
  }
  CHECK(scrape(port, R"(pixline_images_out_total{stage="save"})") == "0");

  const int images = 6;
  for (int i = 0; i < images; ++i) {
    // Written aside and renamed in, as careful writers do.
    save(test_card(64 + i, 48), dir / fmt::format("staged{}.png", i));
    fs::rename(dir / fmt::format("staged{}.png", i),
               dir / "in" / fmt::format("img{}.png", i));
  }
  write_file(dir / "in" / "junk.png", "this is not a png");
  REQUIRE(wait_until([&] { return files_in(dir / "out").size() == images; },
                     30));
  auto count = [&](const std::string& family, const std::string& stage) {
    return scrape(port, family + "{stage=\"" + stage + "\"}");
  };
  CHECK(wait_until(
    [&] {
      return count("pixline_images_out_total", "save")
               == std::to_string(images)
             && scrape(port, "pixline_images_in_flight") == "0";
    },
    20));
  CHECK(count("pixline_images_in_total", "load") == std::to_string(images + 1));
  CHECK(count("pixline_images_failed_total", "load") == "1");
  CHECK(count("pixline_images_out_total", "resize") == std::to_string(images));
  CHECK(count("pixline_images_in_total", "save") == std::to_string(images));
  CHECK(count("pixline_images_failed_total", "save") == "0");
  CHECK(count("pixline_stage_queue_depth", "save") == "0");
  CHECK(std::stod(count("pixline_stage_busy_seconds_total", "save")) > 0);
  CHECK(scrape(port, "pixline_image_latency_seconds_count")
        == std::to_string(images + 1));
  CHECK(scrape(port, R"(pixline_images_finished_total{outcome="written"})")
        == std::to_string(images));
  CHECK(scrape(port, "pixline_images_in_flight_budget") == "4");
  // Bytes, from the files themselves; nothing is waiting in the folder.
  std::uintmax_t read = 0, written = 0;
  for (auto& f : files_in(dir / "in"))
    read += fs::file_size(dir / "in" / f);
  for (auto& f : files_in(dir / "out"))
    written += fs::file_size(dir / "out" / f);
  CHECK(scrape(port, "pixline_input_bytes_total") == std::to_string(read));
  CHECK(scrape(port, "pixline_output_bytes_total") == std::to_string(written));
  CHECK(scrape(port, "pixline_watch_backlog_files") == "0");

  proc.signal(SIGTERM);
  CHECK(proc.wait() == 0);
  CHECK(health(port) == -1); // the server is gone with the process
}

TEST_CASE("a metrics port already taken is a startup error naming it",
          "[metrics]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  port_holder taken{true};
  auto address = fmt::format("127.0.0.1:{}", taken.port());
  child_process proc{{pixline_binary(), "watch", (dir / "watch.toml").string(),
                      "--metrics", address},
                     dir / "pixline.log"};
  CHECK(proc.wait() == 2);
  auto log = read_file(dir / "pixline.log");
  CHECK_THAT(log, Catch::Contains("--metrics " + address)
                    && Catch::Contains("cannot listen"));
  CHECK(files_in(dir / "out").empty());
}

TEST_CASE("two pixline processes cannot share one metrics port",
          "[metrics]") {
  // cpp-httplib binds with SO_REUSEPORT by default: a second watch then
  // bound the same port and Linux split the scrapes between the two.
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  int port = unused_port();
  auto address = fmt::format("127.0.0.1:{}", port);
  child_process first{{pixline_binary(), "watch",
                       (dir / "watch.toml").string(), "--metrics", address},
                      dir / "first.log"};
  REQUIRE(wait_until([&] { return health(port) == 200; }, 20));
  fs::create_directories(dir / "second");
  write_file(dir / "second" / "watch.toml",
             watch_config(dir / "second"));
  fs::create_directories(dir / "second" / "in");
  // `timeout`: a second watch that did bind would never end (status 124).
  child_process second{{"/usr/bin/timeout", "20", pixline_binary(), "watch",
                        (dir / "second" / "watch.toml").string(),
                        "--metrics", address},
                       dir / "second.log"};
  int status = second.wait();
  auto log = read_file(dir / "second.log");
  INFO(log);
  CHECK(status == 2);
  CHECK_THAT(log, Catch::Contains("--metrics " + address)
                    && Catch::Contains("cannot listen"));
  CHECK(health(port) == 200); // the first still serves
  first.signal(SIGTERM);
  CHECK(first.wait() == 0);
}

TEST_CASE("a port another program holds with SO_REUSEPORT is taken too",
          "[metrics]") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  int yes = 1;
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes) == 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  temp_dir dir;
  fs::create_directories(dir / "in");
  write_file(dir / "watch.toml", watch_config(dir.path()));
  child_process proc{{"/usr/bin/timeout", "20", pixline_binary(), "watch",
                      (dir / "watch.toml").string(), "--metrics",
                      fmt::format("127.0.0.1:{}", ntohs(addr.sin_port))},
                     dir / "pixline.log"};
  int status = proc.wait();
  ::close(fd);
  INFO(read_file(dir / "pixline.log"));
  CHECK(status == 2);
}

TEST_CASE("[metrics] in the config starts the endpoint, and a bad address is a "
          "config error",
          "[metrics]") {
  temp_dir dir;
  fs::create_directories(dir / "in");
  save(test_card(40, 30), dir / "in" / "a.png");
  int port = unused_port();
  // A batch run: the endpoint lives as long as the run, which then ends.
  write_file(dir / "run.toml",
             fmt::format("[source]\npath = \"{}\"\n[sink]\npath = \"{}\"\n"
                         "[metrics]\nlisten = \"127.0.0.1:{}\"\n",
                         (dir / "in").string(), (dir / "out").string(), port));
  std::string out;
  CHECK(run_command(fmt::format("'{}' run '{}'", pixline_binary(),
                                (dir / "run.toml").string()),
                    &out)
        == 0);
  CHECK_THAT(out, Catch::Contains(fmt::format("metrics on http://127.0.0.1:{}",
                                              port)));
  CHECK(files_in(dir / "out").size() == 1);

  write_file(dir / "bad.toml", "[sink]\n[metrics]\nlisten = \"localhost\"\n");
  CHECK(run_command(fmt::format("'{}' run '{}' -i '{}'", pixline_binary(),
                                (dir / "bad.toml").string(),
                                (dir / "in").string()),
                    &out)
        == 2);
  CHECK_THAT(out, Catch::Contains("bad.toml:3:10: option 'listen'"));
}
