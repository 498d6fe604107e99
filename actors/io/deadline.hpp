#pragma once

#include <atomic>
#include <chrono>

#include <glib-object.h>
#include <vips/vips8>

namespace pixline {

/// Stops libvips' evaluation of an image once a deadline passes: libvips
/// emits "eval" as it computes, and a killed image fails its computation.
class deadline_guard {
public:
  deadline_guard(const vips::VImage& img, double seconds)
    : image_(img),
      deadline_(std::chrono::steady_clock::now()
                + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(seconds))) {
    if (seconds <= 0)
      return;
    vips_image_set_progress(image_.get_image(), TRUE);
    handler_ = g_signal_connect(image_.get_image(), "eval",
                                G_CALLBACK(on_eval), this);
  }

  deadline_guard(const deadline_guard&) = delete;
  deadline_guard& operator=(const deadline_guard&) = delete;

  ~deadline_guard() {
    if (handler_ != 0)
      g_signal_handler_disconnect(image_.get_image(), handler_);
  }

  bool expired() const {
    return expired_.load();
  }

  /// What libvips' "eval" does: kills the image once the deadline has
  /// passed. For code that computes an image without libvips' sinks, which
  /// emit "eval".
  void check() {
    if (handler_ != 0 && std::chrono::steady_clock::now() > deadline_) {
      expired_ = true;
      vips_image_set_kill(image_.get_image(), TRUE);
    }
  }

private:
  static void on_eval(VipsImage*, VipsProgress*, gpointer self) {
    static_cast<deadline_guard*>(self)->check();
  }

  // A reference of its own: the job drops its image before the guard dies.
  vips::VImage image_;
  std::chrono::steady_clock::time_point deadline_;
  gulong handler_ = 0;
  std::atomic<bool> expired_{false};
};

} // namespace pixline
