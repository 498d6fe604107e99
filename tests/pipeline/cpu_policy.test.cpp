#include "pipeline/cpu_policy.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

using namespace pixline;

namespace {

/// The policy of a thread started by the calling thread.
int policy_of_new_thread() {
  int policy = -1;
  std::thread t([&] { policy = sched_getscheduler(0); });
  t.join();
  return policy;
}

} // namespace

// Each case runs on a thread of its own: the policy is per thread, and the
// test runner's thread keeps its own.
TEST_CASE("cpu_policy batch: SCHED_BATCH, for the threads started after too",
          "[pipeline][cpu_policy]") {
  std::thread([] {
    auto tid = id_t(syscall(SYS_gettid));
    int nice = getpriority(PRIO_PROCESS, tid);
    CHECK(apply_cpu_policy("batch").empty());
    CHECK(sched_getscheduler(0) == SCHED_BATCH);
    CHECK(policy_of_new_thread() == SCHED_BATCH);
    // The nice value, and so the share of the CPU, is not changed.
    CHECK(getpriority(PRIO_PROCESS, tid) == nice);
    CHECK(apply_cpu_policy("normal").empty());
    CHECK(sched_getscheduler(0) == SCHED_OTHER);
    CHECK(policy_of_new_thread() == SCHED_OTHER);
  }).join();
}

TEST_CASE("cpu_policy: an unknown name is refused, naming the choices",
          "[pipeline][cpu_policy]") {
  std::thread([] {
    int before = sched_getscheduler(0);
    try {
      apply_cpu_policy("fifo");
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what())
            == "option 'cpu_policy' must be one of batch, normal, got "
               "\"fifo\"");
    }
    CHECK(sched_getscheduler(0) == before);
  }).join();
}
