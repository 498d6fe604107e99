#include "app/json_log.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

#include "pipeline/log_context.hpp"

namespace pixline {

namespace {

class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count()
              % 1000;
    auto seconds = system_clock::to_time_t(time_point_cast<
                                           std::chrono::seconds>(msg.time));
    nlohmann::ordered_json line;
    line["time"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                               fmt::gmtime(seconds), ms);
    auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["message"] = std::string(msg.payload.data(), msg.payload.size());
    auto& context = log_context::current();
    if (!context.input.empty())
      line["input"] = std::string{context.input};
    if (!context.stage.empty())
      line["stage"] = std::string{context.stage};
    // File names need not be UTF-8: replace what is not, never throw.
    auto text = line.dump(-1, ' ', false,
                          nlohmann::ordered_json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

std::unique_ptr<spdlog::formatter> make_json_log_formatter() {
  return std::make_unique<json_formatter>();
}

} // namespace pixline
