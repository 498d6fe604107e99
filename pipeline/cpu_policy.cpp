#include "pipeline/cpu_policy.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "pipeline/spec.hpp"

namespace pixline {

namespace {

const choice_table<int, 2> policy_table = {
  {"batch", SCHED_BATCH},
  {"normal", SCHED_OTHER},
};

} // namespace

const std::vector<std::string>& cpu_policy_names() {
  static const std::vector<std::string> names = choice_names(policy_table);
  return names;
}

std::string apply_cpu_policy(const std::string& policy) {
  int kernel_policy = choice_value("cpu_policy", policy_table, policy);
  sched_param param{};
  param.sched_priority = 0;
  if (sched_setscheduler(0, kernel_policy, &param) != 0)
    return fmt::format("cpu_policy = \"{}\": {}", policy,
                       std::strerror(errno));
  return {};
}

} // namespace pixline
