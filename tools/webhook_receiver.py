#!/usr/bin/env python3
"""Alertmanager webhook receiver for the demo and the end-to-end tests.

Prints one line per alert it receives (status, alertname, labels, summary) and, with
--log FILE, appends every notification as one JSON line to FILE for tests to read.
Listens on 127.0.0.1 only.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--log", help="append each notification as a JSON line here")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            if length > 10 * 1024 * 1024:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            try:
                notification = json.loads(body)
            except ValueError:
                self.send_error(400, "not JSON")
                return
            for alert in notification.get("alerts", []):
                labels = alert.get("labels", {})
                extra = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
                summary = alert.get("annotations", {}).get("summary", "")
                print(f"webhook: {alert.get('status', '?').upper():8} {labels.get('alertname', '?')} {{{extra}}} {summary}",
                      flush=True)
            if args.log:
                with open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(notification) + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"webhook receiver\n")

        def log_message(self, *unused):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
