// check_queue_path: what a message may name below a queue's root.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "actors/run/amqp.hpp"
#include "actors/run/queue_source.hpp"
#include "support/images.hpp"

using namespace pixline;
using namespace pixline::test;
namespace fs = std::filesystem;

TEST_CASE("check_queue_path takes plain relative paths to regular files",
          "[queue]") {
  temp_dir dir;
  fs::create_directories(dir / "root/a/b");
  write_file(dir / "root/a/b/c.jpg", "x");
  write_file(dir / "root/top.jpg", "x");
  auto root = safe_dir::open_root(dir / "root", false);
  CHECK(check_queue_path(root, "a/b/c.jpg") == "a/b/c.jpg");
  CHECK(check_queue_path(root, "top.jpg") == "top.jpg");
  // Missing: not an attack, an error a later delivery may not have.
  CHECK_THROWS_AS(check_queue_path(root, "a/missing.jpg"), std::runtime_error);
  try {
    check_queue_path(root, "a/missing.jpg");
  } catch (const unsafe_path&) {
    FAIL("a missing file is not refused as unsafe");
  } catch (const std::runtime_error&) {
  }
}

TEST_CASE("check_queue_path refuses every way out of the root", "[queue]") {
  temp_dir dir;
  fs::create_directories(dir / "root/a");
  write_file(dir / "outside.jpg", "secret");
  write_file(dir / "root/a/ok.jpg", "x");
  fs::create_symlink(dir / "outside.jpg", dir / "root/a/link.jpg");
  fs::create_symlink(dir.path(), dir / "root/up");
  fs::create_symlink("ok.jpg", dir / "root/a/inner-link.jpg");
  REQUIRE(::mkfifo((dir / "root/a/fifo.jpg").c_str(), 0600) == 0);
  auto root = safe_dir::open_root(dir / "root", false);
  for (std::string bad : std::vector<std::string>{
         "", "/etc/passwd", "../outside.jpg", "a/../../outside.jpg",
        "a/../a/ok.jpg", "./a/ok.jpg", "a//ok.jpg", "a/ok.jpg/",
        ".hidden.jpg", "a/.pixline-1-abc.tmp", "a/link.jpg",
        "up/outside.jpg", "a/inner-link.jpg", "a/fifo.jpg", "a",
        "a/ok.jpg\n", std::string("a/ok.jpg\0x", 10),
        std::string(5000, 'a')}) {
    INFO(bad);
    CHECK_THROWS_AS(check_queue_path(root, bad), unsafe_path);
  }
}

TEST_CASE("parse_amqp_url takes the password from the environment",
          "[queue]") {
  auto a = parse_amqp_url("amqp://worker:inurl@broker.lan:5673/photos", "");
  CHECK(a.host == "broker.lan");
  CHECK(a.port == 5673);
  CHECK(a.user == "worker");
  CHECK(a.password == "inurl");
  CHECK(a.vhost == "photos");
  // Never shows the password.
  CHECK(a.shown.find("inurl") == std::string::npos);
  ::setenv("PIXLINE_TEST_AMQP_PASSWORD", "fromenv", 1);
  CHECK(parse_amqp_url("amqp://worker:inurl@h/", "PIXLINE_TEST_AMQP_PASSWORD")
          .password
        == "fromenv");
  ::unsetenv("PIXLINE_TEST_AMQP_PASSWORD");
  CHECK(parse_amqp_url("amqp://worker:inurl@h/", "PIXLINE_TEST_AMQP_PASSWORD")
          .password
        == "inurl");
  CHECK_THROWS_AS(parse_amqp_url("amqps://h/", ""), std::invalid_argument);
  CHECK_THROWS_AS(parse_amqp_url("http://h/", ""), std::invalid_argument);
  CHECK_THROWS_AS(parse_amqp_url("amqp://h:notaport/", ""),
                  std::invalid_argument);
}
