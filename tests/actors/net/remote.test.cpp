#include "actors/net/remote.hpp"

#include <caf/io/all.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "actors/flow/credit.hpp"

using namespace pixline;

TEST_CASE("a coordinator takes only an actor with a node's interface as a "
          "node",
          "[remote]") {
  // A real CAF actor published at a port, answering the set-up message as
  // an untyped node did: its workers come back as plain actor handles.
  caf::actor_system_config cfg;
  add_protocol_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto impostor = sys.spawn([]() -> caf::behavior {
    return {
      [](setup_atom, const std::string&, std::uint32_t, const caf::actor&) {
        return std::vector<caf::actor>{};
      },
    };
  });
  auto port = sys.middleman().publish(impostor, 0, "127.0.0.1");
  REQUIRE(port);

  stage_runtime stage;
  stage.name = "save";
  stage.workers = 0;
  stage.remote = {{"x", 1, {}}};
  stage.recipe = R"({"kind":"save"})";
  stage.make_worker = [] { return work_fn([](job&) {}); };
  stage.make_remote_half = [] { return remote_half{}; };
  flow_options options;
  node_section node;
  node.name = "x";
  node.address = fmt::format("127.0.0.1:{}", *port);
  node.connect_timeout = 2;
  options.nodes = {node};
  job one;
  one.path = "in/1.jpg";
  CHECK_THROWS_WITH(run_flow({stage}, std::vector<job>{one}, options),
                    fmt::format("node x (127.0.0.1:{}): cannot connect: the "
                                "actor at that port is not a pixline node of "
                                "this version (its messages differ)",
                                *port));
  caf::anon_send_exit(impostor, caf::exit_reason::user_shutdown);
}
