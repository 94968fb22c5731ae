#!/usr/bin/python3
"""Headless Chromium driver for the /live page's end-to-end tests (Chrome DevTools Protocol).

Standard library plus python3-websocket (the websocket-client module), both Debian packages:
    apt-get install -y chromium python3-websocket

Subcommands (URL is opened in a fresh profile, viewport 1280x900 unless --viewport WxH):

  live_browser.py wait URL --js EXPR [--timeout 20] [--screenshot out.png]
      exit 0 once EXPR is truthy in the page; 1 on timeout, printing the last value or
      exception, the page's console errors and its visible text
  live_browser.py eval URL --js EXPR [--wait-js EXPR] [--timeout 20]
      print EXPR's value as JSON (after --wait-js, if given, is truthy)
  live_browser.py screenshot URL OUT.png [--wait-js EXPR] [--timeout 20] [--full-page]
  live_browser.py session URL [--idle-timeout 300] [--keep-going]
      keep one page open and run commands read from stdin, one a line:
          wait EXPR TIMEOUT      (TIMEOUT in seconds, the line's last word)
          eval EXPR
          screenshot PATH
          goto URL
          sleep SECONDS
          quit
      Each command answers one line on stdout: "ok ..." or "fail ..." (details on stderr).
      A failure ends the session with exit 1 unless --keep-going (then the exit status is
      1 at the end). "ready" is printed once the page is open.

EXPR is a JavaScript expression evaluated in the page (a Promise is awaited); for wait it
is judged with JavaScript truthiness. Exit status 2: the browser could not be started or
driven (not a verdict on the page).

Example (bash, one page watched while the test changes the database):
    coproc LB { /usr/bin/python3 tests/e2e/live_browser.py session "$URL"; }
    read -r line <&"${LB[0]}"                                # ready
    echo "wait document.querySelector('[data-run-id=\"$RUN\"]') 20" >&"${LB[1]}"
    read -r line <&"${LB[0]}"; [[ $line == ok* ]] || fail "run not shown: $line"
    psql ... -c "UPDATE agent_runs SET finished_at = now() ..."
    echo "wait !document.querySelector('[data-run-id=\"$RUN\"]') 20" >&"${LB[1]}"
    read -r line <&"${LB[0]}"; [[ $line == ok* ]] || fail "finished run still shown: $line"
    echo quit >&"${LB[1]}"; wait "$LB_PID"

Chromium is started with --headless=new --no-sandbox --remote-debugging-port=0 and a
temporary --user-data-dir (its port read from DevToolsActivePort), in its own process
group, and that group is killed on every exit path (normal, exception, SIGTERM/SIGINT);
the kernel also kills it if this process dies (PR_SET_PDEATHSIG). Environment:
CHROMIUM overrides /usr/bin/chromium.
"""

import argparse
import base64
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import websocket  # python3-websocket (websocket-client)
except ImportError:  # pragma: no cover
    sys.stderr.write("live_browser.py: needs python3-websocket (apt-get install -y python3-websocket)\n")
    sys.exit(2)

WIDTH, HEIGHT = 1280, 900  # default viewport; --viewport WxH changes it
START_TIMEOUT = 30.0       # chromium up and DevToolsActivePort written
CALL_TIMEOUT = 15.0        # one DevTools call
POLL_INTERVAL = 0.1
PAGE_TEXT_LIMIT = 4000


class DriverError(Exception):
    """The browser could not be started or driven (exit 2)."""


class WaitTimeout(Exception):
    """A wait's expression stayed falsy (exit 1)."""


def log(msg):
    sys.stderr.write("live_browser: %s\n" % msg)
    sys.stderr.flush()


def _pdeathsig():
    """In the child before exec: SIGKILL when the parent (this driver) dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Browser:
    def __init__(self, binary=None, width=WIDTH, height=HEIGHT):
        self.binary = binary or os.environ.get("CHROMIUM") or "/usr/bin/chromium"
        self.width, self.height = width, height
        self.proc = None
        self.tmp = None
        self.ws = None
        self.session = None
        self.next_id = 0
        self.events = []          # console messages and exceptions, for failure reports
        self.loads = 0            # Page.loadEventFired seen
        self.crashed = False

    # -- lifetime ---------------------------------------------------------------------
    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise DriverError("no chromium at %s (apt-get install -y chromium)" % self.binary)
        self.tmp = tempfile.mkdtemp(prefix="live-browser-")
        profile = os.path.join(self.tmp, "profile")
        os.mkdir(profile)
        self.logfile = open(os.path.join(self.tmp, "chromium.log"), "wb")
        args = [
            self.binary, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
            "--user-data-dir=" + profile, "--window-size=%d,%d" % (self.width, self.height),
            "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-extensions", "--disable-sync", "--disable-background-networking",
            "--disable-component-update", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--no-proxy-server", "--password-store=basic",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.logfile, stderr=self.logfile,
                                     start_new_session=True, preexec_fn=_pdeathsig)
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT
        lines = []
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DriverError("chromium exited with %s at start:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        else:
            raise DriverError("chromium wrote no DevToolsActivePort within %ds:\n%s" % (START_TIMEOUT, self.log_tail()))
        url = "ws://127.0.0.1:%s%s" % (lines[0].strip(), lines[1].strip())
        try:
            self.ws = websocket.create_connection(url, timeout=CALL_TIMEOUT, suppress_origin=True,
                                                  enable_multithread=False)
        except Exception as e:
            raise DriverError("cannot reach chromium's DevTools at %s: %s" % (url, e))
        target = self.call("Target.createTarget", {"url": "about:blank", "newWindow": False})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(method, session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def log_tail(self, n=30):
        try:
            self.logfile.flush()
            with open(os.path.join(self.tmp, "chromium.log"), "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except Exception:
            return "(no chromium log)"

    def close(self):
        if self.ws is not None:
            try:
                self.ws.settimeout(2)
                self.call("Browser.close", timeout=2)
            except Exception:
                pass
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
            # The whole group: chromium's zygote, renderer and utility processes.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log("chromium (pid %d) did not exit after SIGKILL" % self.proc.pid)
            deadline = time.monotonic() + 3      # the group's other processes, reaped by init
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except (ProcessLookupError, PermissionError):
                    break
                time.sleep(0.05)
            self.proc = None
        if self.tmp is not None:
            try:
                self.logfile.close()
            except Exception:
                pass
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # -- protocol ---------------------------------------------------------------------
    def call(self, method, params=None, session=False, timeout=CALL_TIMEOUT):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        try:
            self.ws.send(json.dumps(msg))
        except Exception as e:
            raise DriverError("DevTools connection lost sending %s: %s" % (method, e))
        deadline = time.monotonic() + timeout
        while True:
            raw = self.recv(deadline, lambda e: "DevTools connection lost during %s: %s%s" % (
                method, e, "" if self.proc is None or self.proc.poll() is None else
                " (chromium exited with %s)" % self.proc.returncode))
            if raw is None:
                raise DriverError("DevTools call %s got no answer within %.0fs" % (method, timeout))
            m = json.loads(raw)
            if m.get("id") == mid:
                if "error" in m:
                    raise DriverError("%s failed: %s" % (method, m["error"].get("message", m["error"])))
                return m.get("result", {})
            self.on_event(m)

    def recv(self, deadline, lost):
        """The next DevTools message, or None when deadline (time.monotonic()) passes
        first; DriverError(lost(exception)) when the connection fails."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.ws.settimeout(left)
        try:
            return self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        except Exception as e:
            raise DriverError(lost(e))

    def on_event(self, m):
        method, p = m.get("method"), m.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.events.append("console.%s: %s" % (p.get("type"), text))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.events.append("uncaught: %s" % (d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") in ("error", "warning"):
                self.events.append("%s %s: %s" % (e.get("source"), e.get("level"), e.get("text")))
        elif method == "Page.loadEventFired" and m.get("sessionId") == self.session:
            self.loads += 1
        elif method in ("Inspector.targetCrashed", "Target.targetCrashed"):
            self.crashed = True
            self.events.append("the page crashed")
        del self.events[:-50]

    # -- page -------------------------------------------------------------------------
    def pump(self, until, timeout, what):
        """Read DevTools events until until() is true."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() >= deadline:
                raise WaitTimeout("timed out after %gs waiting for %s" % (timeout, what))
            raw = self.recv(deadline, lambda e: "DevTools connection lost waiting for %s: %s" % (what, e))
            if raw is not None:
                self.on_event(json.loads(raw))

    def goto(self, url, timeout=30.0):
        """A fresh document load, even when url differs from the current one only in
        its fragment (which alone would not reload the page): via about:blank."""
        for target in ("about:blank", url):
            n = self.loads
            res = self.call("Page.navigate", {"url": target}, session=True, timeout=timeout)
            if res.get("errorText"):
                raise WaitTimeout("cannot open %s: %s" % (target, res["errorText"]))
            self.pump(lambda: self.loads > n, timeout, "the load event of " + target)

    def evaluate(self, expr, timeout=CALL_TIMEOUT):
        """(ok, value or error text). A Promise is awaited."""
        src = "(async () => (%s\n))()" % expr
        res = self.call("Runtime.evaluate", {"expression": src, "returnByValue": True, "awaitPromise": True,
                                             "timeout": int(timeout * 1000)},
                        session=True, timeout=timeout + 2)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            return False, (d.get("exception", {}).get("description") or d.get("text") or "exception").split("\n")[0]
        r = res.get("result", {})
        if r.get("type") == "undefined":
            return True, None
        return True, r.get("value", r.get("description"))

    def wait(self, expr, timeout):
        deadline = time.monotonic() + timeout
        last = None
        test = "!!(await (%s\n))" % expr
        while True:
            left = deadline - time.monotonic()
            if self.crashed:
                raise WaitTimeout("the page crashed while waiting for: %s" % expr)
            ok, val = self.evaluate(test, timeout=max(1.0, min(CALL_TIMEOUT, left)))
            if ok and val is True:
                return
            last = ("value falsy" if ok else "exception: %s" % val)
            if time.monotonic() + POLL_INTERVAL >= deadline:
                raise WaitTimeout("timed out after %gs waiting for: %s (last: %s)" % (timeout, expr, last))
            time.sleep(POLL_INTERVAL)

    def screenshot(self, path, full_page=False):
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            m = self.call("Page.getLayoutMetrics", session=True)
            size = m.get("cssContentSize") or m.get("contentSize")
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": max(self.height, size["height"]), "scale": 1}
        data = self.call("Page.captureScreenshot", params, session=True, timeout=30)["data"]
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def report(self):
        """The page's URL, recent console errors and visible text, for a failure message."""
        lines = []
        try:
            ok, url = self.evaluate("location.href", timeout=5)
            lines.append("page: %s" % url)
            ok, text = self.evaluate("document.body ? document.body.innerText : ''", timeout=5)
            text = text if isinstance(text, str) else str(text)
            if len(text) > PAGE_TEXT_LIMIT:
                text = text[:PAGE_TEXT_LIMIT] + "\n[... %d more characters]" % (len(text) - PAGE_TEXT_LIMIT)
            lines.append("page text:\n  " + "\n  ".join(text.splitlines()))
        except Exception as e:
            lines.append("(page text unavailable: %s)" % e)
        if self.events:
            lines.append("console and errors:\n  " + "\n  ".join(self.events[-20:]))
        return "\n".join(lines)


# -- subcommands -------------------------------------------------------------------------
def cmd_wait(b, a):
    b.goto(a.url, a.timeout)
    try:
        b.wait(a.js, a.timeout)
    finally:
        if a.screenshot:
            b.screenshot(a.screenshot, a.full_page)
    return 0


def cmd_eval(b, a):
    b.goto(a.url, a.timeout)
    if a.wait_js:
        b.wait(a.wait_js, a.timeout)
    ok, val = b.evaluate(a.js, a.timeout)
    if not ok:
        raise WaitTimeout("exception evaluating %s: %s" % (a.js, val))
    print(json.dumps(val))
    return 0


def cmd_screenshot(b, a):
    b.goto(a.url, a.timeout)
    if a.wait_js:
        b.wait(a.wait_js, a.timeout)
    b.screenshot(a.out, a.full_page)
    return 0


class StdinLines:
    """Lines from fd 0 with a timeout (select on the fd; our own buffer, so lines that
    arrived together are not stuck in a Python buffer select cannot see)."""

    def __init__(self):
        self.buf = b""
        self.eof = False

    def read(self, timeout):
        """One line without its newline, None at EOF; WaitTimeout when none comes in time."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout("no command on stdin for %gs" % timeout)
            r, _, _ = select.select([0], [], [], left)
            if r:
                chunk = os.read(0, 65536)
                if chunk:
                    self.buf += chunk
                else:
                    self.eof = True
        if b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
        elif self.buf:
            line, self.buf = self.buf, b""
        else:
            return None
        return line.decode("utf-8", "replace")


def answer(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_session(b, a):
    b.goto(a.url, a.timeout)
    answer("ready")
    failed = False
    stdin = StdinLines()
    while True:
        line = stdin.read(a.idle_timeout)
        if line is None:
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        t0 = time.monotonic()
        try:
            if verb == "quit":
                break
            elif verb == "wait":
                expr, _, tmo = rest.rpartition(" ")
                try:
                    tmo = float(tmo)
                except ValueError:
                    raise WaitTimeout("usage: wait EXPR TIMEOUT (seconds, the last word)")
                if not expr.strip() or not (0 < tmo <= 3600):
                    raise WaitTimeout("usage: wait EXPR TIMEOUT (0 < TIMEOUT <= 3600)")
                b.wait(expr, tmo)
                answer("ok wait %.2fs" % (time.monotonic() - t0))
            elif verb == "eval":
                ok, val = b.evaluate(rest, a.timeout)
                if not ok:
                    raise WaitTimeout("exception evaluating %s: %s" % (rest, val))
                answer("ok eval " + json.dumps(val))
            elif verb == "screenshot":
                if not rest:
                    raise WaitTimeout("usage: screenshot PATH")
                b.screenshot(rest, a.full_page)
                answer("ok screenshot " + rest)
            elif verb == "goto":
                b.goto(rest, a.timeout)
                answer("ok goto")
            elif verb == "sleep":
                time.sleep(min(max(float(rest), 0.0), 600.0))
                answer("ok sleep")
            else:
                raise WaitTimeout("unknown command %r (wait, eval, screenshot, goto, sleep, quit)" % verb)
        except WaitTimeout as e:
            failed = True
            answer("fail " + str(e).replace("\n", " "))
            log(str(e))
            log(b.report())
            if not a.keep_going:
                return 1
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chromium", help="browser binary (default $CHROMIUM or /usr/bin/chromium)")
    p.add_argument("--viewport", default="%dx%d" % (WIDTH, HEIGHT), help="WIDTHxHEIGHT (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("url")
        sp.add_argument("--timeout", type=float, default=20.0, help="seconds (default 20)")
        sp.add_argument("--full-page", action="store_true", help="screenshots of the whole page, not the viewport")

    sp = sub.add_parser("wait", help="exit 0 once --js is truthy")
    common(sp)
    sp.add_argument("--js", required=True)
    sp.add_argument("--screenshot", help="PNG written at the end, success or not")
    sp.set_defaults(fn=cmd_wait)
    sp = sub.add_parser("eval", help="print --js's value as JSON")
    common(sp)
    sp.add_argument("--js", required=True)
    sp.add_argument("--wait-js")
    sp.set_defaults(fn=cmd_eval)
    sp = sub.add_parser("screenshot", help="write a PNG of the page")
    common(sp)
    sp.add_argument("out")
    sp.add_argument("--wait-js")
    sp.set_defaults(fn=cmd_screenshot)
    sp = sub.add_parser("session", help="one page, commands from stdin")
    common(sp)
    sp.add_argument("--idle-timeout", type=float, default=300.0,
                    help="fail when no command arrives for this long (default 300 s)")
    sp.add_argument("--keep-going", action="store_true", help="run the remaining commands after a failure")
    sp.set_defaults(fn=cmd_session)
    a = p.parse_args(argv)
    if not (0 < a.timeout <= 3600):
        p.error("--timeout must be in (0, 3600]")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    try:
        width, height = (int(x) for x in a.viewport.lower().split("x"))
        if not (100 <= width <= 8000 and 100 <= height <= 8000):
            raise ValueError
    except ValueError:
        p.error("--viewport wants WIDTHxHEIGHT, e.g. 1280x900")
    b = Browser(a.chromium, width, height)
    try:
        b.start()
        return a.fn(b, a)
    except WaitTimeout as e:
        log(str(e))
        log(b.report())
        return 1
    except DriverError as e:
        log("driver error: %s" % e)
        if b.tmp:
            log("chromium log tail:\n%s" % b.log_tail())
        return 2
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())
