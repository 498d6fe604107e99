#include "actors/io/writer.hpp"

#include <map>

#include <catch2/catch.hpp>

using namespace pixline;

TEST_CASE("a run's output names: the earlier runs' are asked for, and a "
          "settled name leaves the table",
          "[writer][collision]") {
  // The earlier runs' names, as a watch's journal answers for them.
  std::map<std::string, std::string> earlier{{"/out/a.png", "/in/a.jpg"}};
  int asked = 0;
  output_claims claims{
    [&](const std::string& output,
        const std::string& input) -> std::optional<std::string> {
      ++asked;
      auto it = earlier.find(output);
      if (it == earlier.end() || it->second == input)
        return std::nullopt;
      return it->second;
    }};
  bool fresh = true;
  // Another input is refused, naming the earlier one; its own keeps it.
  CHECK(claims.claim("/out/a.png", "/in/a.gif", &fresh) == "/in/a.jpg");
  CHECK_FALSE(fresh);
  CHECK_FALSE(claims.claim("/out/a.png", "/in/a.jpg", &fresh));
  // A free name is this run's, and then asked for no more.
  CHECK_FALSE(claims.claim("/out/b.png", "/in/b.jpg", &fresh));
  CHECK(fresh);
  int before = asked;
  CHECK(claims.claim("/out/b.png", "/in/c.jpg", &fresh) == "/in/b.jpg");
  CHECK_FALSE(fresh);
  CHECK(asked == before);
  CHECK(claims.size() == 2);
  // Settled by another input: nothing; by its own: the earlier runs'
  // answer (the journal) has it from now on.
  claims.settle("/out/b.png", "/in/c.jpg");
  CHECK(claims.size() == 2);
  earlier["/out/b.png"] = "/in/b.jpg";
  claims.settle("/out/b.png", "/in/b.jpg");
  claims.settle("/out/a.png", "/in/a.jpg");
  CHECK(claims.size() == 0);
  CHECK(claims.claim("/out/b.png", "/in/c.jpg") == "/in/b.jpg");
  // Without earlier runs, a run's table is all there is.
  output_claims alone;
  CHECK_FALSE(alone.claim("/out/a.png", "/in/a.gif"));
  CHECK(alone.claim("/out/a.png", "/in/a.jpg") == "/in/a.gif");
}
