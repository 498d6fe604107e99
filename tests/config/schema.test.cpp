#include "config/schema.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "config/config.hpp"
#include "pipeline/registry.hpp"
#include "support/images.hpp"

using namespace pixline;
using Catch::Contains;

TEST_CASE("docs/config.md's option reference is generated from the schemas",
          "[docs][config]") {
  auto actual = test::read_file(test::source_dir() / "docs" / "config.md");
  INFO("docs/config.md is stale: regenerate it with `build/pixline stages "
       "--config-reference docs/config.md > config.md.new && mv "
       "config.md.new docs/config.md` (or `ninja -C build config-docs`)");
  CHECK(with_config_reference(actual) == actual);
  // Every table has its place, and the generated text is in the file.
  for (auto& [table, text] : config_reference()) {
    INFO(table);
    CHECK_THAT(actual, Contains(text));
  }
}

TEST_CASE("the reference is refused a place without its markers",
          "[docs][config]") {
  CHECK_THROWS_WITH(with_config_reference("# no markers\n"),
                    Contains("<!-- BEGIN options [pipeline]"));
}

TEST_CASE("a schema's defaults are the section's defaults",
          "[config]") {
  // The reader sets only what a table gives; the reference shows the
  // schema's defaults: they must be the same values.
  auto p = pipeline_schema().decode({});
  pipeline_section pd;
  CHECK(p.name == pd.name);
  CHECK(p.max_in_flight == pd.max_in_flight);
  CHECK(p.vips_concurrency == pd.vips_concurrency);
  CHECK(p.cpu_policy == pd.cpu_policy);
  CHECK(p.vips_cache == pd.vips_cache);
  CHECK(p.fanout_memory_mib == pd.fanout_memory_mib);
  CHECK(p.manifest == pd.manifest);
  CHECK(p.base_url == pd.base_url);
  CHECK(p.isolation == pd.isolation);
  CHECK(p.image_timeout == pd.image_timeout);
  CHECK(p.worker_memory_mib == pd.worker_memory_mib);
  CHECK(p.crash_retries == pd.crash_retries);
  auto s = source_schema().decode({});
  source_section sd;
  CHECK(s.kind == sd.kind);
  CHECK(s.recursive == sd.recursive);
  CHECK(s.case_sensitive == sd.case_sensitive);
  CHECK(s.settle_ms == sd.settle_ms);
  CHECK(s.on_success == sd.on_success);
  CHECK(s.on_failure == sd.on_failure);
  CHECK(s.retries == sd.retries);
  CHECK(s.password_env == sd.password_env);
  CHECK(s.queue == sd.queue);
  CHECK(s.max_deliveries == sd.max_deliveries);
  auto n = node_schema().decode({});
  node_section nd;
  CHECK(n.tls == nd.tls);
  CHECK(n.timeout == nd.timeout);
  CHECK(n.connect_timeout == nd.connect_timeout);
  CHECK(n.connection_timeout == nd.connection_timeout);
  CHECK(n.wire == nd.wire);
  CHECK(metrics_schema().decode({}).listen == metrics_section{}.listen);
}

TEST_CASE("the pipeline-wide tables are checked by their schemas",
          "[config]") {
  auto reg = builtin_registry();
  auto error_of = [&](const std::string& text) {
    try {
      parse_config(text + "\n[sink]\n", "t.toml", reg);
    } catch (const config_error& e) {
      return std::string{e.what()};
    }
    return std::string{"no error"};
  };
  // Ranges from the schema, at the value.
  CHECK(error_of("[pipeline]\nvips_concurrency = 65")
        == "t.toml:2:20: option 'vips_concurrency' must be between 1 and 64, "
           "got 65");
  // A rule about one option, at that option's value.
  CHECK(error_of("[pipeline]\nname = \"x\"\nmanifest = \"out/\"")
        == "t.toml:3:12: manifest: name a file (\"out/manifest.json\"), or a "
           "per-input template (\"{dir}/{stem}.json\")");
  // Leaving manifest out is fine; only an explicit "" is not.
  CHECK(error_of("[pipeline]\nmanifest = \"\"")
        == "t.toml:2:12: manifest: name a file (\"out/manifest.json\"), or a "
           "per-input template (\"{dir}/{stem}.json\")");
  CHECK(error_of("[pipeline]\nname = \"x\"") == "no error");
  // Required options, at the table.
  CHECK(error_of("[[node]]\nname = \"a\"")
        == "t.toml:1:1: [[node]] needs an address (address = \"HOST:PORT\")");
  CHECK(error_of("[[node]]\naddress = \"h:1\"")
        == "t.toml:1:1: [[node]] needs a name (name = \"a\"), used in stages' "
           "workers = { a = 4 }");
  CHECK_THAT(error_of("[tls]\ncertificate = \"c\"\nkey = \"k\""),
             Contains("t.toml:1:1: [tls] needs certificate, key and ca"));
  CHECK_THAT(error_of("[tls]\ncertificate = \"c\"\nkey = \"k\"\nca = \"\""),
             Contains("t.toml:1:1: [tls] needs certificate, key and ca"));
  CHECK(error_of("[[node]]\nname = \"local\"\naddress = \"h:1\"")
        == "t.toml:2:8: node name \"local\" must be letters, digits, '_' or "
           "'-', and not \"local\"");
  CHECK_THAT(error_of("[[node]]\nname = \"a\"\naddress = \"h\""),
             Contains("t.toml:3:11: option 'address': "));
  // Hints from the schema's option names, the non-scalar keys included.
  CHECK(error_of("[source]\npath = \"in\"\nexclud = [\"*.txt\"]")
        == "t.toml:3:1: [source] has no key 'exclud' (did you mean "
           "'exclude'?)");
  CHECK(error_of("[[node]]\nname = \"a\"\naddress = \"h:1\"\nwier = \"png\"")
        == "t.toml:4:1: [[node]] has no key 'wier' (did you mean 'wire'?)");
}

TEST_CASE("every stage table shares one declaration of workers and "
          "max_in_flight",
          "[config]") {
  auto reg = builtin_registry();
  auto error_of = [&](const std::string& text) {
    try {
      parse_config(text, "t.toml", reg);
    } catch (const config_error& e) {
      return e.reason();
    }
    return std::string{"no error"};
  };
  auto& workers = placement_options()[0];
  REQUIRE(workers.name == "workers");
  auto too_many = fmt::format("option 'workers' must be between 1 and {}, "
                              "got 5000",
                              *workers.max);
  CHECK(error_of("[source]\npath = \"in\"\nworkers = 5000\n[sink]\n")
        == too_many);
  CHECK(error_of("[[filter]]\ntype = \"sharpen\"\nworkers = 5000\n[sink]\n")
        == too_many);
  CHECK(error_of("[sink]\nworkers = 5000\n") == too_many);
}
