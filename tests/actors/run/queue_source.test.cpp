// check_queue_path: what a message may name below a queue's root.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "actors/filters/thumbnail.hpp"
#include "actors/io/loader.hpp"
#include "actors/run/amqp.hpp"
#include "actors/run/queue_source.hpp"
#include "pipeline/registry.hpp"
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
  CHECK(bool(check_queue_path(root, "a/b/c.jpg")));
  CHECK(bool(check_queue_path(root, "top.jpg")));
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

TEST_CASE("a checked queue file is loaded even after a symlink replaced "
          "its path",
          "[queue]") {
  temp_dir dir;
  fs::create_directories(dir / "root/in");
  // Inside green, outside red; big enough that thumbnail shrinks the JPEG
  // on load (the fused path) and a PNG it resizes after loading.
  save(solid(400, 300, 0, 200, 0), dir / "root/in/a.jpg");
  save(solid(400, 300, 0, 200, 0), dir / "root/in/b.png");
  save(solid(400, 300, 220, 0, 0), dir / "outside.jpg");
  save(solid(400, 300, 220, 0, 0), dir / "outside.png");
  auto root = safe_dir::open_root(dir / "root", false);
  auto thumb = [] {
    return thumbnail_spec().filter<thumbnail_stage>().make({{"width", std::int64_t(40)}});
  };
  for (std::string name : {"in/a.jpg", "in/b.png"}) {
    for (bool fused : {false, true}) {
      INFO(name << (fused ? " fused with thumbnail" : ""));
      job j;
      j.id = 1;
      j.relative = name;
      j.path = (dir / "root" / name).string();
      j.input_file
        = std::make_shared<const unique_fd>(check_queue_path(root, name));
      // Swapped after the check: the path now leads outside the root.
      auto moved = dir / ("kept-" + fs::path(name).filename().string());
      fs::rename(j.path, moved);
      fs::create_symlink(dir / ("outside" + fs::path(name).extension().string()),
                         j.path);
      loader l{loader_spec().decode({}), load_params{},
               fused ? thumb() : nullptr};
      l.load(j);
      REQUIRE(j.img);
      auto p = pixel(j.img->pixels, 5, 5);
      CHECK(p[0] < 30);
      CHECK(p[1] > 170);
      fs::remove(j.path);
      fs::rename(moved, j.path);
    }
  }
  // The checked file gone from its path altogether: still the checked one.
  job j;
  j.id = 2;
  j.path = (dir / "root/in/a.jpg").string();
  j.input_file
    = std::make_shared<const unique_fd>(check_queue_path(root, "in/a.jpg"));
  fs::remove(j.path);
  loader l{loader_spec().decode({}), load_params{}};
  l.load(j);
  CHECK(pixel(j.img->pixels, 1, 1)[1] > 170);
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
  // TLS, with RabbitMQ's query parameters for the CA and a client
  // certificate.
  auto tls = parse_amqp_url(
    "amqps://worker:pw@broker.lan/photos?cacertfile=/etc/pixline/ca%20x.pem",
    "");
  CHECK(tls.tls);
  CHECK(tls.port == 5671);
  CHECK(tls.vhost == "photos");
  CHECK(tls.ca_file == "/etc/pixline/ca x.pem");
  CHECK(tls.shown == "amqps://worker@broker.lan:5671/photos");
  auto client = parse_amqp_url(
    "amqps://h:5999/?certfile=/c.pem&keyfile=/c.key", "");
  CHECK(client.port == 5999);
  CHECK(client.ca_file.empty());
  CHECK(client.cert_file == "/c.pem");
  CHECK(client.key_file == "/c.key");
  CHECK_FALSE(parse_amqp_url("amqp://h/", "").tls);
  CHECK_THROWS_WITH(parse_amqp_url("amqp://h/?cacertfile=/ca.pem", ""),
                    Catch::Contains("amqps"));
  CHECK_THROWS_WITH(parse_amqp_url("amqps://h/?verify=verify_none", ""),
                    Catch::Contains("unknown parameter \"verify\""));
  CHECK_THROWS_WITH(parse_amqp_url("amqps://h/?certfile=/c.pem", ""),
                    Catch::Contains("go together"));
  CHECK_THROWS_AS(parse_amqp_url("amqps://h/?cacertfile=", ""),
                  std::invalid_argument);
  CHECK_THROWS_AS(parse_amqp_url("http://h/", ""), std::invalid_argument);
  CHECK_THROWS_AS(parse_amqp_url("amqp://h:notaport/", ""),
                  std::invalid_argument);
}
