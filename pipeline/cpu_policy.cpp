#include "pipeline/cpu_policy.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace pixline {

const std::vector<std::string>& cpu_policy_names() {
  static const std::vector<std::string> names{"batch", "normal"};
  return names;
}

std::string apply_cpu_policy(const std::string& policy) {
  int kernel_policy;
  if (policy == "batch")
    kernel_policy = SCHED_BATCH;
  else if (policy == "normal")
    kernel_policy = SCHED_OTHER;
  else
    throw std::invalid_argument(fmt::format(
      "cpu_policy must be one of {}, got \"{}\"",
      fmt::join(cpu_policy_names(), ", "), policy));
  sched_param param{};
  param.sched_priority = 0;
  if (sched_setscheduler(0, kernel_policy, &param) != 0)
    return fmt::format("cpu_policy = \"{}\": {}", policy,
                       std::strerror(errno));
  return {};
}

} // namespace pixline
