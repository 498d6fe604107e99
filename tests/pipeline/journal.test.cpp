#include "pipeline/journal.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <random>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;

TEST_CASE("a file's key follows its content", "[journal]") {
  temp_dir dir;
  write_file(dir / "a.jpg", "hello");
  auto a = key_of(dir / "a.jpg");
  REQUIRE(a);
  CHECK(a->size == 5);
  CHECK(a->path == (dir / "a.jpg").string());
  // Same size, same mtime, other bytes: still a different version.
  auto mtime = fs::last_write_time(dir / "a.jpg");
  write_file(dir / "a.jpg", "world");
  fs::last_write_time(dir / "a.jpg", mtime);
  auto b = key_of(dir / "a.jpg");
  REQUIRE(b);
  CHECK(b->size == a->size);
  CHECK(b->mtime_ns == a->mtime_ns);
  CHECK_FALSE(*a == *b);
  CHECK_FALSE(key_of(dir / "missing.jpg"));
}

TEST_CASE("the journal remembers outcomes across reopening", "[journal]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "in" / "b\nc.jpg", "bbb");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto b = *key_of(dir / "in" / "b\nc.jpg");
  {
    journal j{dir / "state"};
    CHECK_FALSE(j.lookup(a));
    j.record(a, journal_outcome::done);
    j.record(b, journal_outcome::failed);
    CHECK(j.lookup(a) == journal_outcome::done);
  }
  journal j{dir / "state"};
  CHECK(j.lookup(a) == journal_outcome::done);
  CHECK(j.lookup(b) == journal_outcome::failed);
  // A changed file is a new version.
  write_file(dir / "in" / "a.jpg", "aaaa");
  CHECK_FALSE(j.lookup(*key_of(dir / "in" / "a.jpg")));
  j.forget(a.path);
  CHECK_FALSE(j.lookup(a));
  journal again{dir / "state"};
  CHECK_FALSE(again.lookup(a));
  CHECK(again.lookup(b) == journal_outcome::failed);
}

TEST_CASE("a torn last line is ignored and cut off", "[journal]") {
  temp_dir dir;
  write_file(dir / "a.jpg", "aaa");
  write_file(dir / "b.jpg", "bbb");
  auto a = *key_of(dir / "a.jpg");
  {
    journal j{dir / "state"};
    j.record(a, journal_outcome::done);
  }
  {
    std::ofstream out(dir / "state" / "journal.log", std::ios::app);
    out << "D\t3\t12";  // a crash in the middle of an append
  }
  journal j{dir / "state"};
  CHECK(j.lookup(a) == journal_outcome::done);
  CHECK(j.size() == 1);
  auto b = *key_of(dir / "b.jpg");
  j.record(b, journal_outcome::done);
  journal k{dir / "state"};
  CHECK(k.lookup(a) == journal_outcome::done);
  CHECK(k.lookup(b) == journal_outcome::done);
  CHECK(k.lines() == 2);
}

TEST_CASE("the journal compacts stale lines", "[journal]") {
  temp_dir dir;
  write_file(dir / "a.jpg", "aaa");
  auto a = *key_of(dir / "a.jpg");
  journal j{dir / "state"};
  for (int i = 0; i < 1500; ++i) {
    a.hash = std::uint64_t(i);
    j.record(a, journal_outcome::done);
  }
  CHECK(j.lines() < 1100);
  journal k{dir / "state"};
  CHECK(k.lookup(a) == journal_outcome::done);
  CHECK(k.size() == 1);
}

TEST_CASE("a journal another user could change is refused", "[journal]") {
  temp_dir dir;
  auto state = dir / "state";
  {
    journal j{state};
    CHECK((fs::status(state).permissions() & fs::perms::all)
          == fs::perms::owner_all);
  }
  auto log = state / "journal.log";
  auto refused = [&](const std::string& why) {
    try {
      journal j{state};
      FAIL("the journal was trusted");
    } catch (const untrusted_journal& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(why));
    }
  };
  // Another user's folder (as root, any uid will do for the kernel).
  REQUIRE(::chown(state.c_str(), 4242, 4242) == 0);
  refused("belongs to uid 4242");
  REQUIRE(::chown(state.c_str(), ::geteuid(), ::getegid()) == 0);
  fs::permissions(state, fs::perms::all);
  refused("other users may write to it (mode 0777)");
  fs::permissions(state, fs::perms::owner_all);
  REQUIRE(::chown(log.c_str(), 4242, 4242) == 0);
  refused("belongs to uid 4242");
  REQUIRE(::chown(log.c_str(), ::geteuid(), ::getegid()) == 0);
  fs::permissions(log, fs::perms::owner_read | fs::perms::owner_write
                         | fs::perms::group_write);
  refused("other users may write to it (mode 0620)");
  fs::remove(log);
  write_file(dir / "forged.log", "D\t1\t1\t0000000000000001\t/x.jpg\n");
  fs::create_symlink(dir / "forged.log", log);
  refused("is a symlink");
  fs::remove(log);
  CHECK_NOTHROW(journal{state});
}

TEST_CASE("the journal counts the crashes a file was in flight for",
          "[journal]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "in" / "b.jpg", "bbb");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto b = *key_of(dir / "in" / "b.jpg");
  auto crash_mark = [&] {
    std::ofstream(dir / "state" / "crashes.log", std::ios::app) << "C\t\n";
  };
  for (int run = 1; run <= 2; ++run) {
    // Taken, then pixline crashes (as its fatal-signal handler marks it).
    journal j{dir / "state"};
    CHECK(j.crashed_with(a) == run - 1);
    j.started(a);
    j.started(b);
    j.record(b, journal_outcome::done);
    crash_mark();
  }
  {
    // Killed (no mark): not the file's fault, not counted.
    journal j{dir / "state"};
    j.started(a);
  }
  journal j{dir / "state"};
  CHECK(j.crashed_with(a) == 2);
  CHECK(j.crashed_with(b) == 0);
  // Another version of the file starts from nothing.
  write_file(dir / "in" / "a.jpg", "a new picture");
  CHECK(j.crashed_with(*key_of(dir / "in" / "a.jpg")) == 0);
  // Compacting keeps the count; an outcome ends it.
  for (int i = 0; i < 2000; ++i)
    j.record(b, journal_outcome::done);
  CHECK(j.lines() < 2000);
  journal compacted{dir / "state"};
  CHECK(compacted.crashed_with(a) == 2);
  compacted.record(a, journal_outcome::failed);
  CHECK(compacted.crashed_with(a) == 0);
  journal reopened{dir / "state"};
  CHECK(reopened.crashed_with(a) == 0);
}

namespace {

/// FNV-1a, 64 bits: the content hash of a format-1 journal (before XXH3).
std::uint64_t fnv1a_of(const std::string& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// A format-1 journal line for the file at `path` holding `bytes`.
std::string format1_line(char outcome, const fs::path& path,
                         const std::string& bytes) {
  auto k = *key_of(path);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(fnv1a_of(bytes)));
  return std::string(1, outcome) + "\t" + std::to_string(k.size) + "\t"
         + std::to_string(k.mtime_ns) + "\t" + hash + "\t" + path.string()
         + "\n";
}

} // namespace

TEST_CASE("a format-1 journal (FNV-1a hashes) is re-hashed when opened",
          "[journal]") {
  temp_dir dir;
  write_file(dir / "in" / "same.jpg", "unchanged bytes");
  write_file(dir / "in" / "failed.jpg", "bad bytes");
  write_file(dir / "in" / "swapped.jpg", "old bytes");
  write_file(dir / "in" / "gone.jpg", "gone");
  fs::create_directories(dir / "state");
  fs::permissions(dir / "state", fs::perms::owner_all);
  {
    std::ofstream out(dir / "state" / "journal.log");
    out << format1_line('D', dir / "in" / "same.jpg", "unchanged bytes")
        << format1_line('F', dir / "in" / "failed.jpg", "bad bytes")
        << format1_line('D', dir / "in" / "swapped.jpg", "old bytes")
        << format1_line('D', dir / "in" / "gone.jpg", "gone");
  }
  fs::permissions(dir / "state" / "journal.log",
                  fs::perms::owner_read | fs::perms::owner_write);
  // Other bytes of the same size and time: the recorded hash no longer
  // matches, so it is a new version.
  auto mtime = fs::last_write_time(dir / "in" / "swapped.jpg");
  write_file(dir / "in" / "swapped.jpg", "new bytes");
  fs::last_write_time(dir / "in" / "swapped.jpg", mtime);
  fs::remove(dir / "in" / "gone.jpg");

  {
    journal j{dir / "state"};
    CHECK(j.lookup(*key_of(dir / "in" / "same.jpg")) == journal_outcome::done);
    CHECK(j.lookup(*key_of(dir / "in" / "failed.jpg"))
          == journal_outcome::failed);
    CHECK_FALSE(j.lookup(*key_of(dir / "in" / "swapped.jpg")));
    CHECK(j.size() == 2);
  }
  // Rewritten in format 2: its first line says so, and it reads back as is.
  std::ifstream in(dir / "state" / "journal.log");
  std::string first;
  std::getline(in, first);
  CHECK(first == "pixline-journal\t2\txxh3\t");
  journal again{dir / "state"};
  CHECK(again.lookup(*key_of(dir / "in" / "same.jpg"))
        == journal_outcome::done);
  CHECK(again.size() == 2);
  CHECK(again.lines() == 2);
}

TEST_CASE("the journal keeps which input each output belongs to, across "
          "reopening and compaction",
          "[journal][claims]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "in" / "b\tc.jpg", "bbb");
  write_file(dir / "out" / "a.png", "A output");
  write_file(dir / "out" / "b\tc.png", "B output");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto b = *key_of(dir / "in" / "b\tc.jpg");
  auto a_out = *output_key_of(dir / "out" / "a.png");
  auto b_out = *output_key_of(dir / "out" / "b\tc.png");
  CHECK(a_out.size == 8);
  {
    journal j{dir / "state"};
    j.record(a, journal_outcome::done, {a_out});
    j.record(b, journal_outcome::failed, {b_out});
    CHECK(j.check_outputs(a).empty());
    // A forgotten input (its original moved or deleted) keeps its names.
    j.forget(a.path);
  }
  using claim_list = std::vector<std::pair<std::string, std::string>>;
  auto sorted = [](claim_list c) {
    std::sort(c.begin(), c.end());
    return c;
  };
  claim_list want{{a_out.path, a.path}, {b_out.path, b.path}};
  journal j{dir / "state"};
  CHECK(sorted(j.claims()) == sorted(want));
  CHECK_FALSE(j.lookup(a));
  // Many versions later, compacted, still there.
  auto c = b;
  for (int i = 0; i < 1500; ++i) {
    c.path = (dir / "in" / "c.jpg").string();
    c.hash = std::uint64_t(i);
    j.record(c, journal_outcome::failed);
  }
  CHECK(j.lines() < 1100);
  journal k{dir / "state"};
  CHECK(sorted(k.claims()) == sorted(want));
}

TEST_CASE("an original may go only when the journal's outputs for it are on "
          "the disk as written",
          "[journal][claims]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "out" / "a.png", "A output");
  write_file(dir / "out" / "a.webp", "A webp");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto png = *output_key_of(dir / "out" / "a.png");
  auto webp = *output_key_of(dir / "out" / "a.webp");
  {
    journal j{dir / "state"};
    CHECK_THAT(j.check_outputs(a), Catch::Contains("does not record"));
    j.record(a, journal_outcome::done, {png, webp});
    CHECK(j.check_outputs(a).empty());
  }
  journal j{dir / "state"};
  CHECK(j.check_outputs(a).empty());
  SECTION("an output replaced by other bytes") {
    write_file(dir / "out" / "a.webp", "other bytes");
    CHECK_THAT(j.check_outputs(a),
               Catch::Contains(webp.path) && Catch::Contains("not the file"));
  }
  SECTION("an output deleted") {
    fs::remove(dir / "out" / "a.png");
    CHECK_THAT(j.check_outputs(a),
               Catch::Contains(png.path) && Catch::Contains("missing"));
  }
  SECTION("a symlink at an output's name") {
    fs::rename(dir / "out" / "a.png", dir / "elsewhere.png");
    fs::create_symlink(dir / "elsewhere.png", dir / "out" / "a.png");
    CHECK_THAT(j.check_outputs(a), Catch::Contains("missing"));
  }
  SECTION("an output written since for another input") {
    write_file(dir / "in" / "a.gif", "ggg");
    auto gif = *key_of(dir / "in" / "a.gif");
    j.record(gif, journal_outcome::done, {png});
    CHECK_THAT(j.check_outputs(a), Catch::Contains("written since for "
                                                   + gif.path));
  }
  SECTION("a done line with no outputs, as a forger would write it") {
    write_file(dir / "in" / "victim.jpg", "upload");
    auto victim = *key_of(dir / "in" / "victim.jpg");
    {
      std::ofstream log(dir / "state" / "journal.log", std::ios::app);
      log << fmt::format("D\t{}\t{}\t{:016x}\t{}\n", victim.size,
                         victim.mtime_ns, victim.hash, victim.path);
    }
    journal forged{dir / "state"};
    CHECK(forged.lookup(victim) == journal_outcome::done);
    CHECK_THAT(forged.check_outputs(victim),
               Catch::Contains("lists no output"));
  }
}

TEST_CASE("the journal says whose an output name is, and a gone output's "
          "name is free",
          "[journal][claims]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "out" / "a.png", "A output");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto png = *output_key_of(dir / "out" / "a.png");
  auto other = (dir / "in" / "a.gif").string();
  {
    journal j{dir / "state"};
    CHECK_FALSE(j.owner_of(png.path, other));
    j.record(a, journal_outcome::done, {png});
    CHECK(j.owner_of(png.path, other) == a.path);
    // Its own input keeps it.
    CHECK_FALSE(j.owner_of(png.path, a.path));
    j.forget(a.path);
  }
  journal j{dir / "state"};
  CHECK(j.owner_of(png.path, other) == a.path);
  fs::remove(png.path);
  CHECK_FALSE(j.owner_of(png.path, other));
}

TEST_CASE("the journal's memory follows what is on the disk, not its "
          "history",
          "[journal][claims]") {
  temp_dir dir;
  constexpr int inputs = 3000;
  std::vector<file_key> keys;
  {
    journal j{dir / "state"};
    for (int i = 0; i < inputs; ++i) {
      auto out = dir / "out" / fmt::format("{}.png", i);
      write_file(out, fmt::format("output {}", i));
      file_key k{(dir / "in" / fmt::format("{}.jpg", i)).string(), 10,
                 std::int64_t(i), std::uint64_t(i)};
      j.record(k, journal_outcome::done, {*output_key_of(out)});
      keys.push_back(k);
    }
    CHECK(j.size() == inputs);
    CHECK(j.claim_count() == inputs);
    // Every original moved away (on_success): only the names stay.
    for (auto& k : keys)
      j.forget(k.path);
    CHECK(j.size() == 0);
    CHECK(j.claim_count() == inputs);
  }
  // A consumer took two thirds of the outputs away.
  for (int i = 0; i < inputs; ++i)
    if (i % 3 != 0)
      fs::remove(dir / "out" / fmt::format("{}.png", i));
  journal j{dir / "state"};
  CHECK(j.size() == 0);
  CHECK(j.claim_count() == inputs / 3);
  // The log too: 3000 claims, 3000 entries and 3000 forgets were 9000
  // lines; what is left is a line per output still there.
  CHECK(j.lines() == inputs / 3);
  CHECK(j.owner_of((dir / "out" / "0.png").string(), "x") == keys[0].path);
  CHECK_FALSE(j.owner_of((dir / "out" / "1.png").string(), "x"));
  // Outputs that go while it runs are dropped by the next compaction.
  for (int i = 0; i < inputs; i += 3)
    if (i % 2 == 0)
      fs::remove(dir / "out" / fmt::format("{}.png", i));
  REQUIRE(j.compact_now());
  CHECK(j.claim_count() == inputs / 6);
  CHECK(j.lines() == inputs / 6);
}

TEST_CASE("compaction keeps which outputs each version wrote, and whose "
          "they became",
          "[journal][claims]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "in" / "a.gif", "ggg");
  write_file(dir / "out" / "a.png", "A output");
  write_file(dir / "out" / "a.webp", "A webp");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto gif = *key_of(dir / "in" / "a.gif");
  auto png = *output_key_of(dir / "out" / "a.png");
  auto webp = *output_key_of(dir / "out" / "a.webp");
  {
    journal j{dir / "state"};
    j.record(a, journal_outcome::done, {png, webp});
    // Stale lines between.
    file_key c{(dir / "in" / "c.jpg").string(), 1, 1, 1};
    for (int i = 0; i < 500; ++i) {
      c.hash = std::uint64_t(i);
      j.record(c, journal_outcome::failed);
    }
    CHECK(j.check_outputs(a).empty());
    REQUIRE(j.compact_now());
    CHECK(j.check_outputs(a).empty());
    // Then another input writes over one of them (on_collision = replace).
    j.record(gif, journal_outcome::done, {webp});
    REQUIRE(j.compact_now());
    // a's two outputs and a, gif's output and gif, c's last version.
    CHECK(j.lines() == 6);
    CHECK_THAT(j.check_outputs(a),
               Catch::Contains("written since for " + gif.path));
    CHECK(j.check_outputs(gif).empty());
  }
  journal j{dir / "state"};
  CHECK_THAT(j.check_outputs(a),
             Catch::Contains("written since for " + gif.path));
  CHECK(j.check_outputs(gif).empty());
  CHECK(j.owner_of(webp.path, a.path) == gif.path);
  CHECK(j.owner_of(png.path, gif.path) == a.path);
}

TEST_CASE("a journal whose outputs are apart from their versions, as "
          "earlier compactions wrote it, trusts none of them",
          "[journal][claims]") {
  temp_dir dir;
  write_file(dir / "in" / "a.jpg", "aaa");
  write_file(dir / "out" / "a.png", "A output");
  auto a = *key_of(dir / "in" / "a.jpg");
  auto png = *output_key_of(dir / "out" / "a.png");
  {
    journal j{dir / "state"};
    j.record(a, journal_outcome::done, {png});
  }
  // The same lines, with another version's line between the output and
  // its version.
  auto text = read_file(dir / "state" / "journal.log");
  auto d = text.find("\nD\t");
  file_key b{(dir / "in" / "b.jpg").string(), 1, 1, 1};
  text.insert(d + 1, fmt::format("F\t1\t1\t{:016x}\t{}\n", 1, b.path));
  write_file(dir / "state" / "journal.log", text);
  fs::permissions(dir / "state" / "journal.log",
                  fs::perms::owner_read | fs::perms::owner_write);
  journal j{dir / "state"};
  CHECK(j.lookup(a) == journal_outcome::done);
  CHECK(j.lookup(b) == journal_outcome::failed);
  CHECK(j.owner_of(png.path, b.path) == a.path);
  // Processed again before its original may go.
  CHECK_THAT(j.check_outputs(a), Catch::Contains("lists no output"));
}

namespace {

/// A journal of `live` done inputs (one output each; every third output's
/// input forgotten since), `stale` superseded lines, and an input whose
/// output another input wrote over: written as a watch would have
/// appended it.
struct big_journal {
  std::vector<file_key> live;
  std::vector<file_key> forgotten;
  std::vector<std::pair<std::string, std::string>> claims;
  file_key overwritten, overwriter;
  std::string text = "pixline-journal\t2\txxh3\t\n";

  big_journal(const fs::path& dir, int count, int stale) {
    auto out_line = [&](const file_key& k, const std::string& out) {
      text += fmt::format("O\t{}\t{:016x}\t{:016x}\t{}\t{}\n", 100, 7, k.hash,
                          k.path, out);
    };
    auto line = [&](char kind, const file_key& k) {
      text += fmt::format("{}\t{}\t{}\t{:016x}\t{}\n", kind, k.size,
                          k.mtime_ns, k.hash, k.path);
    };
    for (int i = 0; i < count; ++i) {
      file_key k{(dir / "in" / fmt::format("{}.jpg", i)).string(),
                 std::uint64_t(1000 + i), std::int64_t(i),
                 std::uint64_t(0x1000 + i)};
      auto out = (dir / "out" / fmt::format("{}.png", i)).string();
      // Earlier versions of it, superseded.
      for (int s = 0; s < stale / count; ++s) {
        auto old = k;
        old.hash = std::uint64_t(0x900000 + s);
        out_line(old, out);
        line('D', old);
      }
      out_line(k, out);
      line('D', k);
      claims.emplace_back(out, k.path);
      if (i % 3 == 0) {
        line('X', k);
        forgotten.push_back(k);
      } else {
        live.push_back(k);
      }
    }
    overwritten = {(dir / "in" / "first.jpg").string(), 1, 1, 0xf1};
    overwriter = {(dir / "in" / "second.jpg").string(), 2, 2, 0xf2};
    auto shared = (dir / "out" / "shared.png").string();
    out_line(overwritten, shared);
    line('D', overwritten);
    out_line(overwriter, shared);
    line('D', overwriter);
    live.push_back(overwritten);
    live.push_back(overwriter);
    claims.emplace_back(shared, overwriter.path);
    std::sort(claims.begin(), claims.end());
  }
};

} // namespace

TEST_CASE("a compaction killed at any moment loses nothing and forges "
          "nothing",
          "[journal][claims][crash]") {
  temp_dir dir;
  // A child process opens a journal most of whose lines are stale, so it
  // compacts it, and is killed at a random moment: whichever file is left
  // (the old log, the new one, a temporary beside it), the journal read
  // back must say exactly what it said before.
  big_journal big{dir.path(), 6000, 60000};
  auto state = dir / "state";
  auto prepare = [&] {
    fs::remove_all(state);
    fs::create_directories(state);
    fs::permissions(state, fs::perms::owner_all);
    write_file(state / "journal.log", big.text);
    fs::permissions(state / "journal.log",
                    fs::perms::owner_read | fs::perms::owner_write);
  };
  using claim_list = std::vector<std::pair<std::string, std::string>>;
  // What any reader must find: the live inputs done, the forgotten not,
  // the claims of live inputs (the forgotten inputs' outputs are gone, so
  // their names are free), and the overwritten input's output someone
  // else's.
  claim_list want;
  for (auto& claim : big.claims)
    if (std::any_of(big.live.begin(), big.live.end(),
                    [&](const file_key& k) { return k.path == claim.second; }))
      want.push_back(claim);
  auto check = [&](journal& j) {
    CHECK(j.size() == big.live.size());
    std::size_t done = 0;
    for (auto& k : big.live)
      done += j.lookup(k) == journal_outcome::done;
    CHECK(done == big.live.size());
    std::size_t forged = 0;
    for (auto& k : big.forgotten)
      forged += j.lookup(k).has_value();
    CHECK(forged == 0);
    auto claims = j.claims();
    std::sort(claims.begin(), claims.end());
    CHECK(claims == want);
    CHECK_THAT(j.check_outputs(big.overwritten),
               Catch::Contains("written since for " + big.overwriter.path));
  };
  // A child that opens the journal, killed after `kill_after` (never when
  // negative).
  auto run_child = [&](std::chrono::microseconds kill_after) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        journal j{state};
        ::_exit(j.lines() < 70000 ? 0 : 1);
      } catch (...) {
        ::_exit(2);
      }
    }
    if (kill_after.count() >= 0) {
      std::this_thread::sleep_for(kill_after);
      ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };
  // How long a whole compaction takes here, in a process of its own: the
  // quickest of three, as one slowed down by the machine's other work (an
  // fsync behind other writes) would put most kills after the end.
  auto whole = std::chrono::microseconds::max();
  for (int run = 0; run < 3; ++run) {
    prepare();
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(run_child(std::chrono::microseconds(-1)) == 0);
    whole = std::min(whole,
                     std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - t0));
    journal j{state};
    CHECK(j.lines() < 10000); // it was compacted
    check(j);
  }
  std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<long> when{0, whole.count() * 6 / 5};
  int killed_during = 0;
  for (int trial = 0; trial < 25; ++trial) {
    prepare();
    auto at = std::chrono::microseconds(when(random));
    CAPTURE(trial, at.count());
    auto status = run_child(at);
    if (WIFSIGNALED(status)) {
      ++killed_during;
    }
    journal j{state};
    check(j);
    // And a second reader after that one finds the same.
    journal again{state};
    check(again);
  }
  // Most kills landed before the child was done.
  CHECK(killed_during >= 10);
}
