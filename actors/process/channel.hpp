#pragma once
// The link between pixline and one of its worker processes
// (docs/operations.md, "Isolation"): small messages with file descriptors
// attached, over a SOCK_SEQPACKET Unix socket. Bulk bytes (an input file,
// encoded outputs larger than a message) travel as memfds; outputs that fit
// come in the reply itself, after its JSON and a NUL.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/safe_fs.hpp"

namespace pixline {

/// One message: a text (JSON) and the descriptors sent with it.
struct channel_message {
  std::string text;
  std::vector<unique_fd> fds;
};

/// Largest text of one message; longer data goes in a memfd.
constexpr std::size_t max_message_text = 60 * 1024;

/// Sends `text` with `fds` (at most 4) as one message. Throws
/// std::system_error (EPIPE when the other end is gone).
void send_message(int socket, std::string_view text,
                  const std::vector<int>& fds = {});

/// Receives one message. Returns false at end of file (the other end closed
/// or died). Throws std::system_error on other errors.
bool receive_message(int socket, channel_message& message);

/// A new memfd (close-on-exec) holding `bytes`; `sealed`, no process can
/// change it any more (F_SEAL_WRITE and the rest). Throws std::system_error.
unique_fd memfd_with(std::string_view name, const void* data,
                     std::size_t size, bool sealed = false);

/// A sealed memfd holding the file at `path`. Throws std::system_error.
unique_fd sealed_copy_of_file(const std::string& path);

/// Copies everything `from` can read (a file, from its start) into a new
/// memfd, in the kernel; `sealed` as for memfd_with. Throws
/// std::system_error.
unique_fd memfd_copy_of(int from, std::string_view name, bool sealed = false);

/// A read-only view of a whole file (a memfd), unmapped on destruction.
class mapped_file {
public:
  explicit mapped_file(int fd);
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();
  const unsigned char* data() const {
    return static_cast<const unsigned char*>(data_);
  }
  std::size_t size() const {
    return size_;
  }

private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace pixline
