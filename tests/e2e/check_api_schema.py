#!/usr/bin/python3
"""Validates the live view's documents against the JSON Schemas of docs/api/.

  check_api_schema.py BASE_URL SCHEMA_DIR [SECONDS]

Fetches GET /api/v1/workspaces and GET .../realtime of every workspace listed, then
reads the WebSocket of the first workspace for SECONDS (default 3) and validates every
message. Prints one line per document; exits 1 when any fails (with the first error),
2 when the server cannot be reached. Debian packages: python3-jsonschema,
python3-websocket.
"""
import json
import sys
import time
import urllib.error
import urllib.request

import jsonschema
import websocket


def fetch(url):
    """GET url as JSON, waiting out the rate limit (429 + Retry-After) a few times."""
    for _ in range(10):
        try:
            return json.load(urllib.request.urlopen(url, timeout=10))
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise
            time.sleep(float(e.headers.get("Retry-After", "1")))
    raise RuntimeError(f"{url}: still rate limited")


def load(schema_dir, name):
    with open(f"{schema_dir}/{name}") as f:
        return json.load(f)


def main():
    base, schema_dir = sys.argv[1].rstrip("/"), sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    names = ("workspaces.schema.json", "realtime.schema.json", "execution_update.schema.json")
    schemas = {name: load(schema_dir, name) for name in names}
    # The schemas refer to each other by $id: resolve those locally, never over the network.
    store = {schema["$id"]: schema for schema in schemas.values()}
    validators = {
        name: jsonschema.Draft202012Validator(
            schema, format_checker=checker,
            resolver=jsonschema.RefResolver(schema["$id"], schema, store=store))
        for name, schema in schemas.items()
    }
    failures = 0

    def check(name, what, doc):
        nonlocal failures
        errors = sorted(validators[name].iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            failures += 1
            e = errors[0]
            print(f"FAIL {what}: {e.message} at {'/'.join(map(str, e.path))}")
        else:
            print(f"ok   {what}")

    try:
        workspaces = fetch(f"{base}/api/v1/workspaces")
    except OSError as e:
        print(f"cannot fetch {base}/api/v1/workspaces: {e}")
        return 2
    check("workspaces.schema.json", "GET /api/v1/workspaces", workspaces)
    ids = [w["id"] for w in workspaces.get("workspaces", [])]
    for ws in ids:
        doc = fetch(f"{base}/api/v1/workspaces/{ws}/realtime")
        check("realtime.schema.json", f"GET /api/v1/workspaces/{ws}/realtime", doc)
    if ids:
        url = base.replace("http", "ws", 1) + f"/api/v1/workspaces/{ids[0]}/realtime/ws"
        conn = websocket.create_connection(url, timeout=seconds, subprotocols=["aee.v1"])
        deadline = time.monotonic() + seconds
        messages = 0
        try:
            while time.monotonic() < deadline:
                try:
                    text = conn.recv()
                except websocket.WebSocketTimeoutException:
                    break
                messages += 1
                check("execution_update.schema.json", f"WebSocket message {messages}", json.loads(text))
        finally:
            conn.close()
        if messages == 0:
            failures += 1
            print("FAIL no WebSocket message (the first one is sent on connect)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
