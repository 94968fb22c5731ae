#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/clock.h"

namespace aee {

/// The descriptor of this process' connected socket with these ends (peer address
/// as inet_ntop prints it), or -1. Costs one readdir of /proc/self/fd and a few
/// system calls per descriptor.
int FindConnectionSocket(const std::string& peer_addr, int peer_port, int local_port);

/// Keeps any one client address from holding more than its share of a
/// thread-per-connection server: of the connections accepted on the server's
/// ports that one address has open, all but the oldest `cap` are shut down.
///
/// civetweb gives a worker thread to each connection for its whole life (idle
/// keep-alive and half-sent requests included) and tells its callbacks neither the
/// socket nor, before a request arrives, the client's address. So the guard looks
/// at the process' own descriptors: every established socket whose local port is
/// one of the server's, grouped by peer address (a socket already shut down, or
/// closed by its peer, no longer counts). A shut-down socket reads end of stream
/// at once, so the worker holding it (or the next to pick it from the queue) closes
/// it and moves on, instead of waiting for the request timeout. Scans run on a
/// thread of their own, after each Poke() (a worker picked up a connection), at
/// most one per min_gap, so a connection flood costs a bounded number of scans.
class ConnectionGuard {
 public:
  /// cap <= 0 disables the guard (Start() does nothing).
  explicit ConnectionGuard(int cap, std::chrono::milliseconds min_gap = std::chrono::milliseconds(10),
                           const SteadyClock& steady_clock = RealSteadyClock::Instance());
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  /// Starts the scanning thread for connections accepted on local_ports.
  void Start(std::vector<int> local_ports);
  void Stop();
  /// Asks for a scan soon (a new connection is being served).
  void Poke();
  /// One scan now; returns how many connections it shut down (tests, and the thread).
  int ScanOnce();
  /// Connections shut down since start.
  std::uint64_t shut_down() const;

 private:
  // A connection as seen by scans: descriptor, peer address, peer port. A
  // descriptor reused by another connection is another key.
  using Key = std::tuple<int, std::string, int>;
  struct Seen {
    std::uint64_t order;  // first seen: lower is older
    bool shut;
  };
  void Run();

  const int cap_;
  const std::chrono::milliseconds min_gap_;
  const SteadyClock& steady_clock_;
  std::set<int> ports_;
  std::map<Key, Seen> seen_;  // scan state, only touched under scan_mu_
  std::uint64_t next_order_ = 0;
  std::mutex scan_mu_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stopping_ = false;
  std::uint64_t shut_down_ = 0;
  std::thread thread_;
};

}  // namespace aee
