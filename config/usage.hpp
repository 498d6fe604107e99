#pragma once
// A mistake in the options a run was given on the command line (or, by a
// program, in run_options), as opposed to one in a config file
// (config_error): the `pixline` program reports it as a usage error (exit
// 2), naming the option.

#include <stdexcept>

namespace pixline {

/// An option given on the command line that cannot work: `what()` names it
/// and says why.
class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace pixline
