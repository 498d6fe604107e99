#include "actors/process/channel.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pixline {

namespace {

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

constexpr std::size_t max_fds = 4;

/// No process can change the memfd's bytes any more.
void seal(int fd) {
  if (::fcntl(fd, F_ADD_SEALS,
              F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
      != 0)
    fail("cannot seal a memfd");
}

} // namespace

void send_message(int socket, std::string_view text,
                  const std::vector<int>& fds) {
  if (text.size() > max_message_text || fds.size() > max_fds)
    throw std::system_error(EMSGSIZE, std::generic_category(),
                            "worker message too large");
  iovec iov{const_cast<char*>(text.data()), text.size()};
  // A zero-length datagram reads as end of file on the other side.
  char empty = 0;
  if (text.empty())
    iov = {&empty, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    auto* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  while (::sendmsg(socket, &msg, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      fail("cannot send to the worker process");
}

bool receive_message(int socket, channel_message& message) {
  // Received into a buffer kept per thread, then copied: resizing the text
  // to the largest message each time would clear 60 KiB per message.
  thread_local std::unique_ptr<char[]> buffer(new char[max_message_text]);
  message.fds.clear();
  iovec iov{buffer.get(), max_message_text};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  while ((n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC)) < 0)
    if (errno != EINTR) {
      if (errno == ECONNRESET)
        return false;
      fail("cannot receive from the worker process");
    }
  for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        message.fds.emplace_back(fd);
      }
    }
  if (n == 0)
    return false;
  message.text.assign(buffer.get(), std::size_t(n));
  if (message.text == std::string_view("\0", 1))
    message.text.clear();
  return true;
}

unique_fd memfd_with(std::string_view name, const void* data,
                     std::size_t size, bool sealed) {
  unique_fd fd{::memfd_create(std::string(name).c_str(),
                              MFD_CLOEXEC | (sealed ? MFD_ALLOW_SEALING : 0))};
  if (!fd)
    fail("memfd_create");
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    auto n = ::write(fd.get(), p, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail("cannot write a memfd");
    p += n;
    size -= std::size_t(n);
  }
  if (sealed)
    seal(fd.get());
  return fd;
}

unique_fd sealed_copy_of_file(const std::string& path) {
  unique_fd in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!in)
    fail("cannot open");
  return memfd_copy_of(in.get(), "pixline-resource", true);
}

unique_fd memfd_copy_of(int from, std::string_view name, bool sealed) {
  unique_fd fd{::memfd_create(std::string(name).c_str(),
                              MFD_CLOEXEC | (sealed ? MFD_ALLOW_SEALING : 0))};
  if (!fd)
    fail("memfd_create");
  off_t offset = 0;
  for (;;) {
    auto n = ::sendfile(fd.get(), from, &offset, 1 << 30);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("cannot copy the input");
    if (n == 0)
      break;
  }
  if (sealed)
    seal(fd.get());
  return fd;
}

mapped_file::mapped_file(int fd) {
  struct stat st{};
  if (::fstat(fd, &st) != 0)
    fail("fstat");
  size_ = std::size_t(st.st_size);
  if (size_ == 0)
    return;
  data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (data_ == MAP_FAILED) {
    data_ = nullptr;
    fail("mmap");
  }
}

mapped_file::~mapped_file() {
  if (data_)
    ::munmap(data_, size_);
}

} // namespace pixline
