#include "pipeline/job.hpp"

namespace pixline {

namespace {

std::atomic<std::int64_t> live_images{0};
std::atomic<std::int64_t> peak_images{0};

} // namespace

std::int64_t image_tally::live() {
  return live_images.load();
}

std::int64_t image_tally::peak() {
  return peak_images.load();
}

void image_tally::reset_peak() {
  peak_images.store(live_images.load());
}

image_tally::image_tally() {
  auto now = ++live_images;
  auto prev = peak_images.load();
  while (now > prev && !peak_images.compare_exchange_weak(prev, now)) {
  }
}

image_tally::~image_tally() {
  --live_images;
}

} // namespace pixline
