#include "actors/run/watch.hpp"

#include <thread>

#include <catch2/catch.hpp>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

source_section watch_source(const fs::path& dir) {
  source_section s;
  s.kind = "watch";
  s.path = (dir / "in").string();
  s.recursive = true;
  s.settle_ms = 20;
  s.state_dir = (dir / "state").string();
  s.retries = 2;
  return s;
}

/// Waits for the feed's next job.
std::optional<job> next_within(watch_feed& feed, double seconds) {
  std::optional<job> j;
  wait_until([&] { return (j = feed.next()).has_value(); }, seconds);
  return j;
}

} // namespace

TEST_CASE("the watch feed hands out existing and new files once",
          "[watch-feed]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "a");
  write_file(dir / "in" / ".hidden.jpg", "h");
  write_file(dir / "in" / "readme.txt", "r");
  watch_feed feed{watch_source(dir.path()), dir / "out"};
  int wakes = 0;
  feed.start([&] { ++wakes; });
  auto a = next_within(feed, 5);
  REQUIRE(a);
  CHECK(a->relative == "a.jpg");
  write_file(dir / "in" / "notes.md", "n");
  write_file(dir / "in" / "sub" / "b.jpg", "b");
  auto b = next_within(feed, 5);
  REQUIRE(b);
  CHECK(b->relative == "sub/b.jpg");
  CHECK(wakes >= 2);
  // Nothing else: the hidden file and the files that are not images (no
  // include) are not inputs, and a file is not handed out again while it
  // is in flight.
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(feed.next());
  CHECK(feed.finish(*a));
  CHECK(feed.finish(*b));
  CHECK(feed.counts().done == 2);
  CHECK_FALSE(feed.closed());
  feed.stop();
  CHECK(feed.closed());
}

TEST_CASE("files finished before are skipped on the next start",
          "[watch-feed]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "a");
  {
    watch_feed feed{watch_source(dir.path()), dir / "out"};
    feed.start([] {});
    auto a = next_within(feed, 5);
    REQUIRE(a);
    feed.finish(*a);
  }
  watch_feed again{watch_source(dir.path()), dir / "out"};
  again.start([] {});
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(again.next());
  CHECK(again.counts().skipped_known == 1);
}

TEST_CASE("a transient failure is retried within the budget", "[watch-feed]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "a");
  watch_feed feed{watch_source(dir.path()), dir / "out"};
  feed.start([] {});
  auto a = next_within(feed, 5);
  REQUIRE(a);
  auto fail = [](job j) {
    j.error = "cannot open: Permission denied";
    j.failed_stage = "load";
    return j;
  };
  // Two retries, then the failure is final and recorded.
  CHECK_FALSE(feed.finish(fail(*a)));
  auto again = next_within(feed, 5);
  REQUIRE(again);
  CHECK_FALSE(feed.finish(fail(*again)));
  auto third = next_within(feed, 5);
  REQUIRE(third);
  CHECK(feed.finish(fail(*third)));
  CHECK(feed.counts().retried == 2);
  CHECK(feed.counts().failed == 1);
  // A decode error is not transient: final at once.
  write_file(dir / "in" / "b.jpg", "b");
  auto b = next_within(feed, 5);
  REQUIRE(b);
  b->error = "VipsJpeg: Premature end of JPEG file";
  b->failed_stage = "save";
  CHECK(feed.finish(*b));
  CHECK(feed.counts().failed == 2);
  feed.stop();
}

TEST_CASE("stop drops what is queued and closes the feed", "[watch-feed]") {
  temp_dir dir;
  for (int i = 0; i < 5; ++i)
    write_file(dir / "in" / ("f" + std::to_string(i) + ".jpg"), "x");
  watch_feed feed{watch_source(dir.path()), dir / "out"};
  feed.start([] {});
  REQUIRE(wait_until([&] { return feed.queued() == 5; }, 5));
  auto first = feed.next();
  REQUIRE(first);
  feed.stop();
  CHECK(feed.closed());
  CHECK(feed.queued() == 0);
  CHECK_FALSE(feed.next());
  // The one in flight can still finish and be recorded.
  CHECK(feed.finish(*first));
  CHECK(feed.counts().done == 1);
}

TEST_CASE("a missing watched folder is a config error", "[watch-feed]") {
  temp_dir dir;
  CHECK_THROWS_AS(watch_feed(watch_source(dir.path()), dir / "out"),
                  config_error);
}
