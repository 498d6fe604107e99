#include "actors/flow/credit.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

using namespace pixline;
using namespace std::chrono_literals;

namespace {

std::vector<job> make_jobs(int n) {
  std::vector<job> jobs;
  for (int i = 1; i <= n; ++i) {
    job j;
    j.id = std::uint64_t(i);
    j.path = "in/" + std::to_string(i) + ".jpg";
    jobs.push_back(j);
  }
  return jobs;
}

/// Tracks how many calls of a stage run at once.
struct concurrency_probe {
  std::atomic<int> now{0};
  std::atomic<int> peak{0};
  std::atomic<int> calls{0};

  void enter() {
    ++calls;
    int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
  }
  void leave() {
    --now;
  }
};

stage_runtime make_stage(std::string name, int workers, int budget,
                         std::function<void(job&)> fn) {
  stage_runtime rt;
  rt.name = std::move(name);
  rt.workers = workers;
  rt.max_in_flight = budget;
  rt.make_worker = [fn] { return fn; };
  return rt;
}

/// load (creates a tracked image) -> filter -> slow save (drops it).
std::vector<stage_runtime> slow_sink_chain(concurrency_probe& save_probe,
                                           std::chrono::milliseconds delay) {
  return {
    make_stage("load", 2, 4,
               [](job& j) { j.img = std::make_shared<tracked_image>(); }),
    make_stage("filter", 2, 4, [](job&) {}),
    make_stage("save", 3, 6,
               [&save_probe, delay](job& j) {
                 save_probe.enter();
                 std::this_thread::sleep_for(delay);
                 j.img.reset();
                 save_probe.leave();
               }),
  };
}

/// load -> picky (fails every job whose id is a multiple of three) -> save.
std::vector<stage_runtime> picky_chain(std::function<void(job&)> save) {
  return {
    make_stage("load", 2, 4,
               [](job& j) { j.img = std::make_shared<tracked_image>(); }),
    make_stage("picky", 2, 4,
               [](job& j) {
                 if (j.id % 3 == 0)
                   throw std::runtime_error("no multiples of three");
               }),
    make_stage("save", 2, 4, std::move(save)),
  };
}

} // namespace

TEST_CASE("a slow sink holds images in flight at or under the budget",
          "[credit]") {
  auto budget = GENERATE(1, 2, 3, 5, 8);
  CAPTURE(budget);
  concurrency_probe save;
  flow_options opts;
  opts.max_in_flight = budget;
  image_tally::reset_peak();
  auto report = run_flow(slow_sink_chain(save, 5ms), make_jobs(40), opts);
  REQUIRE(report.finished.size() == 40);
  // The protocol's own count and the images' own count both stay in budget.
  CHECK(report.peak_in_flight <= budget);
  CHECK(image_tally::peak() <= budget);
  CHECK(image_tally::live() == 0);
  // And the budget is actually used: with a slow sink the pipeline fills up.
  CHECK(report.peak_in_flight == budget);
  // The sink never runs more images than the budget lets in, nor more than
  // its workers.
  CHECK(save.peak <= std::min(budget, 3));
}

TEST_CASE("every job finishes exactly once", "[credit]") {
  concurrency_probe save;
  flow_options opts;
  opts.max_in_flight = 6;
  std::mutex m;
  std::vector<std::uint64_t> seen;
  opts.on_finished = [&](const job& j) {
    std::lock_guard<std::mutex> guard{m};
    seen.push_back(j.id);
  };
  auto report = run_flow(slow_sink_chain(save, 1ms), make_jobs(200), opts);
  REQUIRE(report.finished.size() == 200);
  std::set<std::uint64_t> ids(seen.begin(), seen.end());
  CHECK(seen.size() == 200);
  CHECK(ids.size() == 200);
  CHECK(*ids.begin() == 1);
  CHECK(*ids.rbegin() == 200);
  CHECK(save.calls == 200);
}

TEST_CASE("a stage budget caps its own concurrency", "[credit]") {
  concurrency_probe middle;
  auto per_stage = GENERATE(1, 2);
  CAPTURE(per_stage);
  std::vector<stage_runtime> stages{
    make_stage("load", 2, 4,
               [](job& j) { j.img = std::make_shared<tracked_image>(); }),
    make_stage("heavy", 4, per_stage,
               [&](job&) {
                 middle.enter();
                 std::this_thread::sleep_for(3ms);
                 middle.leave();
               }),
    make_stage("save", 2, 4, [](job& j) { j.img.reset(); }),
  };
  flow_options opts;
  opts.max_in_flight = 16;
  auto report = run_flow(stages, make_jobs(30), opts);
  REQUIRE(report.finished.size() == 30);
  CHECK(middle.peak <= per_stage);
  CHECK(middle.peak == per_stage);
}

TEST_CASE("a failing job names its stage and does not stop the others",
          "[credit]") {
  std::atomic<int> saved{0};
  auto stages = picky_chain([&](job& j) {
    ++saved;
    j.img.reset();
  });
  flow_options opts;
  opts.max_in_flight = 4;
  auto report = run_flow(stages, make_jobs(30), opts);
  REQUIRE(report.finished.size() == 30);
  int failed = 0;
  for (auto& j : report.finished) {
    if (j.id % 3 == 0) {
      ++failed;
      CHECK(j.failed());
      CHECK(j.failed_stage == "picky");
      CHECK(j.error == "no multiples of three");
    } else {
      CHECK_FALSE(j.failed());
    }
  }
  CHECK(failed == 10);
  // Failed jobs pass later stages without being worked on.
  CHECK(saved == 20);
  CHECK(image_tally::live() == 0);
}

TEST_CASE("workers on the shared scheduler follow the same protocol",
          "[credit]") {
  concurrency_probe save;
  flow_options opts;
  opts.max_in_flight = 3;
  opts.detached_workers = false;
  image_tally::reset_peak();
  auto report = run_flow(slow_sink_chain(save, 1ms), make_jobs(25), opts);
  CHECK(report.finished.size() == 25);
  CHECK(report.peak_in_flight <= 3);
  CHECK(image_tally::peak() <= 3);
}

TEST_CASE("an empty input finishes at once", "[credit]") {
  concurrency_probe save;
  auto report = run_flow(slow_sink_chain(save, 1ms), {}, flow_options{});
  CHECK(report.finished.empty());
  CHECK(report.peak_in_flight == 0);
}

TEST_CASE("a flow needs a stage", "[credit]") {
  CHECK_THROWS_AS(run_flow({}, make_jobs(1), flow_options{}),
                  std::invalid_argument);
}

namespace {

/// A feed filled by another thread over time, like a watched folder.
class trickle_feed : public job_feed {
public:
  void start(std::function<void()> wake) override {
    std::lock_guard<std::mutex> guard{m_};
    wake_ = std::move(wake);
  }

  std::optional<job> next() override {
    std::lock_guard<std::mutex> guard{m_};
    if (ready_.empty())
      return std::nullopt;
    auto j = std::move(ready_.front());
    ready_.erase(ready_.begin());
    return j;
  }

  bool closed() const override {
    std::lock_guard<std::mutex> guard{m_};
    return closed_ && ready_.empty();
  }

  void push(job j) {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> guard{m_};
      ready_.push_back(std::move(j));
      wake = wake_;
    }
    if (wake)
      wake();
  }

  void close() {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> guard{m_};
      closed_ = true;
      wake = wake_;
    }
    if (wake)
      wake();
  }

private:
  mutable std::mutex m_;
  std::vector<job> ready_;
  std::function<void()> wake_;
  bool closed_ = false;
};

} // namespace

TEST_CASE("a feed that fills over time is drained until it closes",
          "[credit]") {
  trickle_feed feed;
  concurrency_probe save;
  std::thread producer{[&] {
    // Wait until the flow has started the feed, then trickle jobs in.
    for (auto& j : make_jobs(30)) {
      std::this_thread::sleep_for(2ms);
      feed.push(std::move(j));
    }
    feed.close();
  }};
  flow_options opts;
  opts.max_in_flight = 4;
  opts.keep_finished = false;
  auto report = run_flow(slow_sink_chain(save, 1ms), feed, opts);
  producer.join();
  CHECK(report.finished_count == 30);
  CHECK(report.finished.empty());
  CHECK(save.calls == 30);
  CHECK(report.peak_in_flight <= 4);
}

namespace {

/// The value of one series in a registry's rendering ("" when missing).
std::string series(const metrics_registry& m, const std::string& name) {
  auto text = m.render();
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos)
    return {};
  auto begin = at + name.size() + 2;
  return text.substr(begin, text.find('\n', begin) - begin);
}

} // namespace

TEST_CASE("the flow counts every stage's images, failures and time",
          "[credit][metrics]") {
  auto detached = GENERATE(true, false);
  CAPTURE(detached);
  auto stages = picky_chain([](job& j) {
    std::this_thread::sleep_for(2ms);
    j.img.reset();
  });
  auto metrics = std::make_shared<metrics_registry>();
  flow_options opts;
  opts.max_in_flight = 4;
  opts.detached_workers = detached;
  opts.metrics = metrics;
  // Sampled on the controller as each job finishes: the gauges stay within
  // the budgets they describe.
  long long peak_in_flight = 0;
  long long peak_save_queue = 0;
  bool running_seen = true;
  opts.on_finished = [&](const job&) {
    peak_in_flight = std::max(
      peak_in_flight, std::stoll(series(*metrics, "pixline_images_in_flight")));
    peak_save_queue = std::max(
      peak_save_queue,
      std::stoll(series(*metrics, "pixline_stage_queue_depth{stage=\"save\"}")));
    running_seen = running_seen && metrics->running();
  };
  auto report = run_flow(stages, make_jobs(30), opts);
  REQUIRE(report.finished.size() == 30);
  auto count = [&](const std::string& family, const std::string& stage) {
    return series(*metrics, family + "{stage=\"" + stage + "\"}");
  };
  CHECK(count("pixline_images_in_total", "load") == "30");
  CHECK(count("pixline_images_out_total", "load") == "30");
  CHECK(count("pixline_images_failed_total", "load") == "0");
  CHECK(count("pixline_images_in_total", "picky") == "30");
  CHECK(count("pixline_images_out_total", "picky") == "20");
  CHECK(count("pixline_images_failed_total", "picky") == "10");
  // Failed jobs pass the save stage without being worked on.
  CHECK(count("pixline_images_in_total", "save") == "20");
  CHECK(count("pixline_images_out_total", "save") == "20");
  CHECK(std::stod(count("pixline_stage_busy_seconds_total", "save"))
        >= 20 * 0.002);
  CHECK(count("pixline_stage_workers", "save") == "2");
  for (auto stage : {"load", "picky", "save"}) {
    CHECK(count("pixline_stage_queue_depth", stage) == "0");
    CHECK(count("pixline_stage_busy_workers", stage) == "0");
  }
  CHECK(series(*metrics, "pixline_images_in_flight") == "0");
  CHECK(series(*metrics, "pixline_images_in_flight_budget") == "4");
  CHECK(series(*metrics, "pixline_image_latency_seconds_count") == "30");
  CHECK(series(*metrics, "pixline_images_finished_total{outcome=\"failed\"}")
        == "10");
  CHECK(series(*metrics, "pixline_images_finished_total{outcome=\"written\"}")
        == "20");
  CHECK(peak_in_flight >= 1);
  CHECK(peak_in_flight <= 4);
  CHECK(peak_save_queue <= 4);
  CHECK(running_seen);
  CHECK_FALSE(metrics->running());
}

TEST_CASE("a stage asks for credit in batches, or a job at a time when its "
          "jobs are short",
          "[credit]") {
  // Before a job finished, and for long jobs: room for half the budget.
  CHECK(credit_to_request(8, 5, -1) == 0);
  CHECK(credit_to_request(8, 4, -1) == 4);
  CHECK(credit_to_request(8, 7, 50.0) == 0);
  CHECK(credit_to_request(8, 3, 50.0) == 5);
  // Short jobs: every job's room at once.
  CHECK(credit_to_request(8, 7, 2.0) == 1);
  CHECK(credit_to_request(8, 6, 0.0) == 2);
  // No room, whatever the jobs.
  CHECK(credit_to_request(8, 8, 2.0) == 0);
  CHECK(credit_to_request(8, 9, -1) == 0);
  CHECK(credit_to_request(1, 0, 50.0) == 1);
}
