#!/usr/bin/env python3
"""Connection attacks on the exporter's HTTP port (issue #17), with scrapes from
another loopback address measured while they run.

  conn_attack.py PORT MODE CONNECTIONS SECONDS

MODE:
  keepalive  CONNECTIONS keep-alive connections from 127.0.0.1, each sending
             GET /healthz every 4 s (about CONNECTIONS/4 requests a second)
  flood      CONNECTIONS connections from 127.0.0.1 sending GET /healthz back to back
  slowloris  CONNECTIONS connections from 127.0.0.1 sending a request head one header
             line a second and never finishing it, reconnecting when closed

Meanwhile a GET /metrics from 127.0.0.2 every 0.5 s (a new connection each, like
Prometheus after an idle timeout). Prints one line per figure:
  scrapes N ok N max_s F p50_s F attack_requests N attack_reconnects N
Stops by itself after SECONDS; every socket has a timeout. Loopback only.
"""
import selectors
import socket
import statistics
import sys
import threading
import time

ATTACKER = "127.0.0.1"
SCRAPER = "127.0.0.2"


def connect(port, source):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


def attack(port, mode, n, deadline, stats):
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> next send time

    def open_one():
        try:
            s = connect(port, ATTACKER)
        except OSError:
            stats["connect_errors"] += 1
            return
        conns[s] = time.monotonic()
        sel.register(s, selectors.EVENT_READ)
        if mode == "slowloris":
            try:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                pass

    def drop(s):
        sel.unregister(s)
        conns.pop(s, None)
        s.close()
        stats["reconnects"] += 1
        open_one()

    for _ in range(n):
        open_one()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    while time.monotonic() < deadline:
        now = time.monotonic()
        for s, due in list(conns.items()):
            if due > now:
                continue
            try:
                if mode == "slowloris":
                    s.send(b"X-Slow: %d\r\n" % int(now))
                    conns[s] = now + 1.0
                elif mode == "keepalive":
                    s.send(request)
                    stats["requests"] += 1
                    conns[s] = now + 4.0
                else:  # flood: the next request goes out when the answer is in
                    s.send(request)
                    stats["requests"] += 1
                    conns[s] = float("inf")
            except OSError:
                drop(s)
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                drop(s)
            elif mode == "flood" and s in conns:
                conns[s] = time.monotonic()
    for s in list(conns):
        s.close()


def scrape(port):
    start = time.monotonic()
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((SCRAPER, 0))
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        ok = data.startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    return ok, time.monotonic() - start


def main():
    port, mode, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    if mode not in ("keepalive", "flood", "slowloris"):
        sys.exit(f"unknown mode {mode}")
    stats = {"requests": 0, "reconnects": 0, "connect_errors": 0}
    deadline = time.monotonic() + seconds
    t = threading.Thread(target=attack, args=(port, mode, n, deadline, stats), daemon=True)
    t.start()
    time.sleep(min(2.0, seconds / 4))  # let the attack take hold first
    results = []
    while time.monotonic() < deadline - 0.5:
        results.append(scrape(port))
        time.sleep(0.5)
    t.join(timeout=10)
    times = [d for _, d in results]
    print(f"scrapes {len(results)} ok {sum(1 for ok, _ in results if ok)} "
          f"max_s {max(times):.3f} p50_s {statistics.median(times):.3f} "
          f"attack_requests {stats['requests']} attack_reconnects {stats['reconnects']}")


if __name__ == "__main__":
    main()
