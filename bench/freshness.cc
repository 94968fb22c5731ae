// freshness: how long a committed change takes to show on /metrics.
//
// In a workspace and agent of its own (so the platform's live load never touches the
// series it watches), it repeats three changes and, after each commit, polls /metrics
// every few milliseconds until the change is visible:
//   queue_add   a run and its queue row are inserted as queued -> agent_queue_depth 1
//   run_start   the run starts, the queue row is dispatched    -> agent_runs_running 1
//   run_finish  the run completes                               -> agent_runs_finished_total +1
// A random pause before each change spreads the commits over the collectors' cycles
// (--max-pause-ms, and --finish-pause-ms before the finish: the runs collector's interval).
// Each sample is written as "event<TAB>seconds" to --out; a summary goes to stdout.
//
//   freshness --db.url=URL --setup            create the workspace and agent, then exit
//   freshness --db.url=URL --port=P [--repetitions=N] [--poll-ms=5] [--out=FILE]
// The exporter must be started after --setup (its collectors list workspaces and agents).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_util.h"
#include "tests/support/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kWorkspace = "0be4c400-0000-4000-8000-00000000f001";
constexpr std::string_view kAgent = "0be4c400-0000-4000-8000-00000000f002";

struct Options {
  std::string db_url;
  int port = 0;
  std::string path = "/metrics";
  int repetitions = 30;
  int poll_ms = 5;
  int max_pause_ms = 1000;
  int finish_pause_ms = -1;  // -1: same as max_pause_ms
  double timeout_s = 30;
  std::string out;
  bool setup = false;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "freshness: " << why << "\n"
            << "usage: freshness --db.url=URL (--setup | --port=P [--path=/metrics] [--repetitions=N]\n"
            << "                 [--poll-ms=5] [--max-pause-ms=1000] [--finish-pause-ms=N] [--timeout=30]\n"
            << "                 [--out=FILE])\n"
            << "Pauses are uniform in [0, max]; give the finish a pause as long as the runs\n"
            << "collector's interval so its commits fall on every phase of that cycle.\n";
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--setup") {
      o.setup = true;
      continue;
    }
    if (a == "--help" || a == "-h") Usage("measures the time from a committed change to /metrics");
    const std::optional<bench::Flag> flag = bench::SplitFlag(a);
    if (!flag) Usage("unknown flag " + a);
    const std::string& name = flag->name;
    const std::string& v = flag->value;
    auto number = [&]() {
      const std::optional<double> d = bench::NonNegative(v);
      if (!d) Usage("bad value for --" + name + ": " + v);
      return *d;
    };
    if (name == "db.url") {
      o.db_url = v;
    } else if (name == "port") {
      o.port = static_cast<int>(number());
    } else if (name == "path") {
      o.path = v;
    } else if (name == "repetitions") {
      o.repetitions = static_cast<int>(number());
    } else if (name == "poll-ms") {
      o.poll_ms = static_cast<int>(number());
    } else if (name == "max-pause-ms") {
      o.max_pause_ms = static_cast<int>(number());
    } else if (name == "finish-pause-ms") {
      o.finish_pause_ms = static_cast<int>(number());
    } else if (name == "timeout") {
      o.timeout_s = number();
    } else if (name == "out") {
      o.out = v;
    } else {
      Usage("unknown flag " + a);
    }
  }
  if (o.db_url.empty()) Usage("--db.url is required");
  if (!o.setup && o.port <= 0) Usage("--port is required");
  return o;
}

// Value of the first sample of `family` whose labels include every pair in `labels`.
std::optional<double> Sample(const std::string& body, std::string_view family,
                             const std::vector<std::pair<std::string, std::string>>& labels) {
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string_view line(body.data() + pos, end - pos);
    pos = end + 1;
    if (line.size() <= family.size() || line.substr(0, family.size()) != family) continue;
    char next = line[family.size()];
    if (next != '{' && next != ' ') continue;
    bool all = true;
    for (const auto& [k, v] : labels) {
      if (line.find(k + "=\"" + v + "\"") == std::string_view::npos) {
        all = false;
        break;
      }
    }
    if (!all) continue;
    size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    return std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return std::nullopt;
}

class Prober {
 public:
  explicit Prober(const Options& o) : o_(o) {}

  std::string Scrape() const {
    auto r = aee::testing::HttpGet(o_.port, o_.path);
    if (r.status != 200) throw std::runtime_error("GET " + o_.path + " returned " + std::to_string(r.status));
    return std::move(r.body);
  }

  // Polls until pred(body) holds; returns seconds since `since`, or nullopt on timeout.
  template <typename Pred>
  std::optional<double> WaitFor(Clock::time_point since, Pred pred) const {
    auto deadline = since + std::chrono::duration<double>(o_.timeout_s);
    while (Clock::now() < deadline) {
      std::string body = Scrape();
      auto now = Clock::now();
      if (pred(body)) return std::chrono::duration<double>(now - since).count();
      std::this_thread::sleep_for(std::chrono::milliseconds(o_.poll_ms));
    }
    return std::nullopt;
  }

 private:
  const Options& o_;
};

void Setup(pqxx::connection& conn) {
  pqxx::work tx(conn);
  tx.exec_params("INSERT INTO workspaces (id, name) VALUES ($1, 'bench-freshness') ON CONFLICT DO NOTHING",
                 std::string(kWorkspace));
  tx.exec_params("INSERT INTO agents (id, workspace_id, name) VALUES ($1, $2, 'bench-freshness-agent') "
                 "ON CONFLICT DO NOTHING",
                 std::string(kAgent), std::string(kWorkspace));
  // Leftovers of an interrupted run would make the watched gauges start above 0.
  tx.exec_params("DELETE FROM execution_queue WHERE workspace_id = $1 AND status = 'queued'", std::string(kWorkspace));
  tx.exec_params("UPDATE agent_runs SET status = 'cancelled', finished_at = now() "
                 "WHERE workspace_id = $1 AND status IN ('queued', 'running')",
                 std::string(kWorkspace));
  tx.commit();
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(rank);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  try {
    pqxx::connection conn(o.db_url);
    Setup(conn);
    if (o.setup) return 0;

    Prober prober(o);
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_int_distribution<int> pause(0, std::max(o.max_pause_ms, 0));
    std::uniform_int_distribution<int> finish_pause(
        0, std::max(o.finish_pause_ms < 0 ? o.max_pause_ms : o.finish_pause_ms, 0));
    auto sleep_random = [&] { std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng))); };

    const std::string ws(kWorkspace);
    const std::string agent(kAgent);
    const std::vector<std::pair<std::string, std::string>> ws_label{{"workspace_id", ws}};
    const std::vector<std::pair<std::string, std::string>> finished_labels{
        {"workspace_id", ws}, {"agent_id", agent}, {"status", "completed"}};
    auto gauge = [&](const std::string& body, std::string_view family) {
      return Sample(body, family, ws_label).value_or(-1);
    };

    std::map<std::string, std::vector<double>> samples;
    std::ofstream out;
    if (!o.out.empty()) {
      out.open(o.out, std::ios::app);
      if (!out) throw std::runtime_error("cannot open " + o.out);
    }
    auto record = [&](const std::string& event, std::optional<double> s) {
      if (!s) {
        std::cerr << "freshness: " << event << " not visible within " << o.timeout_s << " s\n";
        samples[event + "_timeout"].push_back(o.timeout_s);
        return;
      }
      samples[event].push_back(*s);
      if (out) out << event << '\t' << *s << '\n' << std::flush;
    };

    // The exporter must already show the workspace idle.
    if (!prober.WaitFor(Clock::now(), [&](const std::string& b) {
          return gauge(b, "agent_queue_depth") == 0 && gauge(b, "agent_runs_running") == 0 &&
                 Sample(b, "agent_runs_finished_total", finished_labels).has_value();
        })) {
      throw std::runtime_error("the exporter does not show workspace " + ws +
                               " idle (was it started after --setup, and is it ready?)");
    }

    for (int i = 0; i < o.repetitions; ++i) {
      const std::string run_id = bench::Uuid(rng);
      const std::string queue_id = bench::Uuid(rng);

      sleep_random();
      {
        pqxx::work tx(conn);
        tx.exec_params("INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, "
                       "estimated_runtime) VALUES ($1, $2, $3, 'bench', 'queued', now(), 1)",
                       run_id, ws, agent);
        tx.exec_params("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, run_id, priority, status, "
                       "queued_at) VALUES ($1, $2, $3, $4, 0, 'queued', now())",
                       queue_id, ws, agent, run_id);
        tx.commit();
      }
      auto t = Clock::now();
      record("queue_add", prober.WaitFor(t, [&](const std::string& b) { return gauge(b, "agent_queue_depth") == 1; }));

      sleep_random();
      {
        pqxx::work tx(conn);
        tx.exec_params("UPDATE agent_runs SET status = 'running', started_at = now(), "
                       "queue_wait_seconds = extract(epoch FROM now() - queued_at) WHERE run_id = $1",
                       run_id);
        tx.exec_params("UPDATE execution_queue SET status = 'dispatched' WHERE queue_id = $1", queue_id);
        tx.commit();
      }
      t = Clock::now();
      record("run_start", prober.WaitFor(t, [&](const std::string& b) { return gauge(b, "agent_runs_running") == 1; }));

      std::this_thread::sleep_for(std::chrono::milliseconds(finish_pause(rng)));
      double before = Sample(prober.Scrape(), "agent_runs_finished_total", finished_labels).value_or(0);
      {
        pqxx::work tx(conn);
        tx.exec_params("UPDATE agent_runs SET status = 'completed', finished_at = now(), "
                       "runtime_seconds = extract(epoch FROM now() - started_at), "
                       "total_latency_seconds = extract(epoch FROM now() - queued_at) WHERE run_id = $1",
                       run_id);
        tx.commit();
      }
      t = Clock::now();
      record("run_finish", prober.WaitFor(t, [&](const std::string& b) {
        return Sample(b, "agent_runs_finished_total", finished_labels).value_or(0) >= before + 1;
      }));
      // Next repetition starts from an idle workspace.
      prober.WaitFor(Clock::now(), [&](const std::string& b) {
        return gauge(b, "agent_queue_depth") == 0 && gauge(b, "agent_runs_running") == 0;
      });
    }

    std::printf("%-12s %5s %9s %9s %9s\n", "event", "n", "p50_ms", "p99_ms", "max_ms");
    for (const auto& [event, v] : samples) {
      std::printf("%-12s %5zu %9.1f %9.1f %9.1f\n", event.c_str(), v.size(), 1000 * Percentile(v, 0.5),
                  1000 * Percentile(v, 0.99), 1000 * Percentile(v, 1.0));
    }
    for (const auto& [event, v] : samples) {
      if (event.find("_timeout") != std::string::npos) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "freshness: " << e.what() << "\n";
    return 1;
  }
}
