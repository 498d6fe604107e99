// The queue source against a real RabbitMQ broker (a private one per test,
// support/broker.hpp): several `pixline run` workers on one queue, killed,
// poisoned, and the broker restarted under them.

#include <atomic>
#include <csignal>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "actors/run/amqp.hpp"
#include "support/broker.hpp"
#include "support/images.hpp"

using namespace pixline::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// A pipeline whose source is `broker`'s queue "work" below `dir`/root;
/// outputs go to root/out (a relative sink path is below the root).
std::string queue_config(const test_broker& broker, const fs::path& dir,
                         const std::string& pipeline_extra = "",
                         const std::string& filters = "") {
  return fmt::format(R"(
[pipeline]
name = "queue-test"
{pipeline}

[source]
kind = "queue"
url = "{url}"
queue = "work"
root = "{root}"
management_url = "{management}"

{filters}
[[filter]]
type = "thumbnail"
width = 8

[sink]
path = "out"
format = "png"
naming = "{{dir}}/{{stem}}.{{ext}}"
)",
                     fmt::arg("pipeline", pipeline_extra),
                     fmt::arg("url", broker.url()),
                     fmt::arg("management", broker.management_url()),
                     fmt::arg("root", (dir / "root").string()),
                     fmt::arg("filters", filters));
}

/// `count` small JPEGs below root/in, spread over a few folders; returns
/// the output names they must get.
std::set<std::string> make_inputs(const fs::path& root, int count,
                                  const std::string& prefix = "img") {
  std::set<std::string> expected;
  auto bytes = [] {
    temp_dir tmp;
    save(test_card(12, 10), tmp / "x.jpg");
    return read_file(tmp / "x.jpg");
  }();
  for (int i = 0; i < count; ++i) {
    auto folder = fmt::format("in/f{}", i % 5);
    fs::create_directories(root / folder);
    auto name = fmt::format("{}{:04}", prefix, i);
    write_file(root / folder / (name + ".jpg"), bytes);
    expected.insert(fmt::format("{}/{}.png", folder, name));
  }
  return expected;
}

/// Output files below `dir`, pixline's hidden temporaries included.
std::vector<std::string> outputs(const fs::path& dir) {
  return files_in(dir);
}

std::set<std::string> output_set(const fs::path& dir) {
  auto files = files_in(dir);
  return {files.begin(), files.end()};
}

std::size_t visible_outputs(const fs::path& dir) {
  std::size_t n = 0;
  for (auto& f : files_in(dir))
    n += fs::path(f).filename().string()[0] != '.';
  return n;
}

struct status {
  long ready = -1;
  long unacked = -1;
  long consumers = -1;
  long dead = -1;
};

/// `pixline queue status`, parsed.
status queue_status(const fs::path& config, const std::string& options = "") {
  auto r = run_pixline(
    fmt::format("{} queue status '{}'", options, config.string()));
  INFO(r.output);
  REQUIRE(r.status == 0);
  status s;
  auto field = [&](const std::string& name) -> long {
    auto at = r.output.find(name + ":");
    if (at == std::string::npos)
      return -1;
    return std::stol(r.output.substr(at + name.size() + 1));
  };
  s.ready = field("ready");
  s.unacked = field("unacknowledged");
  s.consumers = field("consumers");
  s.dead = field("dead-lettered");
  return s;
}

std::unique_ptr<child_process> start_worker(const fs::path& config,
                                            const fs::path& log,
                                            std::vector<std::string> extra
                                            = {}) {
  std::vector<std::string> args{pixline_binary()};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("run");
  args.push_back(config.string());
  return std::make_unique<child_process>(args, log);
}

/// Publishes `body` to the queue as any client could.
void publish_raw(const test_broker& broker, const std::string& body) {
  pixline::amqp_connection conn{pixline::parse_amqp_url(broker.url(), "")};
  conn.declare({"work", "work.dead", 3});
  conn.confirm_select();
  auto seq = conn.publish("work", body);
  for (;;) {
    auto ev = conn.wait(5000ms);
    REQUIRE(ev.kind != pixline::amqp_connection::event::none);
    if (ev.kind == pixline::amqp_connection::event::confirm_ack
        && ev.seq >= seq)
      return;
  }
}

} // namespace

TEST_CASE("queue: 3 workers and 500 images with one worker killed twice "
          "give every input exactly one output",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  auto expected = make_inputs(dir / "root", 500);
  write_file(dir / "q.toml",
             queue_config(broker, dir.path(),
                          "max_in_flight = 4\nisolation = \"thread\""));
  auto enq = run_pixline(fmt::format("enqueue '{}' -r -i '{}'",
                                     (dir / "q.toml").string(),
                                     (dir / "root/in").string()));
  INFO(enq.output);
  REQUIRE(enq.status == 0);
  REQUIRE(enq.output.find("enqueued 500 of 500") != std::string::npos);
  CHECK(queue_status(dir / "q.toml").ready == 500);

  std::vector<std::unique_ptr<child_process>> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(start_worker(dir / "q.toml",
                                   dir / fmt::format("w{}.log", i)));
  auto out = dir / "root/out";
  // Killed with SIGKILL mid-run, twice, and started again each time.
  for (std::size_t at : {100u, 250u}) {
    REQUIRE(wait_until([&] { return visible_outputs(out) >= at; }, 60));
    workers[0]->signal(SIGKILL);
    CHECK(workers[0]->wait() == 128 + SIGKILL);
    workers[0] = start_worker(dir / "q.toml", dir / "w0-again.log");
  }
  REQUIRE(wait_until(
    [&] {
      if (visible_outputs(out) < 500)
        return false;
      auto s = queue_status(dir / "q.toml");
      return s.ready == 0 && s.unacked == 0;
    },
    120));
  // SIGTERM: each finishes what it holds, acknowledges it, exits 0.
  for (auto& w : workers)
    w->signal(SIGTERM);
  for (auto& w : workers)
    CHECK(w->wait_for(30) == 0);

  // The killed worker may leave temporary files of the images it was
  // writing (hidden, never an output); everything else is one output per
  // input.
  std::set<std::string> got;
  for (auto& f : outputs(out)) {
    auto name = fs::path(f).filename().string();
    if (name[0] == '.') {
      INFO(f);
      CHECK(name.rfind(".pixline-", 0) == 0);
      continue;
    }
    got.insert(f);
  }
  CHECK(got == expected);
  auto s = queue_status(dir / "q.toml");
  CHECK(s.ready == 0);
  CHECK(s.unacked == 0);
  CHECK(s.dead == 0);
  CHECK(s.consumers == 0);
}

TEST_CASE("queue: a poison input is dead-lettered after 3 deliveries while "
          "the rest complete",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  auto expected = make_inputs(dir / "root", 30);
  // One that fails every worker it reaches (not an image), one that kills
  // the worker process it runs in (isolation = "thread": the worker is
  // pixline itself), as a decoder crash would.
  write_file(dir / "root/in/f0/broken.jpg", "not a jpeg at all");
  save(test_card(12, 10), dir / "root/in/f1/poison-abort.jpg");
  auto plugin = fmt::format("{}/libplugin_poison.so", PIXLINE_TEST_PLUGIN_DIR);
  // One image at a time per worker: a worker's crash returns only the
  // poison to the queue, not innocent images along with it.
  write_file(dir / "q.toml",
             queue_config(broker, dir.path(),
                          "max_in_flight = 1\nisolation = \"thread\"",
                          "[[filter]]\ntype = \"poison\"\n"));
  auto enq = run_pixline(fmt::format("--plugin '{}' enqueue '{}' -r", plugin,
                                     (dir / "q.toml").string()));
  INFO(enq.output);
  REQUIRE(enq.status == 0);
  REQUIRE(enq.output.find("enqueued 32 of 32") != std::string::npos);

  // Two workers, started again whenever the poison kills one (as systemd's
  // Restart= would), until the queue is done.
  std::vector<std::unique_ptr<child_process>> workers;
  int started = 0;
  auto start = [&] {
    return start_worker(dir / "q.toml",
                        dir / fmt::format("w{}.log", started++),
                        {"--plugin", plugin});
  };
  workers.push_back(start());
  workers.push_back(start());
  int deaths = 0;
  REQUIRE(wait_until(
    [&] {
      for (auto& w : workers)
        if (auto rc = w->wait_for(0)) {
          ++deaths;
          w = start();
        }
      auto s = queue_status(dir / "q.toml", "--plugin '" + plugin + "'");
      return s.ready == 0 && s.unacked == 0 && s.dead == 2;
    },
    120));
  for (auto& w : workers)
    w->signal(SIGTERM);
  for (auto& w : workers)
    w->wait_for(30);
  // Killed three times: the broker dead-letters it after its third
  // delivery without an acknowledgement.
  CHECK(deaths == 3);
  CHECK(output_set(dir / "root/out") == expected);

  auto dead = run_pixline(fmt::format("--plugin '{}' queue status '{}' "
                                      "--dead 10",
                                      plugin, (dir / "q.toml").string()));
  INFO(dead.output);
  CHECK(dead.output.find("dead-lettered:   2") != std::string::npos);
  // The failing one carries its last error and its 3 deliveries...
  CHECK(dead.output.find("in/f0/broken.jpg (3 deliveries, last on")
        != std::string::npos);
  // ...the crashing one, what the broker knows.
  CHECK(dead.output.find("in/f1/poison-abort.jpg (3 deliveries): delivered "
                         "without an acknowledgement")
        != std::string::npos);
  std::string logs;
  for (int i = 0; i < started; ++i)
    logs += read_file(dir / fmt::format("w{}.log", i));
  CHECK(logs.find("quarantined after 3 deliveries") != std::string::npos);
}

TEST_CASE("queue: the broker restarted mid-run: workers reconnect and "
          "nothing is lost",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  auto expected = make_inputs(dir / "root", 300);
  write_file(dir / "q.toml",
             queue_config(broker, dir.path(),
                          "max_in_flight = 2\nisolation = \"thread\""));
  REQUIRE(run_pixline(fmt::format("enqueue '{}' -r", (dir / "q.toml").string()))
            .status
          == 0);
  std::vector<std::unique_ptr<child_process>> workers;
  for (int i = 0; i < 2; ++i)
    workers.push_back(start_worker(dir / "q.toml",
                                   dir / fmt::format("w{}.log", i)));
  auto out = dir / "root/out";
  REQUIRE(wait_until([&] { return visible_outputs(out) >= 30; }, 60));
  // Stopped while the broker restarts, so most messages are still in the
  // queue across the restart, whatever the machine's speed; they find
  // their connections gone when they go on.
  for (auto& w : workers)
    w->signal(SIGSTOP);
  auto before = visible_outputs(out);
  broker.restart();
  for (auto& w : workers)
    w->signal(SIGCONT);
  CHECK(before < 300);
  REQUIRE(wait_until(
    [&] {
      return read_file(dir / "w0.log").find("connected again")
               != std::string::npos
             && read_file(dir / "w1.log").find("connected again")
                  != std::string::npos;
    },
    60));
  REQUIRE(wait_until(
    [&] {
      if (visible_outputs(out) < 300)
        return false;
      auto s = queue_status(dir / "q.toml");
      return s.ready == 0 && s.unacked == 0;
    },
    120));
  for (auto& w : workers)
    w->signal(SIGTERM);
  INFO(read_file(dir / "w0.log") + "---\n" + read_file(dir / "w1.log"));
  for (auto& w : workers)
    CHECK(w->wait_for(30) == 0);
  CHECK(output_set(out) == expected);
  for (int i = 0; i < 2; ++i)
    CHECK(read_file(dir / fmt::format("w{}.log", i)).find("connected again")
          != std::string::npos);
  CHECK(queue_status(dir / "q.toml").dead == 0);
}

TEST_CASE("queue: messages naming paths outside the root are dead-lettered "
          "at once",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  make_inputs(dir / "root", 2);
  write_file(dir / "secret.jpg", read_file(dir / "root/in/f0/img0000.jpg"));
  fs::create_symlink(dir / "secret.jpg", dir / "root/in/link.jpg");
  fs::create_symlink(dir.path(), dir / "root/up");
  write_file(dir / "q.toml",
             queue_config(broker, dir.path(), "isolation = \"thread\""));
  std::vector<std::string> attacks{
    "../secret.jpg",       "/etc/passwd",         "in/../../secret.jpg",
    "in/link.jpg",         "up/secret.jpg",       "in//f0/img0000.jpg",
    "in/./f0/img0000.jpg", ".hidden/x.jpg",       "in/f0",
    "in/f0/img0000.jpg\nx", std::string("in/f0/img0000.jpg\0x", 20)};
  for (auto& a : attacks)
    publish_raw(broker, a);
  publish_raw(broker, "in/f0/img0000.jpg");
  auto worker = start_worker(dir / "q.toml", dir / "w.log",
                             {"--log-level", "debug"});
  REQUIRE(wait_until(
    [&] {
      auto s = queue_status(dir / "q.toml");
      return s.ready == 0 && s.unacked == 0
             && s.dead == long(attacks.size());
    },
    60));
  worker->signal(SIGTERM);
  CHECK(worker->wait_for(30) == 0);
  // Only the honest message made an output; nothing was read from outside.
  CHECK(outputs(dir / "root/out") == std::vector<std::string>{"in/f0/img0000.png"});
  auto dead = run_pixline(
    fmt::format("queue status '{}' --dead 20", (dir / "q.toml").string()));
  INFO(dead.output);
  // Refused at the first delivery.
  CHECK(dead.output.find("(1 deliveries") != std::string::npos);
  CHECK(dead.output.find("(2 deliveries") == std::string::npos);
  CHECK(dead.output.find("refusing to follow symlink") != std::string::npos);
}

namespace {

/// A sample of `name` (no labels) on the worker's /metrics at `port`; -1
/// when it cannot be read.
double metric_of(int port, const std::string& name) {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(2);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200)
    return -1;
  auto at = res->body.find("\n" + name + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(res->body.substr(at + name.size() + 2));
}

} // namespace

TEST_CASE("queue: /metrics counts the messages received, acknowledged, "
          "returned, dead-lettered and in flight",
          "[e2e][queue][metrics]") {
  test_broker broker;
  temp_dir dir;
  make_inputs(dir / "root", 20);
  // Fails at every delivery (3), then is dead-lettered by the worker.
  write_file(dir / "root/in/f0/broken.jpg", "not a jpeg at all");
  // Slow images, so the worker is seen holding its window of 2.
  auto plugin = fmt::format("{}/libplugin_slow.so", PIXLINE_TEST_PLUGIN_DIR);
  write_file(dir / "q.toml",
             queue_config(broker, dir.path(), "max_in_flight = 2",
                          "[[filter]]\ntype = \"slow\"\nms = 150\n"));
  auto with_plugin = fmt::format("--plugin '{}'", plugin);
  REQUIRE(run_pixline(fmt::format("{} enqueue '{}' -r", with_plugin,
                                  (dir / "q.toml").string()))
            .status
          == 0);
  // Refused at its first delivery: dead-lettered at once.
  publish_raw(broker, "../outside.jpg");
  port_holder free_port;
  int port = free_port.port();
  free_port.release();
  auto worker = std::make_unique<child_process>(
    std::vector<std::string>{pixline_binary(), "--plugin", plugin, "run",
                             (dir / "q.toml").string(), "--metrics",
                             fmt::format("127.0.0.1:{}", port)},
    dir / "w.log");
  auto metric = [&](const std::string& name) { return metric_of(port, name); };
  double most_held = 0;
  // 20 good messages and 2 dead letters acknowledged.
  bool settled = wait_until(
    [&] {
      most_held = std::max(most_held,
                           metric("pixline_queue_messages_in_flight"));
      return metric("pixline_queue_messages_acked_total") == 22;
    },
    90);
  if (!settled) {
    httplib::Client client{"127.0.0.1", port};
    auto res = client.Get("/metrics");
    INFO((res ? res->body : std::string{"no /metrics"}));
    INFO(read_file(dir / "w.log"));
    REQUIRE(settled);
  }
  // Never more than its prefetch window, and seen holding it.
  CHECK(most_held == 2);
  auto s = queue_status(dir / "q.toml", with_plugin);
  CHECK(s.ready == 0);
  CHECK(s.dead == 2);
  // 20 + 3 deliveries of the broken one + the refused one.
  CHECK(metric("pixline_queue_messages_received_total") == 24);
  CHECK(metric("pixline_queue_messages_redelivered_total") == 2);
  CHECK(metric("pixline_queue_messages_requeued_total") == 2);
  CHECK(metric("pixline_queue_messages_dead_lettered_total") == 2);
  CHECK(wait_until(
    [&] { return metric("pixline_queue_messages_in_flight") == 0; }, 10));
  CHECK(metric("pixline_queue_reconnects_total") == 0);
  // A restarted broker: the worker connects again and counts it.
  broker.restart();
  CHECK(wait_until(
    [&] { return metric("pixline_queue_reconnects_total") == 1; }, 60));
  worker->signal(SIGTERM);
  CHECK(worker->wait_for(30) == 0);
  INFO(read_file(dir / "w.log"));
}

TEST_CASE("queue: amqps:// to a broker whose certificate checks out, and "
          "a clear refusal when it does not",
          "[e2e][queue][tls]") {
  test_broker broker{true};
  temp_dir dir;
  auto expected = make_inputs(dir / "root", 5);
  auto config_with = [&](const std::string& name, const std::string& url) {
    auto text = queue_config(broker, dir.path(), "isolation = \"thread\"");
    text.replace(text.find(broker.url()), broker.url().size(), url);
    write_file(dir / name, text);
    return (dir / name).string();
  };
  // The broker's own CA: published, served, acknowledged over TLS.
  auto good = config_with("tls.toml", broker.tls_url());
  auto enq = run_pixline(fmt::format("enqueue '{}' -r", good));
  INFO(enq.output);
  REQUIRE(enq.status == 0);
  CHECK(enq.output.find("enqueued 5 of 5") != std::string::npos);
  CHECK(enq.output.find("amqps://guest@localhost:") != std::string::npos);
  auto run = run_pixline(fmt::format("run '{}' --until-empty", good));
  INFO(run.output);
  CHECK(run.status == 0);
  CHECK(output_set(dir / "root/out") == expected);
  // Without cacertfile, the system's CAs decide: OpenSSL's default store,
  // here pointed at the broker's CA.
  auto system = config_with(
    "system.toml",
    fmt::format("amqps://guest:guest@localhost:{}/", broker.tls_port()));
  std::string out;
  CHECK(run_command(fmt::format("SSL_CERT_FILE='{}' {} queue status '{}' 2>&1",
                                broker.tls_ca().string(), pixline_binary(),
                                system),
                    &out)
        == 0);
  CHECK(out.find("ready:") != std::string::npos);
  // Refused at once, saying why: a CA that did not sign it...
  temp_dir other;
  REQUIRE(run_command(fmt::format(
            "cd '{}' && openssl req -x509 -newkey ec -pkeyopt "
            "ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem "
            "-days 2 -subj /CN=someone-else 2>&1",
            other.path().string()),
          &out)
          == 0);
  auto wrong_ca = config_with(
    "other.toml",
    fmt::format("amqps://guest:guest@localhost:{}/?cacertfile={}",
                broker.tls_port(), (other / "ca.pem").string()));
  auto refused = run_pixline(fmt::format("enqueue '{}' -r", wrong_ca));
  INFO(refused.output);
  CHECK(refused.status != 0);
  CHECK(refused.output.find("the broker's certificate is not trusted")
        != std::string::npos);
  auto worker = run_pixline(fmt::format("run '{}'", wrong_ca));
  INFO(worker.output);
  CHECK(worker.status != 0);
  CHECK(worker.output.find("the broker's certificate is not trusted")
        != std::string::npos);
  // ...the system's CAs, which know nothing of it...
  CHECK(run_pixline(fmt::format("queue status '{}'", system)).output.find(
          "not signed by the system's CAs")
        != std::string::npos);
  // ...or a certificate for another name than the URL's host.
  auto by_address = config_with(
    "address.toml",
    fmt::format("amqps://guest:guest@127.0.0.1:{}/?cacertfile={}",
                broker.tls_port(), broker.tls_ca().string()));
  auto wrong_host = run_pixline(fmt::format("enqueue '{}' -r", by_address));
  INFO(wrong_host.output);
  CHECK(wrong_host.status != 0);
  CHECK(wrong_host.output.find("not for host 127.0.0.1") != std::string::npos);
  // Nothing reached the queue through the refused connections.
  CHECK(queue_status(dir / "tls.toml").ready == 0);
}

TEST_CASE("queue: a symlink swapped in between a message's check and its "
          "load is never read",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  fs::create_directories(dir / "root/in");
  // Inside the root green, outside red.
  save(solid(64, 48, 0, 200, 0), dir / "inside.jpg");
  save(solid(64, 48, 220, 0, 0), dir / "outside.jpg");
  const int files = 400;
  auto target = [&](int i) {
    return dir / fmt::format("root/in/s{:03}.jpg", i);
  };
  for (int i = 0; i < files; ++i)
    fs::create_hard_link(dir / "inside.jpg", target(i));
  // One worker runs its stages in threads, one in worker processes: both
  // read the input the message's check opened.
  write_file(dir / "thread.toml",
             queue_config(broker, dir.path(),
                          "max_in_flight = 4\nisolation = \"thread\""));
  write_file(dir / "process.toml",
             queue_config(broker, dir.path(),
                          "max_in_flight = 4\nisolation = \"process\""));
  for (int i = 0; i < files; ++i)
    publish_raw(broker, fmt::format("in/s{:03}.jpg", i));

  // Each name is, in turn and atomically (rename), the inside file and a
  // symlink to the outside one, over and over while the workers run.
  std::atomic<bool> done{false};
  std::atomic<long> swaps{0};
  std::thread swapper([&] {
    auto file = dir / "swap-file";
    auto link = dir / "swap-link";
    for (bool to_link = true; !done; to_link = !to_link) {
      for (int i = 0; i < files && !done; ++i) {
        std::error_code ec;
        fs::remove(file, ec);
        fs::remove(link, ec);
        if (to_link)
          fs::create_symlink(dir / "outside.jpg", link);
        else
          fs::create_hard_link(dir / "inside.jpg", file);
        fs::rename(to_link ? link : file, target(i));
        ++swaps;
      }
    }
  });
  auto thread_worker = start_worker(dir / "thread.toml", dir / "thread.log");
  auto process_worker = start_worker(dir / "process.toml",
                                     dir / "process.log");
  auto out = dir / "root/out/in";
  bool finished = wait_until(
    [&] {
      auto s = queue_status(dir / "thread.toml");
      return s.ready == 0 && s.unacked == 0
             && long(visible_outputs(out)) + s.dead == files;
    },
    180);
  done = true;
  swapper.join();
  thread_worker->signal(SIGTERM);
  process_worker->signal(SIGTERM);
  CHECK(thread_worker->wait_for(30) == 0);
  CHECK(process_worker->wait_for(30) == 0);
  INFO(read_file(dir / "thread.log").substr(0, 4000));
  REQUIRE(finished);
  INFO(swaps.load() << " swaps");
  // Each message either found a symlink at its check (dead-lettered) or
  // made an output of the file it checked: the inside one, never red.
  std::size_t green = 0;
  for (auto& f : outputs(out)) {
    if (f[0] == '.')
      continue;
    INFO(f);
    auto img = vips::VImage::new_from_file((out / f).c_str());
    auto p = pixel(img, img.width() / 2, img.height() / 2);
    CHECK(p[0] < 40);
    CHECK(p[1] > 160);
    green += p[0] < 40 && p[1] > 160;
  }
  auto s = queue_status(dir / "thread.toml");
  INFO(s.dead << " dead-lettered, " << green << " green outputs");
  // The race really ran: many messages met each state of the path.
  CHECK(green >= 40);
  CHECK(s.dead >= 40);
  CHECK(swaps.load() > files * 4);
}

TEST_CASE("queue: run --until-empty stops once the queue is empty",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  auto expected = make_inputs(dir / "root", 20);
  write_file(dir / "q.toml", queue_config(broker, dir.path()));
  // validate takes a queue source (it has no path) without asking the broker.
  auto valid = run_pixline(fmt::format("validate '{}'", (dir / "q.toml").string()));
  INFO(valid.output);
  CHECK(valid.status == 0);
  REQUIRE(run_pixline(fmt::format("enqueue '{}' -r", (dir / "q.toml").string()))
            .status
          == 0);
  auto r = run_pixline(
    fmt::format("run '{}' --until-empty", (dir / "q.toml").string()));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(output_set(dir / "root/out") == expected);
  auto s = queue_status(dir / "q.toml");
  CHECK(s.ready == 0);
  CHECK(s.unacked == 0);
}

TEST_CASE("queue: watch --enqueue publishes each file that lands",
          "[e2e][queue]") {
  test_broker broker;
  temp_dir dir;
  fs::create_directories(dir / "root/hot");
  write_file(dir / "q.toml", queue_config(broker, dir.path()));
  child_process watch{{pixline_binary(), "watch", (dir / "q.toml").string(),
                       "--enqueue", "-r", "-i", (dir / "root/hot").string()},
                      dir / "watch.log"};
  std::this_thread::sleep_for(500ms);
  auto expected = make_inputs(dir / "root/hot", 10);
  REQUIRE(wait_until([&] { return queue_status(dir / "q.toml").ready == 10; },
                     30));
  watch.signal(SIGTERM);
  CHECK(watch.wait_for(30) == 0);
  // A worker processes what was published, relative to the root.
  auto r = run_pixline(
    fmt::format("run '{}' --until-empty", (dir / "q.toml").string()));
  INFO(r.output);
  CHECK(r.status == 0);
  std::set<std::string> want;
  for (auto& e : expected)
    want.insert("hot/" + e);
  CHECK(output_set(dir / "root/out") == want);
}
