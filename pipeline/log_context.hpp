#pragma once

/// The input and stage a log line is about, for logs written as JSON
/// (`--log-format json`: app/json_log.hpp). Set around a log call with
/// `log_about`; the formatter, which runs in the same thread, adds them as
/// fields. Text logs ignore them: the message names the file anyway.

#include <string_view>

namespace pixline {

struct log_context {
  std::string_view input;
  std::string_view stage;

  /// What the calling thread is logging about now.
  static const log_context& current() {
    return slot();
  }

private:
  friend class log_about;
  static log_context& slot() {
    static thread_local log_context context;
    return context;
  }
};

/// Scope in which the calling thread's log lines are about `input` (and
/// `stage`, when given); the views must outlive the scope.
class log_about {
public:
  explicit log_about(std::string_view input, std::string_view stage = {})
    : saved_(log_context::slot()) {
    log_context::slot() = {input, stage};
  }
  ~log_about() {
    log_context::slot() = saved_;
  }
  log_about(const log_about&) = delete;
  log_about& operator=(const log_about&) = delete;

private:
  log_context saved_;
};

} // namespace pixline
