// libFuzzer target: output name templates (pipeline/naming.hpp). The input
// is a template and the fields, separated by NUL bytes:
//
//     TEMPLATE \0 STEM \0 DIR \0 EXT
//
// check_name_template reports errors as a message; render_name throws
// std::runtime_error when the result would be empty or leave the output
// folder. A template that check_name_template accepts must render, or be
// refused only for where the result goes; a rendered name must be relative
// and stay inside the output folder. Anything else is a finding.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "pipeline/naming.hpp"

namespace {

std::vector<std::string> split(const std::string& s, std::size_t parts) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (out.size() + 1 < parts) {
    auto nul = s.find('\0', start);
    if (nul == std::string::npos)
      break;
    out.push_back(s.substr(start, nul - start));
    start = nul + 1;
  }
  out.push_back(s.substr(std::min(start, s.size())));
  out.resize(parts);
  // File names and templates cannot hold NUL (and what() would end there).
  auto& last = out.back();
  last.erase(std::remove(last.begin(), last.end(), '\0'), last.end());
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using pixline::fuzz::require;
  auto parts = split({reinterpret_cast<const char*>(data), size}, 4);
  const auto& tmpl = parts[0];
  pixline::name_fields fields{parts[1], parts[3], "jpeg", parts[2],
                              int(size), 480, "fedcba9876543210"};
  auto problem = pixline::check_name_template(tmpl);
  std::string name;
  try {
    name = pixline::render_name(tmpl, fields);
  } catch (const std::runtime_error& e) {
    if (!problem) {
      // A valid template fails only for where it points.
      std::string why = e.what();
      require(why.find("relative path") != std::string::npos
                || why.find("leaves the output folder") != std::string::npos,
              "a checked template failed to render");
    }
    return 0;
  }
  // A template that leaves the output folder for some values of its
  // fields ("{dir}/../{stem}" at the input root) is refused, though it
  // renders for others.
  require(!problem
            || problem->find("outside the output folder") != std::string::npos,
          "a template check_name_template refused rendered");
  std::filesystem::path p{name};
  require(!name.empty() && p.is_relative(), "rendered name is not relative");
  require(p.lexically_normal() == p, "rendered name is not normalised");
  for (const auto& part : p)
    require(part != "..", "rendered name leaves the output folder");
  return 0;
}
