#include "pipeline/metrics.hpp"

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "pipeline/job.hpp"

using namespace pixline;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

/// The value of the sample written exactly as `series` (name and labels),
/// as text; "" when there is none.
std::string sample(const std::string& text, const std::string& series) {
  for (auto& line : lines_of(text))
    if (line.rfind(series + " ", 0) == 0)
      return line.substr(series.size() + 1);
  return {};
}

job finished_job(bool failed = false, bool skipped = false) {
  job j;
  j.path = "in/a.jpg";
  if (failed) {
    j.error = "broken";
    j.failed_stage = "load";
  }
  j.skipped = skipped;
  return j;
}

} // namespace

TEST_CASE("the text format declares every family once, before its samples",
          "[metrics]") {
  metrics_registry m;
  m.begin_flow({"load", "resize", "save"}, 8);
  auto text = m.render();
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  static const std::regex help{R"(# HELP (pixline_[a-z_]+) \S.*)"};
  static const std::regex type{
    R"(# TYPE (pixline_[a-z_]+) (counter|gauge|histogram))"};
  static const std::regex sample_line{
    R"((pixline_[a-z_]+)(\{[a-z]+="[^"]*"\})? (-?[0-9.e+-]+|\+Inf))"};
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::string last_family;
  for (auto& line : lines_of(text)) {
    std::smatch match;
    CAPTURE(line);
    if (std::regex_match(line, match, help)) {
      CHECK(helped.insert(match[1]).second);
    } else if (std::regex_match(line, match, type)) {
      CHECK(helped.count(match[1]) == 1);
      CHECK(types.emplace(match[1], match[2]).second);
      last_family = match[1];
    } else {
      REQUIRE(std::regex_match(line, match, sample_line));
      std::string name = match[1];
      // A histogram's samples carry suffixes; the rest use the family name.
      if (types[last_family] == "histogram")
        CHECK(name.rfind(last_family + "_", 0) == 0);
      else
        CHECK(name == last_family);
      // Counters end in _total, as the format's conventions ask.
      if (types[last_family] == "counter")
        CHECK_THAT(name, Catch::EndsWith("_total"));
    }
  }
  for (auto family :
       {"pixline_images_in_total", "pixline_images_out_total",
        "pixline_images_failed_total", "pixline_stage_busy_seconds_total",
        "pixline_stage_queue_depth", "pixline_credits_outstanding",
        "pixline_images_in_flight", "pixline_image_latency_seconds"})
    CHECK(types.count(family) == 1);
  CHECK(types["pixline_image_latency_seconds"] == "histogram");
  CHECK(types["pixline_stage_queue_depth"] == "gauge");
}

TEST_CASE("per-stage samples carry the stage label, and repeated stages are "
          "numbered",
          "[metrics]") {
  metrics_registry m;
  auto stages = m.begin_flow({"load", "resize", "resize", "save"}, 8);
  REQUIRE(stages.size() == 4);
  CHECK(stages[2]->name == "resize#2");
  stages[0]->images_in = 5;
  stages[0]->images_out = 4;
  stages[0]->images_failed = 1;
  stages[2]->images_in = 3;
  stages[3]->busy_ns = 1'500'000'000;
  stages[3]->queued = 2;
  stages[1]->credit_outstanding = 7;
  auto text = m.render();
  CHECK(sample(text, R"(pixline_images_in_total{stage="load"})") == "5");
  CHECK(sample(text, R"(pixline_images_out_total{stage="load"})") == "4");
  CHECK(sample(text, R"(pixline_images_failed_total{stage="load"})") == "1");
  CHECK(sample(text, R"(pixline_images_in_total{stage="resize"})") == "0");
  CHECK(sample(text, R"(pixline_images_in_total{stage="resize#2"})") == "3");
  CHECK(sample(text, R"(pixline_stage_busy_seconds_total{stage="save"})")
        == "1.5");
  CHECK(sample(text, R"(pixline_stage_queue_depth{stage="save"})") == "2");
  CHECK(sample(text, R"(pixline_credits_outstanding{stage="resize"})")
        == "7");
  CHECK(sample(text, "pixline_images_in_flight_budget") == "8");

  SECTION("a second flow over the same chain keeps counting") {
    auto again = m.begin_flow({"load", "resize", "resize", "save"}, 8);
    CHECK(again == stages);
    CHECK(sample(m.render(), R"(pixline_images_in_total{stage="load"})")
          == "5");
  }
}

TEST_CASE("label values are escaped", "[metrics]") {
  metrics_registry m;
  m.begin_flow({"odd\"name\\with\nbreak"}, 1);
  auto text = m.render();
  CHECK(sample(text, R"(pixline_images_in_total{stage="odd\"name\\with\nbreak"})")
        == "0");
}

TEST_CASE("the latency histogram is cumulative and ends in +Inf",
          "[metrics]") {
  metrics_registry m;
  m.begin_flow({"load", "save"}, 4);
  for (int i = 0; i < 4; ++i)
    m.admitted();
  m.finished(finished_job(), 5ms);
  m.finished(finished_job(), 300ms);
  m.finished(finished_job(true), 300ms);
  m.finished(finished_job(false, true), 100s);
  m.admitted();
  auto text = m.render();
  auto bucket = [&](const std::string& le) {
    return sample(text,
                  "pixline_image_latency_seconds_bucket{le=\"" + le + "\"}");
  };
  CHECK(bucket("0.01") == "1");
  CHECK(bucket("0.25") == "1");
  CHECK(bucket("0.5") == "3");
  CHECK(bucket("60") == "3");
  CHECK(bucket("+Inf") == "4");
  CHECK(sample(text, "pixline_image_latency_seconds_count") == "4");
  CHECK(std::stod(sample(text, "pixline_image_latency_seconds_sum"))
        == Approx(100.605));
  CHECK(sample(text, "pixline_images_in_flight") == "1");
  CHECK(sample(text, R"(pixline_images_finished_total{outcome="written"})")
        == "2");
  CHECK(sample(text, R"(pixline_images_finished_total{outcome="failed"})")
        == "1");
  CHECK(sample(text, R"(pixline_images_finished_total{outcome="skipped"})")
        == "1");
  // Every bucket bound is listed, in order.
  std::vector<std::string> bounds;
  for (auto& line : lines_of(text))
    if (line.rfind("pixline_image_latency_seconds_bucket{le=\"", 0) == 0)
      bounds.push_back(line.substr(41, line.find('"', 41) - 41));
  REQUIRE(bounds.size() == latency_buckets.size() + 1);
  CHECK(bounds.front() == "0.01");
  CHECK(bounds[bounds.size() - 2] == "60");
}

TEST_CASE("pixline_up follows the running flag", "[metrics]") {
  metrics_registry m;
  CHECK(sample(m.render(), "pixline_up") == "0");
  m.set_running(true);
  CHECK(m.running());
  CHECK(sample(m.render(), "pixline_up") == "1");
}

TEST_CASE("listen addresses", "[metrics]") {
  auto ok = [](std::string_view text) {
    auto parsed = parse_listen_address(text);
    auto address = std::get_if<listen_address>(&parsed);
    REQUIRE(address);
    return *address;
  };
  auto error = [](std::string_view text) {
    auto parsed = parse_listen_address(text);
    auto err = std::get_if<std::string>(&parsed);
    REQUIRE(err);
    return *err;
  };
  CHECK(ok("127.0.0.1:9464").host == "127.0.0.1");
  CHECK(ok("127.0.0.1:9464").port == 9464);
  CHECK(ok("localhost:1").port == 1);
  CHECK(ok("[::1]:65535").host == "::1");
  CHECK_THAT(error("9464"), Catch::Contains("HOST:PORT"));
  CHECK_THAT(error(":9464"), Catch::Contains("host is missing"));
  CHECK_THAT(error("::1:9464"), Catch::Contains("brackets"));
  CHECK_THAT(error("127.0.0.1:0"), Catch::Contains("1 to 65535"));
  CHECK_THAT(error("127.0.0.1:65536"), Catch::Contains("1 to 65535"));
  CHECK_THAT(error("127.0.0.1:94x"), Catch::Contains("1 to 65535"));
  CHECK_THAT(error("127.0.0.1:"), Catch::Contains("1 to 65535"));
}
