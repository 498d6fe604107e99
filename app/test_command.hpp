#pragma once

/// `pixline test`: runs a pipeline's fixture cases (docs/config.md,
/// "Testing a pipeline").

#include <string>
#include <vector>

namespace pixline {

struct test_command_options {
  /// Pipeline configs or `NAME_test.toml` files; empty: every
  /// `*_test.toml` under the working directory.
  std::vector<std::string> files;
  /// `--plugin` libraries, besides each config's own.
  std::vector<std::string> plugins;
  /// `--set` overrides applied to every case before the case's own.
  std::vector<std::string> sets;
  /// Keep the log level as it is; otherwise the per-image log lines of the
  /// cases (failures the cases expect, among others) are not printed: the
  /// report says what went wrong.
  bool keep_log_level = false;
};

/// Runs the cases and prints a report; returns 0 when every case passed,
/// 1 when one did not, 5 when there are no cases. Throws config_error for
/// a config or test file that cannot be read.
int run_test_command(const test_command_options& options);

} // namespace pixline
