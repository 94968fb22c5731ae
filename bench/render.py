#!/usr/bin/env python3
"""Renders a results directory of bench/bench.py: DIR/tables.md (the markdown tables of
docs/benchmarks.md) and DIR/scrape_latency.png (gnuplot), plus a copy of the PNG at
--png PATH if given.

  bench/render.py build-bench/bench-results/latest [--png docs/img/scrape-latency.png]
"""

import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (label)

COLLECTOR_ORDER = ["realtime", "runs", "info", "workers", "models", "database", "patterns"]
DEFAULT_INTERVALS = {"realtime": 1, "runs": 5, "info": 30, "workers": 5, "models": 10, "database": 15, "patterns": 300}
SAME_FIGURES = ["realtime", "runs", "info"]  # the collectors that compute what the peers' queries do
PEER_SCRAPE_INTERVAL = 15  # seconds, for the "database time per second" comparison


def label(size):
    return bench.label(size, " M", " k")


def ms(s, digits=None):
    if s is None:
        return "–"
    v = s * 1000
    if digits is None:
        digits = 2 if v < 10 else 1 if v < 100 else 0
    return f"{v:.{digits}f}"


def num(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def first_cycles(d, variant, size):
    """First "collector up" duration of each collector in the last start-up logged in
    DIR/exporter-VARIANT-SIZE.log (the self-metric holds the latest cycle, not the first)."""
    lab = f"{size // 1000000}m" if size % 1000000 == 0 else f"{size // 1000}k" if size % 1000 == 0 else str(size)
    path = os.path.join(d, f"exporter-{variant}-{lab}.log")
    if not os.path.exists(path):
        return {}
    lines = open(path, errors="replace").read().splitlines()
    starts = [i for i, line in enumerate(lines) if "msg=listening" in line]
    out = {}
    for line in lines[starts[-1] if starts else 0:]:
        m = re.search(r'msg="collector up" collector=(\w+) duration_seconds=([0-9.e+-]+)', line)
        if m and m.group(1) not in out:
            out[m.group(1)] = float(m.group(2))
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: render.py RESULTS_DIR [--png PATH]")
    d = sys.argv[1]
    png_copy = sys.argv[sys.argv.index("--png") + 1] if "--png" in sys.argv else None
    recs = [json.loads(line) for line in open(os.path.join(d, "results.jsonl"))]
    by = lambda kind, **kw: [r for r in recs if r["kind"] == kind and all(r.get(k) == v for k, v in kw.items())]
    one = lambda kind, **kw: (by(kind, **kw) or [None])[-1]
    sizes = sorted({r["size"] for r in recs if r["size"] > 0})
    out = []
    w = out.append

    m = one("machine")
    if m:
        w("### Machine and versions\n")
        w("```")
        w(m["lscpu"])
        w(f"Memory: {m['memory']}")
        w(f"OS: {m['os']}, kernel {m['kernel']}")
        w(f"PostgreSQL {m['postgres']} ({m['pg_settings']})")
        w(f"exporter binary: {m['exporter']}; repository at {m['revision']} when the run started")
        w(m["peers"])
        w("```\n")
        w(f"Command: `{m['command']}`\n")

    w("### Data\n")
    w("| size | finished runs in `agent_runs` | `agent_runs` + indexes | runs / model calls of today (start-up aggregate input) | live load during the run (finished runs/s, measured in the DB) |")
    w("|---|---|---|---|---|")
    for s in sizes:
        dat = one("data", size=s)
        q = one("quiet", size=s)
        today = (f"{num(dat['runs_today'])} / {num(dat['model_calls_today'])}"
                 if dat and "runs_today" in dat else "–")
        w(f"| {label(s)} | {num(dat['finished_runs']) if dat else '–'} | "
          f"{num(dat['agent_runs_bytes'] / 2**20) + ' MiB' if dat else '–'} | {today} | "
          f"{num(q['live_finished_per_s'], 1) if q else '–'} |")
    w("")

    # Scrape latency
    w("### /metrics scrape latency\n")
    w("wrk on loopback, during the live load; p50 and p99 are the medians over the repeated wrk runs "
      "of each run's p50 and p99 (\"worst p99\" is the highest of them). One connection (one scrape "
      "at a time, as Prometheus scrapes) unless the conns column says otherwise. Ours and "
      "sql_exporter serve stored results; postgres_exporter queries the database on every scrape.\n")
    w("| size | exporter | variant | series | bytes | conns | scrapes | p50 ms | p99 ms | worst p99 ms | scrapes/s | p50 µs/series |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [("ours", "default", "plain", 1), ("ours", "default", "plain", 4), ("ours", "default", "gzip", 1),
            ("ours", "agent-histograms", "plain", 1), ("postgres_exporter", "default", "plain", 1),
            ("sql_exporter", "default", "plain", 1)]
    for s in sizes:
        for who, variant, enc, conns in rows:
            sc = one("scrape", size=s, who=who, variant=variant, encoding=enc, connections=conns)
            if not sc:
                continue
            se = one("series", size=s, who=who, variant=variant) or {}
            b = se.get("gzip_bytes") if enc == "gzip" else se.get("bytes")
            vname = variant + (" (gzip)" if enc == "gzip" else "")
            w(f"| {label(s)} | {who} | {vname} | {num(se.get('series'))} | {num(b)} | {sc['connections']} | "
              f"{num(sc['requests'])} | {ms(sc['p50_s'])} | {ms(sc['p99_s'])} | {ms(sc['p99_max_s'])} | "
              f"{num(sc['rps'], 1)} | {num(1e6 * sc['p50_s'] / se['series'], 2) if se.get('series') else '–'} |")
    w("")
    w("Ratios, theirs ÷ ours (ours = default flags, plain text):\n")
    w("| size | peer | p50 ratio | p99 ratio |")
    w("|---|---|---|---|")
    for s in sizes:
        ours = one("scrape", size=s, who="ours", variant="default", encoding="plain", connections=1)
        for peer in ("postgres_exporter", "sql_exporter"):
            p = one("scrape", size=s, who=peer, connections=1)
            if ours and p:
                w(f"| {label(s)} | {peer} | {ratio(p['p50_s'], ours['p50_s'])} | {ratio(p['p99_s'], ours['p99_s'])} |")
    w("")
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        w(f"Scaling, {label(hi)} ÷ {label(lo)}:\n")
        w("| exporter | variant | p50 ratio | p99 ratio |")
        w("|---|---|---|---|")
        for who, variant, enc, conns in rows:
            a = one("scrape", size=lo, who=who, variant=variant, encoding=enc, connections=conns)
            b = one("scrape", size=hi, who=who, variant=variant, encoding=enc, connections=conns)
            if a and b:
                w(f"| {who} | {variant}{' (gzip)' if enc == 'gzip' else ''}, {conns} conn | {ratio(b['p50_s'], a['p50_s'])} | "
                  f"{ratio(b['p99_s'], a['p99_s'])} |")
        w("")

    # Collectors
    w("### Collector cycles and their database time\n")
    w("*Cycle* = the collector's own `agent_exporter_collector_duration_seconds_total` ÷ "
      "`…_cycles_total` over a window with every collector running (the default exporter) "
      "and over a window with the collector running alone. *DB ms/cycle* = "
      "`pg_stat_statements.total_exec_time` of the collector's statements ÷ its cycles, from the run in "
      "which it ran alone under a role of its own. *Start to ready, alone* (exec to /readyz 200 "
      "with only that collector enabled) and *first-cycle DB ms* cover the start-up work: the runs "
      "and models collectors' aggregate of today, the patterns collector's 28 days.\n")
    for s in sizes:
        q = one("quiet", size=s)
        w(f"**{label(s)} finished runs**\n")
        w("| collector | interval | cycle ms (all running) | cycle ms (alone) | DB ms/cycle | statements/cycle | start to ready, alone, ms | first-cycle DB ms |")
        w("|---|---|---|---|---|---|---|---|")
        for c in COLLECTOR_ORDER:
            iso = one("isolated", size=s, collector=c)
            qc = (q or {}).get("collectors", {}).get(c, {})
            w(f"| {c} | {DEFAULT_INTERVALS[c]} s | {ms(qc.get('cycle_s'))} | {ms(iso and iso['cycle_s'])} | "
              f"{ms(iso and iso['db_ms_per_cycle'] and iso['db_ms_per_cycle'] / 1000)} | "
              f"{num(iso and iso['db_calls_per_cycle'], 1)} | {ms(iso and iso['ready_s'])} | "
              f"{num(iso and iso['first_db_ms'], 1)} |")
        if q:
            w(f"\nWhole exporter, all collectors, {q['window_s']:.0f} s window: database time "
              f"{q['db_ms_per_s']:.1f} ms per second ({q['db_calls'] / q['window_s']:.1f} statements/s), CPU "
              f"{100 * q['cpu_share']:.1f} % of one core, RSS {q['rss_bytes'] / 2**20:.1f} MiB.\n")

    w("### Database time: ours vs the peers, same figures\n")
    w(f"Ours = one cycle each of the collectors that compute the peers' figures ({', '.join(SAME_FIGURES)}); "
      "postgres_exporter = one scrape; sql_exporter = one run of its job. Per second: ours = the whole "
      "exporter (every collector on its default interval, from the window above); the peers at a "
      f"{PEER_SCRAPE_INTERVAL} s scrape/job interval.\n")
    w("| size | ours DB ms/cycle | postgres_exporter DB ms/scrape | ratio | sql_exporter DB ms/cycle | ratio | "
      f"ours DB ms/s | postgres_exporter DB ms/s @{PEER_SCRAPE_INTERVAL}s | ratio |")
    w("|---|---|---|---|---|---|---|---|---|")
    for s in sizes:
        ours = None
        isos = [one("isolated", size=s, collector=c) for c in SAME_FIGURES]
        if all(i and i["db_ms_per_cycle"] is not None for i in isos):
            ours = sum(i["db_ms_per_cycle"] for i in isos)
        pg = one("peer_db", size=s, who="postgres_exporter")
        sq = one("peer_db", size=s, who="sql_exporter")
        q = one("quiet", size=s)
        pgv = pg and pg["db_ms_per_cycle"]
        sqv = sq and sq["db_ms_per_cycle"]
        ours_s = q and q["db_ms_per_s"]
        pg_s = pgv / PEER_SCRAPE_INTERVAL if pgv else None
        w(f"| {label(s)} | {num(ours, 2)} | {num(pgv, 1)} | {ratio(pgv, ours)} | {num(sqv, 1)} | {ratio(sqv, ours)} | "
          f"{num(ours_s, 1)} | {num(pg_s, 1)} | {ratio(pg_s, ours_s)} |")
    w("")

    # Startup
    w("### Start-up: exec to `/readyz` 200\n")
    w("| size | variant | runs | ready s (median) | min–max s | slowest first cycle |")
    w("|---|---|---|---|---|---|")
    for s in sizes:
        for variant in ("default", "agent-histograms", "no-patterns"):
            st = by("startup", size=s, variant=variant)
            if not st:
                continue
            r = [x["ready_s"] for x in st]
            fc = first_cycles(d, variant, s)
            slow = max(fc.items(), key=lambda kv: kv[1] or 0) if fc else None
            w(f"| {label(s)} | {variant} | {len(r)} | {statistics.median(r):.2f} | {min(r):.2f}–{max(r):.2f} | "
              f"{slow[0] + ' ' + format(slow[1], '.2f') + ' s' if slow else '–'} |")
    w("")
    w("First cycle of each collector in the default exporter (seconds, last start-up; its "
      "`collector up` log line). They start together, so the slowest one sets `/readyz`:\n")
    w("| size | " + " | ".join(COLLECTOR_ORDER) + " |")
    w("|---|" + "---|" * len(COLLECTOR_ORDER))
    for s in sizes:
        st = by("startup", size=s, variant="default")
        fc = first_cycles(d, "default", s)
        if st and fc:
            w(f"| {label(s)} | " + " | ".join(f"{fc.get(c):.3f}" if fc.get(c) is not None else "–"
                                               for c in COLLECTOR_ORDER) + " |")
    w("")

    # Freshness
    fr = by("freshness")
    sk = by("freshness_skipped")
    if fr or sk:
        w("### Freshness: committed change → visible on /metrics\n")
        w("`bench/freshness`, polling /metrics every 5 ms; the latency is measured from the return of "
          "`COMMIT` to the response that shows the change (so it includes one scrape).\n")
        w("| size | mode | change | samples | p50 ms | p99 ms | max ms |")
        w("|---|---|---|---|---|---|---|")
        for r in fr:
            w(f"| {label(r['size'])} | {r['mode']} | {r['event']} | {r['n']} | {ms(r['p50_s'])} | "
              f"{ms(r['p99_s'])} | {ms(r['max_s'])} |")
        for r in sk:
            w(f"| {label(r['size'])} | {r['mode']} | (skipped: {r['reason']}) | | | | |")
        for r in by("backlog"):
            w(f"\nMeasured once no collector had pending start-up work ({r['mode']}, {label(r['size'])}): "
              f"the patterns history was read {r['caught_up_after_ready_s']:.0f} s after /readyz.")
        for r in by("freshness_error"):
            w(f"\nFreshness run {r['mode']} at {label(r['size'])} exited with {r['rc']}: `{r['stderr'].strip()[-300:]}`")
        w("")

    # Resources
    w("### Memory and CPU\n")
    w("| size | variant | peak RSS (VmHWM) MiB | RSS at the end MiB | CPU s used in total |")
    w("|---|---|---|---|---|")
    for s in sizes:
        for variant in ("default", "agent-histograms"):
            r = one("rss", size=s, who="ours", variant=variant)
            if r:
                w(f"| {label(s)} | {variant} | {r['hwm_bytes'] / 2**20:.1f} | {r['rss_bytes'] / 2**20:.1f} | "
                  f"{r['cpu_s']:.1f} |")
    w("")
    steady = by("steady")
    if steady:
        w("### Memory under a steady load\n")
        w("Default flags, live load running; RSS sampled every 5 s, from the first sweep (300 s) "
          "to the end of the run.\n")
        w("| size | binary | run s | ledger ids (runs / model calls) | RSS median MiB | RSS max MiB | "
          "peak RSS (VmHWM) MiB | CPU share from 300 s |")
        w("|---|---|---|---|---|---|---|---|")
        for r in steady:
            ledger = f"{num(r['runs_ledger'])} / {num(r['models_ledger'])}"
            w(f"| {label(r['size'])} | {r['who']} (`{os.path.basename(r['binary'])}`) | {r['seconds']} | {ledger} | "
              f"{r['rss_median_bytes'] / 2**20:.1f} | {r['rss_max_bytes'] / 2**20:.1f} | "
              f"{r['hwm_bytes'] / 2**20:.1f} | {100 * r.get('steady_cpu_share', r['cpu_s'] / r['seconds']):.2f} % |")
        w("")
        timed = [r for r in steady if "cycle_ms" in r]
        if timed:
            collectors = sorted({c for r in timed for c in r["cycle_ms"]})
            w("Same window, per exporter: `/metrics` scrapes taken in turns at the end, and the mean cycle "
              "time of each collector from 300 s on (self-metrics; mostly its queries).\n")
            w("| size | binary | scrapes | scrape p50 ms | scrape p99 ms | " +
              " | ".join(f"{c} cycle ms" for c in collectors) + " |")
            w("|---|---|---|---|---|" + "---|" * len(collectors))
            for r in timed:
                cells = " | ".join(f"{r['cycle_ms'][c]:.2f}" if c in r["cycle_ms"] else "" for c in collectors)
                w(f"| {label(r['size'])} | {r['who']} (`{os.path.basename(r['binary'])}`) | {r['scrapes']} | "
                  f"{1000 * r['scrape_p50_s']:.2f} | {1000 * r['scrape_p99_s']:.2f} | {cells} |")
            w("")

    lat = by("live_latency")
    if lat:
        w("### Live view: committed change → WebSocket message\n")
        w("`bench/live_subscribers`: one subscriber of `…/realtime/ws` on a workspace of the live load; "
          "a probe inserts a running run with a new run_id after a random pause of 0–1 s and times "
          "the return of `COMMIT`; the latency ends when a message holding that run_id has been read "
          "(\"kernel\": the kernel's receive time of that read, without the client's own delay).\n")
        w("| size | mode | samples | p50 ms | p99 ms | max ms | kernel p50 / p99 ms | timed out |")
        w("|---|---|---|---|---|---|---|---|")
        for r in lat:
            w(f"| {label(r['size'])} | {r['mode']} | {r['pairs']} | {ms(r['p50_s'])} | {ms(r['p99_s'])} | "
              f"{ms(r['max_s'])} | {ms(r['kernel_p50_s'])} / {ms(r['kernel_p99_s'])} | {r['timed_out']} |")
        w("")
    fan = by("live_fanout")
    if fan:
        w("### Live view: the cost of subscribers\n")
        w("One exporter per mode, windows one after another (0 subscribers, then on one workspace, "
          "then spread over workspaces, then 0 again); probes as above throughout, into every "
          "subscribed workspace at once. CPU and RSS of the exporter from /proc; realtime "
          "cycles from its self-metrics; database time from `pg_stat_statements` (its role only); "
          "latency over every (probe, subscriber) pair, and of the last subscriber per probe.\n")
        w("| size | mode | subscribers | workspaces | exporter CPU | RSS MiB | realtime cycles/s | "
          "realtime statement ms/s (per call) | buffers per call | exporter DB ms/s | messages/s | "
          "latency p50 / p99 ms | last subscriber p50 / p99 ms | client CPU |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in fan:
            calls = r["realtime_db_calls_per_s"]
            per_call = r["realtime_db_ms_per_s"] / calls if calls else None
            blks = r.get("realtime_db_blks_per_call")
            lat_pairs = (f"{ms(r['p50_s'])} / {ms(r['p99_s'])}" if r["pairs"] else "–")
            lat_all = (f"{ms(r['all_p50_s'])} / {ms(r['all_p99_s'])}" if r["pairs"] else "–")
            w(f"| {label(r['size'])} | {r['mode']} | {num(r['subscribers'])} | {r['workspaces']} | "
              f"{100 * r['cpu_share']:.1f} % | {r['rss_bytes'] / 2**20:.1f} | {r['realtime_cycles_per_s']:.1f} | "
              f"{r['realtime_db_ms_per_s']:.1f} ({'–' if per_call is None else f'{per_call:.2f}'}) | "
              f"{'–' if blks is None else num(blks)} | {r['db_ms_per_s']:.1f} | {num(r['messages_sent_per_s'])} | "
              f"{lat_pairs} | {lat_all} | {100 * r['client_cpu_share']:.1f} % |")
        w("")

    with open(os.path.join(d, "tables.md"), "w") as f:
        f.write("\n".join(out) + "\n")

    # Plot: scrape latency vs table size.
    series = [("ours", "default", "plain", "agent\\_execution\\_exporter"),
              ("ours", "agent-histograms", "plain", "agent\\_execution\\_exporter, agent histograms"),
              ("postgres_exporter", "default", "plain", "postgres\\_exporter 0.11"),
              ("sql_exporter", "default", "plain", "sql\\_exporter 0.4")]
    dat = os.path.join(d, "scrape_latency.dat")
    plots = []
    with open(dat, "w") as f:
        idx = 0
        for who, variant, enc, title in series:
            pts = [(s, one("scrape", size=s, who=who, variant=variant, encoding=enc, connections=1)) for s in sizes]
            pts = [(s, p) for s, p in pts if p]
            if not pts:
                continue
            f.write(f"# {title}\n")
            for s, p in pts:
                f.write(f"{s} {p['p50_s'] * 1000} {p['p99_s'] * 1000}\n")
            f.write("\n\n")
            plots.append(f"'{dat}' index {idx} using 1:2 with linespoints lw 2 pt 7 title '{title} p50', "
                         f"'{dat}' index {idx} using 1:3 with linespoints lw 1 dt 2 pt 6 title '{title} p99'")
            idx += 1
    png = os.path.join(d, "scrape_latency.png")
    script = f"""
set terminal pngcairo size 900,560 font 'DejaVu Sans,10'
set output '{png}'
set title '/metrics scrape latency vs agent\\_runs size (same database, live load {one("quiet", size=sizes[-1])["live_finished_per_s"] if one("quiet", size=sizes[-1]) else 0:.0f} runs/s)'
set logscale xy
set xlabel 'finished runs in agent\\_runs'
set ylabel 'latency (ms)'
set format x '%.0s%c'
set xrange [{sizes[0] / 1.6}:{sizes[-1] * 1.6}]
set grid
set key outside bottom center horizontal maxrows 4
plot {', '.join(plots)}
"""
    with open(os.path.join(d, "scrape_latency.gp"), "w") as f:
        f.write(script)
    if plots:
        subprocess.run(["gnuplot", os.path.join(d, "scrape_latency.gp")], check=True)
        if png_copy:
            os.makedirs(os.path.dirname(os.path.abspath(png_copy)), exist_ok=True)
            with open(png, "rb") as src, open(png_copy, "wb") as dst:
                dst.write(src.read())
    print(os.path.join(d, "tables.md"))


if __name__ == "__main__":
    main()
