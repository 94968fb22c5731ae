#include "tools/sim/backfill.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string_view>
#include <exception>
#include <mutex>
#include <thread>
#include <stdexcept>
#include <vector>

#include <libpq-fe.h>

#include "tools/sim/db.h"

namespace aee::sim {
namespace {

constexpr uint64_t kDomainBackfillRun = 11;
constexpr uint64_t kDomainBackfillQueue = 12;
constexpr Micros kHour = 3600 * kSecond;

// One finished run and everything about it, as COPY wants it.
struct Row {
  Micros queued = 0;
  int agent = 0;
  uint64_t key = 0;
  RunPlan plan;
  Micros wait = 0;
  bool cancelled_in_queue = false;
  int user = 0;
};

// The bulk path talks libpq directly: COPY data built in large buffers costs a fraction
// of pqxx::stream_to's per-field text conversions, which were half the load time.
class PgConn {
 public:
  PgConn(const std::string& url, const std::string& schema) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string msg = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("backfill connection: " + msg);
    }
    char* ident = PQescapeIdentifier(conn_, schema.c_str(), schema.size());
    const std::string quoted = ident ? ident : "public";
    PQfreemem(ident);
    Exec("SET search_path TO " + quoted);
    // Generated data: a crash costs a rerun, so do not wait for WAL flushes.
    Exec("SET synchronous_commit = off");
  }
  ~PgConn() { PQfinish(conn_); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  void Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    const std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("backfill: " + sql.substr(0, 60) + ": " + msg);
    }
  }

  void Copy(const std::string& table_and_columns, const std::string& data) {
    PGresult* r = PQexec(conn_, ("COPY " + table_and_columns + " FROM STDIN (FORMAT binary)").c_str());
    const auto status = PQresultStatus(r);
    PQclear(r);
    if (status != PGRES_COPY_IN) throw std::runtime_error("backfill: COPY " + table_and_columns + ": " + PQerrorMessage(conn_));
    constexpr size_t kChunk = 1 << 20;
    for (size_t off = 0; off < data.size(); off += kChunk) {
      const size_t n = std::min(kChunk, data.size() - off);
      if (PQputCopyData(conn_, data.data() + off, static_cast<int>(n)) != 1) {
        throw std::runtime_error(std::string("backfill: COPY data: ") + PQerrorMessage(conn_));
      }
    }
    if (PQputCopyEnd(conn_, nullptr) != 1) {
      throw std::runtime_error(std::string("backfill: COPY end: ") + PQerrorMessage(conn_));
    }
    std::string error;
    while (PGresult* res = PQgetResult(conn_)) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK && error.empty()) error = PQresultErrorMessage(res);
      PQclear(res);
    }
    if (!error.empty()) throw std::runtime_error("backfill: COPY " + table_and_columns + ": " + error);
  }

 private:
  PGconn* conn_;
};

// Runs queued in one UTC hour, finished before `end`, sorted by queued_at.
void GenerateHour(const Platform& platform, int64_t hour, Micros from, Micros end,
                  std::vector<Row>* rows) {
  const Micros h0 = hour * kHour;
  const double shape = platform.Shape(h0 + kHour / 2);
  // Busier hours mean fuller workers and longer queue waits.
  const double load = 0.25 + 0.6 * std::min(1.0, shape / platform.PeakShape());
  const Modifiers none;
  const size_t before = rows->size();
  const int agents = static_cast<int>(platform.agents().size());
  for (int a = 0; a < agents; ++a) {
    Rng count_rng = Rng::Derive(platform.options().seed, kDomainBackfillRun,
                                static_cast<uint64_t>(hour), static_cast<uint64_t>(a) << 40);
    const uint64_t n = count_rng.Poisson(platform.AgentRate(a) * shape * 3600.0);
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t key = (static_cast<uint64_t>(a) << 32) | k;
      Rng rng = Rng::Derive(platform.options().seed, kDomainBackfillRun,
                            static_cast<uint64_t>(hour), key + 1);
      Row r;
      r.queued = h0 + static_cast<Micros>(rng.Below(static_cast<uint64_t>(kHour)));
      r.agent = a;
      r.key = key;
      r.user = static_cast<int>(rng.Below(40));
      r.plan = platform.DrawRun(a, rng, none);
      const double median_wait = 0.15 * load / (1 - load) * std::exp(-0.25 * r.plan.priority);
      r.wait = static_cast<Micros>(rng.LogNormal(median_wait, 0.9) * kSecond);
      Micros finished = 0;
      if (r.plan.patience < r.wait) {
        r.cancelled_in_queue = true;
        r.wait = r.plan.patience;
        finished = r.queued + r.wait;
      } else {
        finished = r.queued + r.wait + r.plan.runtime;
      }
      if (r.queued < from || finished >= end) continue;
      rows->push_back(std::move(r));
    }
  }
  std::sort(rows->begin() + static_cast<std::ptrdiff_t>(before), rows->end(),
            [](const Row& x, const Row& y) {
              return x.queued != y.queued ? x.queued < y.queued : x.key < y.key;
            });
}

// Ids are keyed by (hour, agent, index in hour): stable whatever the job split.
uint64_t IdDomain(uint64_t domain, int64_t hour) {
  return (static_cast<uint64_t>(hour) << 8) | domain;
}

// COPY binary: the server skips parsing timestamps and numbers, which was most of
// its time per row in text format.
class BinaryCopy {
 public:
  BinaryCopy() { out_.append("PGCOPY\n\xff\r\n\0", 11).append(8, '\0'); }
  void Row(int16_t fields) { Be(static_cast<uint16_t>(fields)); }
  void Null() { Be(static_cast<uint32_t>(-1)); }
  void Text(std::string_view v) {
    Be(static_cast<uint32_t>(v.size()));
    out_.append(v);
  }
  void Id(const Uuid& u) {
    Be(16u);
    Be(u.hi);
    Be(u.lo);
  }
  void Int4(int32_t v) {
    Be(4u);
    Be(static_cast<uint32_t>(v));
  }
  void Float8(double v) {
    Be(8u);
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    Be(bits);
  }
  void Timestamp(Micros t) {
    constexpr Micros kPgEpoch = 946684800LL * kSecond;  // 2000-01-01 UTC
    Be(8u);
    Be(static_cast<uint64_t>(t - kPgEpoch));
  }
  // Non-negative numeric with 8 decimals, in base-10000 digits.
  void Numeric8(double v) {
    const uint64_t scaled = static_cast<uint64_t>(std::llround(std::max(0.0, v) * 1e8));
    std::vector<uint16_t> digits;
    for (uint64_t ip = scaled / 100000000; ip > 0; ip /= 10000) {
      digits.insert(digits.begin(), static_cast<uint16_t>(ip % 10000));
    }
    int16_t weight = static_cast<int16_t>(digits.size()) - 1;
    const uint64_t frac = scaled % 100000000;
    digits.push_back(static_cast<uint16_t>(frac / 10000));
    digits.push_back(static_cast<uint16_t>(frac % 10000));
    while (!digits.empty() && digits.front() == 0) {
      digits.erase(digits.begin());
      --weight;
    }
    while (!digits.empty() && digits.back() == 0) digits.pop_back();
    if (digits.empty()) weight = 0;
    Be(static_cast<uint32_t>(8 + 2 * digits.size()));
    Be(static_cast<uint16_t>(digits.size()));
    Be(static_cast<uint16_t>(weight));
    Be(static_cast<uint16_t>(0));  // positive
    Be(static_cast<uint16_t>(8));  // display scale
    for (uint16_t d : digits) Be(d);
  }
  const std::string& Finish() {
    Be(static_cast<uint16_t>(0xffff));
    return out_;
  }
  void Reserve(size_t n) { out_.reserve(n); }

 private:
  template <typename T>
  void Be(T v) {
    char buf[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) {
      buf[i] = static_cast<char>(v >> (8 * (sizeof(T) - 1 - i)));
    }
    out_.append(buf, sizeof(T));
  }
  std::string out_;
};

void CopyRows(PgConn& pg, const Platform& platform, const std::vector<Row>& rows,
              const std::vector<int64_t>& hour_of_row, uint64_t* calls_written) {
  const uint64_t seed = platform.options().seed;
  const auto& agents = platform.agents();
  const auto& workspaces = platform.workspaces();
  const auto& models = Models();
  BinaryCopy runs;
  BinaryCopy queue;
  BinaryCopy calls;
  runs.Reserve(rows.size() * 200);
  queue.Reserve(rows.size() * 130);
  calls.Reserve(rows.size() * 250);
  std::string user;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const Agent& a = agents[static_cast<size_t>(r.agent)];
    const Uuid& ws = workspaces[static_cast<size_t>(a.workspace)].id;
    const Uuid run_id =
        TimeOrderedUuid(r.queued, seed, IdDomain(kDomainBackfillRun, hour_of_row[i]), r.key);
    const Micros started = r.queued + r.wait;
    const Micros finished = r.cancelled_in_queue ? started : started + r.plan.runtime;
    // Latencies from the stored (microsecond) timestamps, so they match exactly.
    auto secs = [](Micros d) { return static_cast<double>(d) / kSecond; };

    runs.Row(12);
    runs.Id(run_id);
    runs.Id(ws);
    runs.Id(a.id);
    user = "user-" + std::to_string(a.workspace + 1) + "-" + std::to_string(r.user);
    runs.Text(user);
    runs.Text(r.cancelled_in_queue ? "cancelled" : OutcomeName(r.plan.outcome));
    runs.Timestamp(r.queued);
    if (r.cancelled_in_queue) {
      runs.Null();
    } else {
      runs.Timestamp(started);
    }
    runs.Timestamp(finished);
    runs.Float8(r.plan.estimated_runtime_s);
    if (r.cancelled_in_queue) {
      runs.Null();
      runs.Null();
    } else {
      runs.Float8(secs(started - r.queued));
      runs.Float8(secs(finished - started));
    }
    runs.Float8(secs(finished - r.queued));

    queue.Row(8);
    queue.Id(TimeOrderedUuid(r.queued, seed, IdDomain(kDomainBackfillQueue, hour_of_row[i]), r.key));
    queue.Id(ws);
    queue.Id(a.id);
    queue.Id(run_id);
    queue.Int4(r.plan.priority);
    queue.Text(r.cancelled_in_queue ? "cancelled" : "dispatched");
    queue.Timestamp(r.queued);
    // The platform's estimate: about the typical wait, not the one that happened.
    queue.Timestamp(r.queued + r.wait / 2 + kSecond / 10);

    if (r.cancelled_in_queue) continue;
    for (const ModelCall& c : r.plan.calls) {
      calls.Row(9);
      calls.Id(run_id);
      calls.Id(ws);
      calls.Id(a.id);
      calls.Text(models[static_cast<size_t>(c.model)].name);
      calls.Int4(c.prompt_tokens);
      calls.Int4(c.completion_tokens);
      calls.Float8(std::round(c.latency_s * 1e6) / 1e6);
      calls.Numeric8(c.cost_usd);
      calls.Timestamp(started + c.offset);
      ++*calls_written;
    }
  }
  pg.Copy("agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at, "
          "finished_at, estimated_runtime, queue_wait_seconds, runtime_seconds, "
          "total_latency_seconds)", runs.Finish());
  pg.Copy("execution_queue (queue_id, workspace_id, agent_id, run_id, priority, status, "
          "queued_at, estimated_start_time)", queue.Finish());
  pg.Copy("model_calls (run_id, workspace_id, agent_id, model, prompt_tokens, "
          "completion_tokens, latency_seconds, cost_usd, created_at)", calls.Finish());
}

}  // namespace

BackfillStats RunBackfill(const Platform& platform, const BackfillOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  BackfillStats stats;
  Micros from = options.end - static_cast<Micros>(options.days) * 86400 * kSecond;
  {
    auto conn = Connect(options.db_url, options.db_schema);
    EnsureEntities(*conn, platform, options.end);
    pqxx::work tx(*conn);
    // Running the backfill again must not write the same history twice.
    const auto r = tx.exec1(
        "SELECT (extract(epoch FROM max(queued_at)) * 1000000)::bigint FROM agent_runs");
    if (!r[0].is_null()) from = std::max(from, r[0].as<Micros>() + 1);
  }
  stats.from = from;
  if (from >= options.end) return stats;

  // Work unit: one UTC day of queued_at hours, one transaction. Each hour's runs come
  // from their own random stream, so jobs and their order do not change the rows.
  const int64_t first_hour = from / kHour;
  const int64_t last_hour = (options.end - 1) / kHour;
  const int64_t hours_per_unit = 24;
  const int64_t units = (last_hour - first_hour) / hours_per_unit + 1;
  std::atomic<int64_t> next{0};
  std::atomic<uint64_t> runs{0};
  std::atomic<uint64_t> calls{0};
  std::mutex error_mu;
  std::exception_ptr error;

  auto job = [&] {
    try {
      PgConn pg(options.db_url, options.db_schema);
      std::vector<Row> rows;
      std::vector<int64_t> hour_of_row;
      for (int64_t u = next++; u < units; u = next++) {
        const int64_t h_begin = first_hour + u * hours_per_unit;
        const int64_t h_end = std::min(last_hour + 1, h_begin + hours_per_unit);
        rows.clear();
        hour_of_row.clear();
        for (int64_t h = h_begin; h < h_end; ++h) {
          GenerateHour(platform, h, from, options.end, &rows);
          hour_of_row.resize(rows.size(), h);
        }
        uint64_t written_calls = 0;
        pg.Exec("BEGIN");
        CopyRows(pg, platform, rows, hour_of_row, &written_calls);
        pg.Exec("COMMIT");
        runs += rows.size();
        calls += written_calls;
      }
    } catch (...) {
      std::lock_guard lock(error_mu);
      if (!error) error = std::current_exception();
      next = units;  // stop the other jobs early
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(1, options.jobs); ++j) threads.emplace_back(job);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  {
    auto conn = Connect(options.db_url, options.db_schema);
    pqxx::nontransaction nt(*conn);
    // Fresh statistics so the exporter's first queries plan for the real row counts.
    nt.exec0("ANALYZE agent_runs");
    nt.exec0("ANALYZE execution_queue");
    nt.exec0("ANALYZE model_calls");
  }
  stats.runs = runs;
  stats.model_calls = calls;
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace aee::sim
