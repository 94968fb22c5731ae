// live_subscribers: many subscribers of the live view's WebSocket in one process, and
// the time from a committed change to the message that carries it.
//
// Opens --connections WebSockets to /api/v1/workspaces/{id}/realtime/ws, spread
// round-robin over the --workspaces ids (and over --sources loopback addresses
// 127.0.0.2, 127.0.0.3, ... when given), on one epoll loop with a minimal RFC 6455
// client: the handshake, masked frames out (pongs, the close), unmasked frames in,
// fragments joined, pings answered. Once every connection is open it prints
// "ready", and a second thread probes for --duration seconds (or --probes times):
//   after a random pause (uniform in [--min-pause-ms, --max-pause-ms]) it inserts, in
//   one transaction, one running run with a fresh run_id into each workspace, takes
//   the time COMMIT returned, waits until every open subscriber has received a message
//   holding its workspace's run_id (at most --timeout seconds), then completes the runs.
// Then it prints "end", keeps the connections --linger seconds (the caller reads its
// counters meanwhile), closes them and prints one JSON object of counters.
//
// Each (probe, subscriber) pair is a line of --out: probe, connection, workspace index,
// seconds from COMMIT to the read that completed the message, and seconds from COMMIT
// to the kernel's receive time of that read (SO_TIMESTAMPNS; the difference is this
// process's own delay). Times are CLOCK_REALTIME, the clock of the kernel stamps.
// Pairs that timed out are counted, not written.
//
//   live_subscribers --port=P --db.url=URL --workspaces=ID[,ID...] --connections=N
//                    [--sources=0] [--duration=60] [--probes=0] [--min-pause-ms=0]
//                    [--max-pause-ms=1000] [--timeout=10] [--linger=2] [--out=FILE]
//                    [--path-prefix=/api/v1/workspaces/] [--connect-timeout=120]
// With --connections=0 it only probes (the same database writes, no subscriber): each
// probe then waits --idle-wait-ms before completing its runs. Every loop is bounded in
// time. Loopback only.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_util.h"

namespace {

std::int64_t RealNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t CpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) { return static_cast<std::int64_t>(tv.tv_sec) * 1000000000 + tv.tv_usec * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

struct Options {
  int port = 0;
  std::string db_url;
  std::vector<std::string> workspaces;
  int connections = 1;
  int sources = 0;
  double duration_s = 60;
  int probes = 0;
  int min_pause_ms = 0;
  int max_pause_ms = 1000;
  double timeout_s = 10;
  double linger_s = 2;
  double connect_timeout_s = 120;
  int idle_wait_ms = 50;
  int max_in_flight = 64;  // handshakes pending at once
  std::string out;
  std::string path_prefix = "/api/v1/workspaces/";
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "live_subscribers: " << why << "\n"
            << "usage: live_subscribers --port=P --db.url=URL --workspaces=ID[,ID...] --connections=N\n"
            << "       [--sources=0] [--duration=60] [--probes=0] [--min-pause-ms=0] [--max-pause-ms=1000]\n"
            << "       [--timeout=10] [--linger=2] [--idle-wait-ms=50] [--connect-timeout=120] [--out=FILE]\n";
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const std::optional<bench::Flag> flag = bench::SplitFlag(a);
    if (!flag) Usage("unknown argument " + a);
    const std::string& name = flag->name;
    const std::string& v = flag->value;
    auto number = [&]() {
      const std::optional<double> d = bench::NonNegative(v);
      if (!d) Usage("bad value for --" + name + ": " + v);
      return *d;
    };
    if (name == "port") o.port = static_cast<int>(number());
    else if (name == "db.url") o.db_url = v;
    else if (name == "workspaces") {
      size_t pos = 0;
      while (pos <= v.size()) {
        const size_t comma = std::min(v.find(',', pos), v.size());
        if (comma > pos) o.workspaces.push_back(v.substr(pos, comma - pos));
        pos = comma + 1;
      }
    } else if (name == "connections") o.connections = static_cast<int>(number());
    else if (name == "sources") o.sources = static_cast<int>(number());
    else if (name == "duration") o.duration_s = number();
    else if (name == "probes") o.probes = static_cast<int>(number());
    else if (name == "min-pause-ms") o.min_pause_ms = static_cast<int>(number());
    else if (name == "max-pause-ms") o.max_pause_ms = static_cast<int>(number());
    else if (name == "timeout") o.timeout_s = number();
    else if (name == "linger") o.linger_s = number();
    else if (name == "connect-timeout") o.connect_timeout_s = number();
    else if (name == "idle-wait-ms") o.idle_wait_ms = static_cast<int>(number());
    else if (name == "max-in-flight") o.max_in_flight = std::max(1, static_cast<int>(number()));
    else if (name == "out") o.out = v;
    else if (name == "path-prefix") o.path_prefix = v;
    else Usage("unknown flag --" + name);
  }
  if (o.port <= 0) Usage("--port is required");
  if (o.db_url.empty()) Usage("--db.url is required");
  if (o.workspaces.empty()) Usage("--workspaces is required");
  if (o.sources > 250) Usage("--sources: at most 250 (127.0.0.2 to 127.0.0.251)");
  if (o.max_pause_ms < o.min_pause_ms) Usage("--max-pause-ms is below --min-pause-ms");
  return o;
}

std::string Base64(const unsigned char* data, size_t n) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    const std::uint32_t b = (std::uint32_t{data[i]} << 16) | (i + 1 < n ? std::uint32_t{data[i + 1]} << 8 : 0) |
                            (i + 2 < n ? std::uint32_t{data[i + 2]} : 0);
    out += kAlphabet[(b >> 18) & 63];
    out += kAlphabet[(b >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(b >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[b & 63] : '=';
  }
  return out;
}

// One masked frame (clients must mask: RFC 6455, 5.3).
std::string Frame(int opcode, std::string_view payload, std::mt19937& rng) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  const size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff));
  }
  char mask[4];
  const std::uint32_t m = rng();
  std::memcpy(mask, &m, 4);
  f.append(mask, 4);
  for (size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return f;
}

// What the probing thread publishes for the loop: the run ids to look for.
struct Probe {
  std::uint64_t seq = 0;
  std::vector<std::string> run_ids;  // per workspace index
};

struct Seen {
  std::uint64_t seq;
  int conn;
  std::int64_t user_ns;    // when this process had read the whole message
  std::int64_t kernel_ns;  // the kernel's receive time of that read (0: unknown)
};

class Shared {
 public:
  void Publish(std::shared_ptr<const Probe> p) {
    std::lock_guard lock(mu_);
    probe_ = std::move(p);
    seq_.store(probe_->seq, std::memory_order_release);
  }
  std::uint64_t seq() const { return seq_.load(std::memory_order_acquire); }
  std::shared_ptr<const Probe> probe() const {
    std::lock_guard lock(mu_);
    return probe_;
  }
  void Record(const Seen& s) {
    {
      std::lock_guard lock(mu_);
      seen_.push_back(s);
      ++seen_of_[s.seq];
    }
    cv_.notify_all();
  }
  // Waits until `want()` subscribers saw probe seq, or the deadline.
  template <typename Want>
  int WaitSeen(std::uint64_t seq, Want want, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    while (true) {
      const int have = seen_of_[seq];
      if (have >= want()) return have;
      if (cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50))) ==
              std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= deadline) {
        return seen_of_[seq];
      }
    }
  }
  std::vector<Seen> TakeSeen() {
    std::lock_guard lock(mu_);
    return std::move(seen_);
  }
  std::atomic<int> open{0};
  std::atomic<bool> stop_probing{false};
  std::atomic<bool> probing_done{false};

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const Probe> probe_;
  std::atomic<std::uint64_t> seq_{0};
  std::vector<Seen> seen_;
  std::map<std::uint64_t, int> seen_of_;
};

struct Counters {
  std::uint64_t messages = 0, updates = 0, heartbeats = 0, other = 0, bytes = 0, pings = 0, closes = 0;
  std::uint64_t resets = 0, refused = 0, connect_errors = 0, handshake_timeouts = 0;
  std::map<int, int> refusal_status;
};

class Subscribers {
 public:
  Subscribers(const Options& o, Shared& shared)
      : o_(o), shared_(shared), rng_(std::random_device{}()), ep_(epoll_create1(EPOLL_CLOEXEC)) {}
  ~Subscribers() {
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    if (ep_ >= 0) close(ep_);
  }

  // Opens every connection; false when not all are open by the deadline.
  bool OpenAll() {
    if (ep_ < 0) return false;
    conns_.resize(static_cast<size_t>(o_.connections));
    const auto deadline = Now() + Secs(o_.connect_timeout_s);
    int next = 0;
    while (Now() < deadline) {
      while (next < o_.connections && in_flight_ < o_.max_in_flight) Start(next++);
      if (next >= o_.connections && in_flight_ == 0) break;
      Poll(50);
    }
    return shared_.open.load() == o_.connections;
  }

  // Serves the open connections until `until` returns true or the deadline.
  template <typename Until>
  void Serve(Until until, std::chrono::steady_clock::time_point deadline) {
    while (!until() && Now() < deadline) Poll(20);
  }

  // Close frames, then end of stream; waits briefly for the server's side.
  void CloseAll() {
    for (auto& c : conns_) {
      if (c.fd >= 0 && c.state == State::kOpen) {
        const char code[2] = {0x03, static_cast<char>(0xe8)};
        c.out += Frame(0x8, std::string_view(code, 2), rng_);
        Flush(c);
        shutdown(c.fd, SHUT_WR);
      }
    }
    const auto deadline = Now() + std::chrono::seconds(2);
    while (Now() < deadline && shared_.open.load() > 0) Poll(20);
    for (auto& c : conns_) {
      if (c.fd >= 0) {
        close(c.fd);
        c.fd = -1;
      }
    }
  }

  const Counters& counters() const { return n_; }
  int ever_opened() const { return ever_opened_; }

 private:
  enum class State { kConnecting, kHandshake, kOpen, kClosed };
  struct Conn {
    int fd = -1;
    int ws = 0;
    State state = State::kClosed;
    std::string in;
    size_t in_off = 0;
    std::string out;
    std::string msg;  // a fragmented message so far
    int msg_opcode = 0;
    std::uint64_t seen_seq = 0;
    std::int64_t rx_kernel_ns = 0;
    std::chrono::steady_clock::time_point started;
  };

  static std::chrono::steady_clock::time_point Now() { return std::chrono::steady_clock::now(); }
  static std::chrono::steady_clock::duration Secs(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
  }

  void Start(int i) {
    Conn& c = conns_[static_cast<size_t>(i)];
    c = Conn{};
    c.ws = i % static_cast<int>(o_.workspaces.size());
    c.started = Now();
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      ++n_.connect_errors;
      return;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // The kernel's receive time of each read: separates this process's own delay
    // from the server's.
    setsockopt(c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (o_.sources > 0) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + static_cast<std::uint32_t>(i % o_.sources));
      if (bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        Fail(c, &n_.connect_errors);
        return;
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      Fail(c, &n_.connect_errors);
      return;
    }
    c.state = State::kConnecting;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    ++in_flight_;
  }

  void Fail(Conn& c, std::uint64_t* counter) {
    if (counter != nullptr) ++*counter;
    if (c.state == State::kConnecting || c.state == State::kHandshake) --in_flight_;
    if (c.state == State::kOpen) shared_.open.fetch_sub(1);
    c.state = State::kClosed;
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      c.fd = -1;
    }
  }

  void Poll(int timeout_ms) {
    epoll_event events[256];
    const int n = epoll_wait(ep_, events, 256, timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));  // never spin
      return;
    }
    for (int k = 0; k < n; ++k) {
      Conn& c = conns_[events[k].data.u32];
      if (c.fd < 0) continue;
      if (c.state == State::kConnecting && (events[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          Fail(c, &n_.connect_errors);
          continue;
        }
        SendHandshake(c);
      }
      if (events[k].events & EPOLLOUT) Flush(c);
      if (c.fd >= 0 && (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) Read(c);
    }
    // Handshakes that take too long count as failed.
    const auto now = Now();
    for (auto& c : conns_) {
      if ((c.state == State::kConnecting || c.state == State::kHandshake) && now - c.started > std::chrono::seconds(30)) {
        Fail(c, &n_.handshake_timeouts);
      }
    }
  }

  void SendHandshake(Conn& c) {
    unsigned char key[16];
    for (auto& b : key) b = static_cast<unsigned char>(rng_() & 0xff);
    c.out = "GET " + o_.path_prefix + o_.workspaces[static_cast<size_t>(c.ws)] +
            "/realtime/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: " +
            Base64(key, sizeof key) + "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: aee.v1\r\n\r\n";
    c.state = State::kHandshake;
    Flush(c);
  }

  void Flush(Conn& c) {
    while (c.fd >= 0 && !c.out.empty()) {
      const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        Fail(c, &n_.resets);
        return;
      }
    }
    if (c.fd >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() && c.state != State::kConnecting ? 0u : EPOLLOUT);
      ev.data.u32 = static_cast<std::uint32_t>(&c - conns_.data());
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  void Read(Conn& c) {
    // A bounded number of reads per wake-up, so one busy connection cannot starve
    // the others.
    for (int round = 0; round < 8 && c.fd >= 0; ++round) {
      char cbuf[CMSG_SPACE(sizeof(timespec))];
      iovec iov{buf_, sizeof buf_};
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = cbuf;
      mh.msg_controllen = sizeof cbuf;
      const ssize_t n = recvmsg(c.fd, &mh, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        if (c.state == State::kOpen) ++n_.closes;
        Fail(c, n < 0 ? &n_.resets : nullptr);
        return;
      }
      for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm != nullptr; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
          c.rx_kernel_ns = static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
        }
      }
      n_.bytes += static_cast<std::uint64_t>(n);
      c.in.append(buf_, static_cast<size_t>(n));
      if (c.state == State::kHandshake && !Head(c)) return;
      if (c.state == State::kOpen) Frames(c);
      if (c.in_off > 0 && (c.in_off == c.in.size() || c.in_off > (1u << 16))) {
        c.in.erase(0, c.in_off);
        c.in_off = 0;
      }
      if (static_cast<size_t>(n) < sizeof buf_) return;
    }
  }

  // The answer to the upgrade: 101 opens the connection; anything else is a refusal.
  bool Head(Conn& c) {
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > 16384) Fail(c, &n_.refused);
      return false;
    }
    int status = 0;
    if (c.in.rfind("HTTP/1.1 ", 0) == 0 && c.in.size() >= 12) status = std::atoi(c.in.substr(9, 3).c_str());
    if (status != 101) {
      ++n_.refusal_status[status];
      Fail(c, &n_.refused);
      return false;
    }
    c.in_off = end + 4;
    c.state = State::kOpen;
    --in_flight_;
    ++ever_opened_;
    shared_.open.fetch_add(1);
    return true;
  }

  void Frames(Conn& c) {
    while (c.fd >= 0) {
      const size_t avail = c.in.size() - c.in_off;
      if (avail < 2) return;
      const auto* b = reinterpret_cast<const unsigned char*>(c.in.data() + c.in_off);
      const bool fin = (b[0] & 0x80) != 0;
      const int opcode = b[0] & 0x0f;
      const bool masked = (b[1] & 0x80) != 0;
      std::uint64_t len = b[1] & 0x7f;
      size_t off = 2;
      if (len == 126) {
        if (avail < 4) return;
        len = (std::uint64_t{b[2]} << 8) | b[3];
        off = 4;
      } else if (len == 127) {
        if (avail < 10) return;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
        off = 10;
      }
      if (masked || len > (64u << 20)) {  // servers do not mask; 64 MiB bounds a message
        Fail(c, &n_.resets);
        return;
      }
      if (avail < off + len) return;
      const std::string_view payload(c.in.data() + c.in_off + off, static_cast<size_t>(len));
      c.in_off += off + static_cast<size_t>(len);
      if (opcode == 0x9) {
        ++n_.pings;
        c.out += Frame(0xa, payload, rng_);
        Flush(c);
      } else if (opcode == 0x8) {
        ++n_.closes;
        c.out += Frame(0x8, payload.substr(0, std::min<size_t>(payload.size(), 2)), rng_);
        Flush(c);
        Fail(c, nullptr);
        return;
      } else if (opcode == 0xa) {
        // pong: nothing to do
      } else if (opcode == 0x0 || opcode == 0x1 || opcode == 0x2) {
        if (opcode != 0x0) c.msg_opcode = opcode;
        if (fin && c.msg.empty()) {
          Message(c, payload);
        } else {
          c.msg.append(payload);
          if (fin) {
            std::string whole = std::move(c.msg);
            c.msg.clear();
            Message(c, whole);
          }
        }
      }
    }
  }

  void Message(Conn& c, std::string_view text) {
    ++n_.messages;
    if (text.find("\"event\":\"execution_update\"") < 32) ++n_.updates;
    else if (text.find("\"event\":\"heartbeat\"") < 32) ++n_.heartbeats;
    else ++n_.other;
    const std::uint64_t seq = shared_.seq();
    if (seq == 0 || c.seen_seq >= seq) return;
    const auto probe = shared_.probe();
    const std::string& id = probe->run_ids[static_cast<size_t>(c.ws)];
    if (text.find(id) == std::string_view::npos) return;
    c.seen_seq = probe->seq;
    shared_.Record({probe->seq, static_cast<int>(&c - conns_.data()), RealNs(), c.rx_kernel_ns});
  }

  const Options& o_;
  Shared& shared_;
  std::mt19937 rng_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  int in_flight_ = 0;
  int ever_opened_ = 0;
  Counters n_;
  char buf_[1 << 18];
};

struct ProbeStats {
  std::uint64_t probes = 0;
  std::uint64_t expected = 0;  // (probe, subscriber) pairs that should have been seen
  std::uint64_t timed_out = 0;
  std::map<std::uint64_t, std::int64_t> commit_ns;  // per probe
  std::string error;
};

// The probing thread: inserts, times the COMMIT, waits for the subscribers, completes.
void ProbeLoop(const Options& o, Shared& shared, ProbeStats* stats) {
  try {
    pqxx::connection conn(o.db_url);
    std::vector<std::string> agents;
    {
      pqxx::work tx(conn);
      for (const auto& ws : o.workspaces) {
        auto r = tx.exec_params("SELECT id::text FROM agents WHERE workspace_id = $1 ORDER BY id LIMIT 1", ws);
        if (r.empty()) throw std::runtime_error("workspace " + ws + " has no agent");
        agents.push_back(r[0][0].as<std::string>());
      }
    }
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_int_distribution<int> pause(o.min_pause_ms, o.max_pause_ms);
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                            std::chrono::duration<double>(o.duration_s));
    for (std::uint64_t seq = 1; !shared.stop_probing.load(); ++seq) {
      if (o.probes > 0 && stats->probes >= static_cast<std::uint64_t>(o.probes)) break;
      if (o.probes == 0 && std::chrono::steady_clock::now() >= end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
      auto probe = std::make_shared<Probe>();
      probe->seq = seq;
      for (size_t i = 0; i < o.workspaces.size(); ++i) probe->run_ids.push_back(bench::Uuid(rng));
      shared.Publish(probe);
      {
        pqxx::work tx(conn);
        for (size_t i = 0; i < o.workspaces.size(); ++i) {
          tx.exec_params("INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, "
                         "started_at, queue_wait_seconds, estimated_runtime) "
                         "VALUES ($1, $2, $3, 'bench-live', 'running', now(), now(), 0, 60)",
                         probe->run_ids[i], o.workspaces[i], agents[i]);
        }
        tx.commit();
      }
      const std::int64_t committed = RealNs();
      stats->commit_ns[seq] = committed;
      ++stats->probes;
      const int want_now = shared.open.load();
      if (want_now > 0) {
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(o.timeout_s));
        const int got = shared.WaitSeen(seq, [&] { return shared.open.load(); }, deadline);
        const int want = std::max(shared.open.load(), got);
        stats->expected += static_cast<std::uint64_t>(want);
        stats->timed_out += static_cast<std::uint64_t>(want - got);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(o.idle_wait_ms));
      }
      pqxx::work tx(conn);
      for (const auto& id : probe->run_ids) {
        tx.exec_params("UPDATE agent_runs SET status = 'completed', finished_at = now(), "
                       "runtime_seconds = extract(epoch FROM now() - started_at), "
                       "total_latency_seconds = extract(epoch FROM now() - queued_at) WHERE run_id = $1",
                       id);
      }
      tx.commit();
    }
  } catch (const std::exception& e) {
    stats->error = e.what();
  }
  shared.probing_done.store(true);
}

void RaiseFileLimit(int connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = static_cast<rlim_t>(connections) + 64;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(rl.rlim_max, want);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) {
      out += ' ';
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  RaiseFileLimit(o.connections);
  Shared shared;
  Subscribers subs(o, shared);
  const auto t_open = std::chrono::steady_clock::now();
  const bool all_open = o.connections == 0 || subs.OpenAll();
  const double connect_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_open).count();
  // A moment for every subscriber's first message (the view on connect).
  subs.Serve([] { return false; }, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  std::printf("ready %d %.3f\n", shared.open.load(), connect_s);
  std::fflush(stdout);

  const std::int64_t cpu0 = CpuNs();
  const auto wall0 = std::chrono::steady_clock::now();
  ProbeStats stats;
  std::thread prober([&] { ProbeLoop(o, shared, &stats); });
  // The probing thread ends by itself (duration or count); the deadline bounds it
  // should the database hang.
  const double bound = (o.probes > 0 ? o.probes * (o.max_pause_ms / 1000.0 + o.timeout_s + 5) : o.duration_s) +
                       o.timeout_s + 30;
  subs.Serve([&] { return shared.probing_done.load(); },
             wall0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(bound)));
  shared.stop_probing.store(true);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = static_cast<double>(CpuNs() - cpu0) / 1e9;
  const int open_at_end = shared.open.load();
  std::printf("end %d\n", open_at_end);
  std::fflush(stdout);
  const Counters n = subs.counters();  // the window's, before the close adds its own
  subs.Serve([] { return false; },
             std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(o.linger_s)));
  // The prober may still wait on its database: it gives up within its own timeout.
  prober.join();
  subs.CloseAll();

  const auto seen = shared.TakeSeen();
  if (!o.out.empty()) {
    std::ofstream out(o.out);
    for (const auto& s : seen) {
      auto it = stats.commit_ns.find(s.seq);
      if (it == stats.commit_ns.end()) continue;
      out << s.seq << '\t' << s.conn << '\t' << (s.conn % static_cast<int>(o.workspaces.size())) << '\t'
          << static_cast<double>(s.user_ns - it->second) / 1e9 << '\t'
          << (s.kernel_ns != 0 ? static_cast<double>(s.kernel_ns - it->second) / 1e9 : -1.0) << '\n';
    }
  }
  std::string refusals = "{";
  for (const auto& [status, count] : n.refusal_status) {
    if (refusals.size() > 1) refusals += ",";
    refusals += "\"" + std::to_string(status) + "\":" + std::to_string(count);
  }
  refusals += "}";
  std::printf(
      "{\"connections\":%d,\"all_open\":%s,\"opened\":%d,\"open_at_end\":%d,\"connect_s\":%.3f,"
      "\"workspaces\":%zu,\"probes\":%llu,\"pairs_expected\":%llu,\"pairs_seen\":%zu,\"pairs_timed_out\":%llu,"
      "\"messages\":%llu,\"updates\":%llu,\"heartbeats\":%llu,\"other_messages\":%llu,\"bytes\":%llu,"
      "\"pings\":%llu,\"closes\":%llu,\"resets\":%llu,\"refused\":%llu,\"refusal_status\":%s,"
      "\"connect_errors\":%llu,\"handshake_timeouts\":%llu,\"window_s\":%.3f,\"cpu_s\":%.3f,\"error\":%s}\n",
      o.connections, all_open ? "true" : "false", subs.ever_opened(), open_at_end, connect_s, o.workspaces.size(),
      static_cast<unsigned long long>(stats.probes), static_cast<unsigned long long>(stats.expected), seen.size(),
      static_cast<unsigned long long>(stats.timed_out), static_cast<unsigned long long>(n.messages),
      static_cast<unsigned long long>(n.updates), static_cast<unsigned long long>(n.heartbeats),
      static_cast<unsigned long long>(n.other), static_cast<unsigned long long>(n.bytes),
      static_cast<unsigned long long>(n.pings), static_cast<unsigned long long>(n.closes),
      static_cast<unsigned long long>(n.resets), static_cast<unsigned long long>(n.refused), refusals.c_str(),
      static_cast<unsigned long long>(n.connect_errors), static_cast<unsigned long long>(n.handshake_timeouts), wall,
      cpu, JsonString(stats.error).c_str());
  std::fflush(stdout);
  return stats.error.empty() && (all_open || o.connections == 0) ? 0 : 1;
}
