#include "support/broker.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <dirent.h>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace pixline::test {

namespace {

void chown_tree(const fs::path& dir, uid_t uid, gid_t gid) {
  if (::chown(dir.c_str(), uid, gid) != 0)
    throw std::runtime_error("chown of the broker's folder failed");
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (::lchown(e.path().c_str(), uid, gid) != 0)
      throw std::runtime_error("chown of the broker's files failed");
}

/// Stops the epmd that listens on `port` (started by the broker, it
/// outlives it): found by its environment, killed by pid.
void stop_epmd(int port) {
  auto wanted = fmt::format("ERL_EPMD_PORT={}", port);
  DIR* proc = ::opendir("/proc");
  if (!proc)
    return;
  while (auto* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end)
      continue;
    std::ifstream comm(fmt::format("/proc/{}/comm", pid));
    std::string name;
    std::getline(comm, name);
    if (name != "epmd")
      continue;
    std::ifstream environ(fmt::format("/proc/{}/environ", pid));
    std::string text((std::istreambuf_iterator<char>(environ)), {});
    std::string cmdline;
    std::ifstream cmd(fmt::format("/proc/{}/cmdline", pid));
    cmdline.assign((std::istreambuf_iterator<char>(cmd)), {});
    if (text.find(wanted + '\0') != std::string::npos
        || cmdline.find(fmt::format("-port{}{}", '\0', port))
             != std::string::npos)
      ::kill(pid_t(pid), SIGTERM);
  }
  ::closedir(proc);
}

} // namespace

namespace {

/// A CA (ca.pem, ca.key) in `dir`, and, signed by it, a certificate for
/// "localhost" (server.pem, server.key).
void make_certificates(const fs::path& dir) {
  fs::create_directories(dir);
  auto key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  write_file(dir / "server.ext", "subjectAltName=DNS:localhost\n");
  std::string out;
  if (run_command(
        fmt::format(
          "cd '{dir}' && openssl req -x509 {key} -keyout ca.key -out ca.pem "
          "-days 2 -subj /CN=pixline-test-ca && openssl req {key} -keyout "
          "server.key -out server.csr -subj /CN=localhost && openssl x509 "
          "-req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out "
          "server.pem -days 2 -extfile server.ext 2>&1",
          fmt::arg("dir", dir.string()), fmt::arg("key", key)),
        &out)
      != 0)
    throw std::runtime_error("openssl could not make the test broker's "
                             "certificates: "
                             + out);
}

} // namespace

test_broker::test_broker(bool tls) {
  char pattern[] = "/tmp/pixline-broker-XXXXXX";
  if (!::mkdtemp(pattern))
    throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  fs::create_directories(dir_ / "mnesia");
  fs::create_directories(dir_ / "log");
  write_file(dir_ / "plugins", "[rabbitmq_management].\n");
  auto* pw = ::getpwnam("rabbitmq");
  if (!pw)
    throw std::runtime_error("no rabbitmq user: is rabbitmq-server installed "
                             "(scripts/install-deps.sh)?");
  static int count = 0;
  node_ = fmt::format("pxtest{}x{}@localhost", ::getpid(), ++count);
  port_holder amqp, dist, epmd, management;
  port_ = amqp.port();
  dist_port_ = dist.port();
  epmd_port_ = epmd.port();
  management_port_ = management.port();
  port_holder tls_listener;
  if (tls)
    tls_port_ = tls_listener.port();
  amqp.release();
  dist.release();
  epmd.release();
  management.release();
  tls_listener.release();
  // Counts refreshed every half second (the default is 5 s).
  auto conf = fmt::format("management.tcp.port = {}\n"
                          "management.tcp.ip = 127.0.0.1\n"
                          "collect_statistics_interval = 500\n",
                          management_port_);
  if (tls) {
    make_certificates(dir_ / "tls");
    conf += fmt::format("listeners.ssl.default = {port}\n"
                        "ssl_options.cacertfile = {dir}/ca.pem\n"
                        "ssl_options.certfile = {dir}/server.pem\n"
                        "ssl_options.keyfile = {dir}/server.key\n"
                        "ssl_options.verify = verify_none\n"
                        "ssl_options.fail_if_no_peer_cert = false\n",
                        fmt::arg("port", tls_port_),
                        fmt::arg("dir", (dir_ / "tls").string()));
  }
  write_file(dir_ / "rabbitmq.conf", conf);
  chown_tree(dir_, pw->pw_uid, pw->pw_gid);
  start();
}

test_broker::~test_broker() {
  stop();
  stop_epmd(epmd_port_);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string test_broker::env() const {
  return fmt::format(
    "RABBITMQ_NODENAME={node} RABBITMQ_NODE_PORT={port} "
    "RABBITMQ_DIST_PORT={dist} RABBITMQ_MNESIA_BASE={dir}/mnesia "
    "RABBITMQ_LOG_BASE={dir}/log RABBITMQ_ENABLED_PLUGINS_FILE={dir}/plugins "
    "RABBITMQ_CONFIG_FILE={dir}/rabbitmq.conf ERL_EPMD_PORT={epmd} "
    "HOME={dir}",
    fmt::arg("node", node_), fmt::arg("port", port_),
    fmt::arg("dist", dist_port_), fmt::arg("dir", dir_.string()),
    fmt::arg("epmd", epmd_port_));
}

void test_broker::start() {
  std::vector<std::string> args{"/usr/bin/env"};
  for (auto word : {fmt::format("RABBITMQ_NODENAME={}", node_),
                    fmt::format("RABBITMQ_NODE_PORT={}", port_),
                    fmt::format("RABBITMQ_DIST_PORT={}", dist_port_),
                    fmt::format("RABBITMQ_MNESIA_BASE={}/mnesia", dir_.string()),
                    fmt::format("RABBITMQ_LOG_BASE={}/log", dir_.string()),
                    fmt::format("RABBITMQ_ENABLED_PLUGINS_FILE={}/plugins",
                                dir_.string()),
                    fmt::format("RABBITMQ_CONFIG_FILE={}/rabbitmq.conf",
                                dir_.string()),
                    fmt::format("ERL_EPMD_PORT={}", epmd_port_),
                    fmt::format("HOME={}", dir_.string())})
    args.push_back(word);
  args.push_back("/usr/sbin/rabbitmq-server");
  server_ = std::make_unique<child_process>(args, dir_ / "server.out");
  // await_startup waits for a booting node, but fails at once while the
  // node has not registered with epmd yet.
  std::string out;
  int rc = 1;
  for (int attempt = 0; attempt < 60 && rc != 0; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::seconds(1));
    out.clear();
    rc = run_command(fmt::format("env {} timeout 60 rabbitmqctl -n {} "
                                 "await_startup 2>&1",
                                 env(), node_),
                     &out);
  }
  if (rc != 0)
    throw std::runtime_error(fmt::format(
      "the test broker did not start: {}\n{}", out,
      read_file(dir_ / "server.out")));
}

void test_broker::stop() {
  if (!server_)
    return;
  run_command(fmt::format("env {} timeout 60 rabbitmqctl -n {} stop >/dev/null "
                          "2>&1",
                          env(), node_));
  if (!server_->wait_for(30))
    server_->signal(SIGKILL);
  server_.reset();
}

std::string test_broker::url() const {
  return fmt::format("amqp://guest:guest@127.0.0.1:{}/", port_);
}

std::string test_broker::tls_url() const {
  return fmt::format("amqps://guest:guest@localhost:{}/?cacertfile={}",
                     tls_port_, tls_ca().string());
}

std::string test_broker::management_url() const {
  return fmt::format("http://127.0.0.1:{}", management_port_);
}

std::string test_broker::ctl(const std::string& args) const {
  std::string out;
  run_command(fmt::format("env {} rabbitmqctl -n {} -q {} 2>&1", env(), node_,
                          args),
              &out);
  return out;
}

} // namespace pixline::test
