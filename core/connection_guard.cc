#include "core/connection_guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>

namespace aee {
namespace {

// Port and numeric address of one end of a socket; false for anything that is not
// a connected IPv4/IPv6 socket (files, pipes, listening sockets).
bool SocketEnd(int fd, bool peer, std::string* addr, int* port) {
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  auto* raw = reinterpret_cast<sockaddr*>(&sa);
  if ((peer ? getpeername(fd, raw, &len) : getsockname(fd, raw, &len)) != 0) return false;
  char text[INET6_ADDRSTRLEN] = {0};
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    *port = ntohs(in->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    *port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  if (addr != nullptr) *addr = text;
  return true;
}

// Calls f(fd) for each descriptor of the process until it returns true.
template <typename F>
void ForEachDescriptor(F f) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (f(static_cast<int>(fd))) break;
  }
  closedir(dir);
}

// Whether a TCP socket is established: one already shut down (by the guard, or
// after a 429) or closed by its peer is on its way out and holds no share.
bool Established(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_ESTABLISHED;
}

}  // namespace

int FindConnectionSocket(const std::string& peer_addr, int peer_port, int local_port) {
  int found = -1;
  ForEachDescriptor([&](int fd) {
    std::string addr;
    int port = 0;
    if (!SocketEnd(fd, /*peer=*/true, &addr, &port) || port != peer_port || addr != peer_addr) return false;
    if (!SocketEnd(fd, /*peer=*/false, nullptr, &port) || port != local_port) return false;
    found = fd;
    return true;
  });
  return found;
}

ConnectionGuard::ConnectionGuard(int cap, std::chrono::milliseconds min_gap, const SteadyClock& steady_clock)
    : cap_(cap), min_gap_(min_gap), steady_clock_(steady_clock) {}

ConnectionGuard::~ConnectionGuard() { Stop(); }

void ConnectionGuard::Start(std::vector<int> local_ports) {
  if (cap_ <= 0 || thread_.joinable()) return;
  ports_ = std::set<int>(local_ports.begin(), local_ports.end());
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ConnectionGuard::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ConnectionGuard::Poke() {
  if (cap_ <= 0) return;
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_one();
}

std::uint64_t ConnectionGuard::shut_down() const {
  std::lock_guard lock(mu_);
  return shut_down_;
}

void ConnectionGuard::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return poked_ || stopping_; });
    if (stopping_) return;
    poked_ = false;
    lock.unlock();
    const int n = ScanOnce();
    lock.lock();
    shut_down_ += static_cast<std::uint64_t>(n);
    // At most one scan per gap: pokes that arrive meanwhile are served by the next.
    if (steady_clock_.WaitUntil(cv_, lock, steady_clock_.Now() + min_gap_, [this] { return stopping_; })) return;
  }
}

int ConnectionGuard::ScanOnce() {
  if (cap_ <= 0) return 0;
  std::lock_guard scan_lock(scan_mu_);
  std::map<Key, Seen> now;
  ForEachDescriptor([&](int fd) {
    int local_port = 0;
    if (!SocketEnd(fd, /*peer=*/false, nullptr, &local_port) || !ports_.contains(local_port)) return false;
    Key key{fd, {}, 0};
    if (!SocketEnd(fd, /*peer=*/true, &std::get<1>(key), &std::get<2>(key)) || !Established(fd)) return false;
    auto it = seen_.find(key);
    now.emplace(key, it != seen_.end() ? it->second : Seen{next_order_++, false});
    return false;
  });
  seen_ = std::move(now);  // connections gone since the last scan are forgotten

  // Per address, the open connections not yet shut down, oldest first.
  std::map<std::string, std::vector<std::pair<std::uint64_t, std::map<Key, Seen>::iterator>>> by_client;
  for (auto it = seen_.begin(); it != seen_.end(); ++it) {
    if (!it->second.shut) by_client[std::get<1>(it->first)].emplace_back(it->second.order, it);
  }
  int shut = 0;
  for (auto& [client, conns] : by_client) {
    if (static_cast<int>(conns.size()) <= cap_) continue;
    std::sort(conns.begin(), conns.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = static_cast<size_t>(cap_); i < conns.size(); ++i) {
      auto it = conns[i].second;
      // The descriptor may have been closed and reused since it was read: shut it
      // down only if it is still the same connection.
      const int fd = std::get<0>(it->first);
      std::string addr;
      int port = 0;
      if (!SocketEnd(fd, /*peer=*/true, &addr, &port) || addr != std::get<1>(it->first) ||
          port != std::get<2>(it->first)) {
        continue;
      }
      shutdown(fd, SHUT_RDWR);
      it->second.shut = true;
      ++shut;
    }
  }
  return shut;
}

}  // namespace aee
