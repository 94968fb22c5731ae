#include "core/connection_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "tests/support/http_client.h"

namespace aee {
namespace {

// A listening socket of this process, and the accepted ends of its connections:
// what civetweb holds, without civetweb.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 64), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() {
    for (int fd : fds_) close(fd);
    close(fd_);
  }
  // Connects from source and returns the server's end.
  int Connect(const std::string& source) {
    const int client = testing::ConnectLoopback(port_, source);
    EXPECT_GE(client, 0);
    fds_.push_back(client);
    const int server = accept(fd_, nullptr, nullptr);
    EXPECT_GE(server, 0);
    fds_.push_back(server);
    return server;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fds_;
};

// Shut down for reading: recv sees end of stream at once. Open: nothing to read yet.
bool IsShutDown(int fd) {
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

TEST(ConnectionGuardTest, ShutsDownTheNewestConnectionsOfAnAddressOverItsCap) {
  Listener l;
  std::vector<int> attacker;
  for (int i = 0; i < 5; ++i) attacker.push_back(l.Connect("127.0.0.1"));
  const int other = l.Connect("127.0.0.2");
  ConnectionGuard guard(/*cap=*/2);
  guard.Start({l.port()});
  EXPECT_EQ(guard.ScanOnce(), 3);
  EXPECT_FALSE(IsShutDown(attacker[0]));
  EXPECT_FALSE(IsShutDown(attacker[1]));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(IsShutDown(attacker[i])) << i;
  EXPECT_FALSE(IsShutDown(other));
  // Shut-down sockets still open (their worker has not closed them yet) do not
  // count again, so the oldest two stay and nothing else is touched.
  EXPECT_EQ(guard.ScanOnce(), 0);
  // A newcomer from the same address is over the cap; one from another is not.
  const int late = l.Connect("127.0.0.1");
  const int second_other = l.Connect("127.0.0.2");
  EXPECT_EQ(guard.ScanOnce(), 1);
  EXPECT_TRUE(IsShutDown(late));
  EXPECT_FALSE(IsShutDown(second_other));
  EXPECT_FALSE(IsShutDown(attacker[0]));
}

TEST(ConnectionGuardTest, PokeScansOnItsThread) {
  Listener l;
  ConnectionGuard guard(/*cap=*/1);
  guard.Start({l.port()});
  const int first = l.Connect("127.0.0.1");
  const int second = l.Connect("127.0.0.1");
  guard.Poke();
  for (int i = 0; i < 200 && guard.shut_down() == 0; ++i) usleep(10'000);
  EXPECT_EQ(guard.shut_down(), 1u);
  EXPECT_FALSE(IsShutDown(first));
  EXPECT_TRUE(IsShutDown(second));
  guard.Stop();
}

TEST(ConnectionGuardTest, IgnoresOtherPortsAndDoesNothingWhenOff) {
  Listener served, other_port;
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(other_port.Connect("127.0.0.1"));
  ConnectionGuard guard(/*cap=*/1);
  guard.Start({served.port()});
  EXPECT_EQ(guard.ScanOnce(), 0);
  for (int fd : fds) EXPECT_FALSE(IsShutDown(fd));

  std::vector<int> on_served;
  for (int i = 0; i < 3; ++i) on_served.push_back(served.Connect("127.0.0.1"));
  ConnectionGuard off(/*cap=*/0);
  off.Start({served.port()});
  EXPECT_EQ(off.ScanOnce(), 0);
  for (int fd : on_served) EXPECT_FALSE(IsShutDown(fd));
}

TEST(FindConnectionSocketTest, FindsTheAcceptedEndByItsPeer) {
  Listener l;
  const int server = l.Connect("127.0.0.3");
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  getpeername(server, reinterpret_cast<sockaddr*>(&peer), &len);
  EXPECT_EQ(FindConnectionSocket("127.0.0.3", ntohs(peer.sin_port), l.port()), server);
  EXPECT_EQ(FindConnectionSocket("127.0.0.4", ntohs(peer.sin_port), l.port()), -1);
}

}  // namespace
}  // namespace aee
