#include "tools/sim/live.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <queue>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "tools/sim/db.h"

namespace aee::sim {
namespace {

constexpr uint64_t kDomainLiveRun = 21;
constexpr uint64_t kDomainLiveQueue = 22;
constexpr uint64_t kDomainLiveArrivals = 23;
constexpr uint64_t kDomainLiveFate = 24;
constexpr size_t kMaxBatchesPerTransaction = 200;

std::string Num(double v, int decimals) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Ts(Micros t) { return "'" + FormatTimestamp(t) + "'::timestamptz"; }

std::string Csv(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

std::string FormatDuration(Micros d) {
  if (d > 1000LL * 86400 * kSecond) return "forever";
  return Num(static_cast<double>(d) / kSecond, 1) + "s";
}

// The writes of one tick for one connection, as SQL VALUES tuples. Every value is
// generated here (uuids, numbers, our timestamps), so inlining literals is safe and
// lets one statement carry a whole batch.
struct Batch {
  uint64_t tick = 0;
  std::vector<std::string> run_inserts;
  std::vector<std::string> queue_inserts;
  std::vector<std::string> dispatches;       // (run_id, started_at, queue_wait)
  std::vector<std::string> dispatched_queue;  // queue ids
  std::vector<std::string> terminals;        // (run_id, status, finished_at, runtime, total)
  std::vector<std::string> cancelled_queue;  // queue ids
  std::vector<std::string> calls;
  std::string heartbeat;  // VALUES list for workers, newest wins

  bool Empty() const {
    return run_inserts.empty() && queue_inserts.empty() && dispatches.empty() &&
           terminals.empty() && calls.empty() && heartbeat.empty() && cancelled_queue.empty();
  }
  void Merge(Batch&& o) {
    tick = std::max(tick, o.tick);
    auto move_all = [](std::vector<std::string>& to, std::vector<std::string>& from) {
      to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
    };
    move_all(run_inserts, o.run_inserts);
    move_all(queue_inserts, o.queue_inserts);
    move_all(dispatches, o.dispatches);
    move_all(dispatched_queue, o.dispatched_queue);
    move_all(terminals, o.terminals);
    move_all(cancelled_queue, o.cancelled_queue);
    move_all(calls, o.calls);
    if (!o.heartbeat.empty()) heartbeat = std::move(o.heartbeat);
  }
};

// Statements in lifecycle order, so a run inserted, dispatched and finished within
// one merged batch ends in the right state. The status guards make a late terminal
// update from another connection win over a dispatch that commits after it.
void ExecuteBatch(pqxx::work& tx, const Batch& b) {
  if (!b.run_inserts.empty()) {
    tx.exec0("INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, "
             "queued_at, estimated_runtime) VALUES " + Csv(b.run_inserts));
  }
  if (!b.queue_inserts.empty()) {
    tx.exec0("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, run_id, priority, "
             "status, queued_at, estimated_start_time) VALUES " + Csv(b.queue_inserts));
  }
  if (!b.dispatches.empty()) {
    tx.exec0("UPDATE agent_runs r SET status = 'running', started_at = v.s, "
             "queue_wait_seconds = v.w FROM (VALUES " + Csv(b.dispatches) +
             ") AS v(id, s, w) WHERE r.run_id = v.id AND r.status = 'queued'");
    tx.exec0("UPDATE execution_queue SET status = 'dispatched' WHERE status = 'queued' AND "
             "queue_id IN (" + Csv(b.dispatched_queue) + ")");
  }
  if (!b.terminals.empty()) {
    tx.exec0("UPDATE agent_runs r SET status = v.st, finished_at = v.f, runtime_seconds = v.rt, "
             "total_latency_seconds = v.tl FROM (VALUES " + Csv(b.terminals) +
             ") AS v(id, st, f, rt, tl) WHERE r.run_id = v.id "
             "AND r.status IN ('queued', 'running')");
  }
  if (!b.cancelled_queue.empty()) {
    tx.exec0("UPDATE execution_queue SET status = 'cancelled' WHERE status = 'queued' AND "
             "queue_id IN (" + Csv(b.cancelled_queue) + ")");
  }
  if (!b.calls.empty()) {
    tx.exec0("INSERT INTO model_calls (run_id, workspace_id, agent_id, model, prompt_tokens, "
             "completion_tokens, latency_seconds, cost_usd, created_at) VALUES " + Csv(b.calls));
  }
  if (!b.heartbeat.empty()) {
    tx.exec0("UPDATE workers w SET status = v.st, cpu_percent = v.c, memory_percent = v.m, "
             "gpu_percent = v.g, last_heartbeat = COALESCE(v.hb, w.last_heartbeat) "
             "FROM (VALUES " + b.heartbeat + ") AS v(id, st, c, m, g, hb) "
             "WHERE w.worker_id = v.id");
  }
}

// One connection that applies batches in order and commits each group of them.
class Writer {
 public:
  Writer(const LiveOptions& options, std::atomic<bool>* failed, std::string* error,
         std::mutex* error_mu)
      : conn_(Connect(options.db_url, options.db_schema)),
        failed_(failed), error_(error), error_mu_(error_mu) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Writer() { Stop(); }

  void Push(Batch&& b) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(b));
    }
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  uint64_t committed_tick() const { return committed_tick_.load(); }
  size_t pending() {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  void Loop() {
    try {
      for (;;) {
        Batch merged;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
          if (queue_.empty()) return;
          // Under load several ticks go into one transaction: fewer, bigger commits.
          for (size_t n = 0; n < kMaxBatchesPerTransaction && !queue_.empty(); ++n) {
            merged.Merge(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        if (!merged.Empty()) {
          pqxx::work tx(*conn_);
          ExecuteBatch(tx, merged);
          tx.commit();
        }
        committed_tick_ = merged.tick;
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(*error_mu_);
      if (error_->empty()) *error_ = e.what();
      *failed_ = true;
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::atomic<bool>* failed_;
  std::string* error_;
  std::mutex* error_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> committed_tick_{0};
  std::thread thread_;
};

// A terminal update whose transaction stays open for a while after finished_at, the
// way a slow request handler or a long unit of work commits on a real platform.
struct LateOp {
  size_t home = 0;          // writer that holds the run's earlier writes
  uint64_t needed_tick = 0;  // those writes must be committed first
  std::string terminal;
  std::vector<std::string> calls;
};

class LateWriter {
 public:
  LateWriter(const LiveOptions& options, std::vector<std::unique_ptr<Writer>>* writers,
             std::atomic<bool>* failed, std::string* error, std::mutex* error_mu)
      : conn_(Connect(options.db_url, options.db_schema)), delay_(options.late_commit_delay),
        writers_(writers), failed_(failed), error_(error), error_mu_(error_mu) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~LateWriter() { Stop(); }
  void Push(LateOp&& op) {
    {
      std::lock_guard lock(mu_);
      pending_.push_back(std::move(op));
    }
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    try {
      uint64_t round = 0;
      for (;;) {
        std::vector<LateOp> ops;
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
          if (pending_.empty()) return;
          ops.swap(pending_);
        }
        for (const auto& op : ops) {
          while (!*failed_ && (*writers_)[op.home]->committed_tick() < op.needed_tick) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }
        Batch b;
        for (auto& op : ops) {
          b.terminals.push_back(std::move(op.terminal));
          for (auto& c : op.calls) b.calls.push_back(std::move(c));
        }
        pqxx::work tx(*conn_);
        ExecuteBatch(tx, b);
        // Hold the transaction open (0.5x to 1.5x the delay) unless shutting down.
        Rng rng = Rng::Derive(0x1a7e, round++);
        const auto hold = std::chrono::microseconds(
            static_cast<int64_t>(static_cast<double>(delay_) * rng.Uniform(0.5, 1.5)));
        {
          std::unique_lock lock(mu_);
          cv_.wait_for(lock, hold, [this] { return stopping_; });
        }
        tx.commit();
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(*error_mu_);
      if (error_->empty()) *error_ = e.what();
      *failed_ = true;
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  Micros delay_;
  std::vector<std::unique_ptr<Writer>>* writers_;
  std::atomic<bool>* failed_;
  std::string* error_;
  std::mutex* error_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<LateOp> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

// Appended lines of the control file; starts at the end so old lines do not replay.
class ControlFile {
 public:
  explicit ControlFile(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (in) offset_ = static_cast<std::streamoff>(in.tellg());
  }
  std::vector<std::string> Poll() {
    std::vector<std::string> lines;
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (!in) return lines;
    const std::streamoff size = in.tellg();
    if (size < offset_) {
      offset_ = 0;  // truncated or replaced: read it from the top
      partial_.clear();
    }
    if (size == offset_) return lines;
    in.seekg(offset_);
    std::string chunk(static_cast<size_t>(size - offset_), '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    offset_ = size;
    partial_ += chunk;
    size_t start = 0;
    for (size_t nl = partial_.find('\n'); nl != std::string::npos;
         nl = partial_.find('\n', start)) {
      lines.push_back(partial_.substr(start, nl - start));
      start = nl + 1;
    }
    partial_.erase(0, start);
    return lines;
  }

 private:
  std::string path_;
  std::streamoff offset_ = 0;
  std::string partial_;
};

enum class RunState { kQueued, kRunning, kStuck };

struct LiveRun {
  std::string run_id;
  std::string queue_id;
  int agent = 0;
  RunState state = RunState::kQueued;
  Micros queued = 0;
  Micros started = 0;
  int worker = -1;
  uint64_t dispatch_tick = 0;
  RunPlan plan;
};

struct WorkerState {
  int used = 0;
  int capacity = 1;
  bool online = true;
};

class Simulation {
 public:
  Simulation(const Platform& platform, const LiveOptions& options, Clock& clock,
             std::ostream& log)
      : platform_(platform), options_(options), clock_(clock), log_(log),
        arrivals_rng_(Rng::Derive(platform.options().seed, kDomainLiveArrivals)),
        late_rng_(Rng::Derive(platform.options().seed, kDomainLiveFate)) {
    for (const auto& w : platform.workers()) workers_.push_back(WorkerState{0, w.capacity, true});
    double sum = 0;
    for (const auto& a : platform.agents()) {
      sum += a.runtime_median_s * std::exp(a.runtime_sigma * a.runtime_sigma / 2);
    }
    mean_runtime_s_ = sum / static_cast<double>(platform.agents().size());
  }

  LiveSummary Run(const sigset_t& stop_signals) {
    const size_t nw = static_cast<size_t>(std::max(1, options_.writers));
    for (size_t i = 0; i < nw; ++i) {
      writers_.push_back(std::make_unique<Writer>(options_, &failed_, &error_, &error_mu_));
    }
    late_ = std::make_unique<LateWriter>(options_, &writers_, &failed_, &error_, &error_mu_);
    std::unique_ptr<ControlFile> control;
    if (!options_.control_file.empty()) control = std::make_unique<ControlFile>(options_.control_file);

    t0_ = clock_.Now();
    id_domain_ = Rng::Mix(static_cast<uint64_t>(t0_));
    for (const auto& s : options_.scenarios) scenarios_.Add(s, t0_);
    log_ << "[sim] live: " << platform_.agents().size() << " agents, " << workers_.size()
         << " workers x " << platform_.options().worker_slots << " slots, rate "
         << platform_.options().rate << "/s, " << nw << " writers" << std::endl;

    Micros last_control = t0_;
    Micros last_heartbeat = t0_ - kSecond;
    Micros last_stats = t0_;
    uint64_t finished_at_last_stats = 0;
    uint64_t tick = 0;
    Micros now = t0_;
    bool stop_requested = false;
    while (!failed_) {
      ++tick;
      now = t0_ + static_cast<Micros>(tick) * options_.tick;
      clock_.SleepUntil(now);
      timespec zero{0, 0};
      if (sigtimedwait(&stop_signals, nullptr, &zero) > 0) {
        log_ << "[sim] stop signal received" << std::endl;
        stop_requested = true;
      }
      if (stop_requested || (options_.duration > 0 && now - t0_ > options_.duration)) break;

      if (control && now - last_control >= 200'000) {
        last_control = now;
        for (const auto& line : control->Poll()) ControlLine(line, now);
      }
      batches_.assign(nw, Batch{});
      for (auto& b : batches_) b.tick = tick;
      tick_ = tick;
      Scenarios(now);
      Arrivals(now);
      Patience(now);
      Completions(now);
      Dispatch(now);
      if (now - last_heartbeat >= kSecond) {
        last_heartbeat = now;
        Heartbeat(now);
      }
      for (size_t i = 0; i < nw; ++i) {
        if (!batches_[i].Empty()) writers_[i]->Push(std::move(batches_[i]));
      }
      if (now - last_stats >= options_.stats_interval) {
        const uint64_t finished = summary_.completed + summary_.failed + summary_.cancelled;
        size_t pending = 0;
        for (auto& w : writers_) pending += w->pending();
        log_ << "[sim] stats: finished/s="
             << Num(static_cast<double>(finished - finished_at_last_stats) /
                        (static_cast<double>(now - last_stats) / kSecond), 1)
             << " queued=" << waiting_.size() << " running=" << running_count_
             << " arrived=" << summary_.arrived << " finished=" << finished
             << " db_pending_batches=" << pending
             << " lag_ms=" << (clock_.Now() - now) / 1000 << std::endl;
        last_stats = now;
        finished_at_last_stats = finished;
      }
    }
    // Drain: everything decided so far reaches the database before we report.
    for (auto& w : writers_) w->Stop();
    late_->Stop();
    if (failed_) throw std::runtime_error("database write failed: " + error_);
    summary_.queued = waiting_.size();
    summary_.running = running_count_;
    summary_.seconds = static_cast<double>(now - t0_) / kSecond;
    return summary_;
  }

 private:
  Batch& BatchFor(uint64_t seq) { return batches_[seq % batches_.size()]; }

  void ControlLine(const std::string& raw, Micros now) {
    std::string line = raw;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string error;
    const auto spec = ParseScenario(line, &error);
    if (!spec) {
      log_ << "[sim] control file: ignoring line \"" << raw << "\": " << error << std::endl;
      return;
    }
    scenarios_.Add(*spec, now);
    log_ << "[sim] control file: scheduled " << ScenarioName(spec->kind) << std::endl;
  }

  void Scenarios(Micros now) {
    for (auto& w : scenarios_.windows()) {
      if (!w.started && now >= w.begin) {
        w.started = true;
        log_ << "[sim] scenario " << ScenarioName(w.spec.kind) << " start factor="
             << w.spec.factor << " duration=" << FormatDuration(w.spec.duration)
             << " t=" << Num(static_cast<double>(now - t0_) / kSecond, 1) << "s" << std::endl;
      }
      if (w.started && !w.ended && now >= w.end) {
        w.ended = true;
        log_ << "[sim] scenario " << ScenarioName(w.spec.kind)
             << " end t=" << Num(static_cast<double>(now - t0_) / kSecond, 1) << "s" << std::endl;
      }
    }
    // Backlog: the highest-numbered workers vanish (offline, no heartbeats) and come
    // back when it ends; runs already on them still finish.
    const double lost_fraction = scenarios_.WorkersLost(now);
    const size_t lost = static_cast<size_t>(lost_fraction * static_cast<double>(workers_.size()));
    for (size_t i = 0; i < workers_.size(); ++i) {
      workers_[i].online = i < workers_.size() - lost;
    }
    // Stuck runs hang until the scenario is over; then the platform's reaper fails them.
    if (scenarios_.StuckProbability(now) == 0 && !stuck_.empty()) {
      for (uint64_t seq : stuck_) {
        auto it = runs_.find(seq);
        Finish(seq, it->second, now, Outcome::kFailed);
      }
      stuck_.clear();
    }
  }

  void Arrivals(Micros now) {
    const double factor = scenarios_.RateFactor(now);
    const double dt = static_cast<double>(options_.tick) / kSecond;
    const int agents = static_cast<int>(platform_.agents().size());
    struct Arrival {
      Micros t;
      int agent;
    };
    std::vector<Arrival> arrivals;
    for (int a = 0; a < agents; ++a) {
      const uint64_t n = arrivals_rng_.Poisson(platform_.AgentRate(a) * dt * factor);
      for (uint64_t k = 0; k < n; ++k) {
        const Micros t = now - options_.tick +
                         static_cast<Micros>(arrivals_rng_.Below(static_cast<uint64_t>(options_.tick))) + 1;
        arrivals.push_back({t, a});
      }
    }
    std::sort(arrivals.begin(), arrivals.end(), [](const Arrival& x, const Arrival& y) {
      return x.t != y.t ? x.t < y.t : x.agent < y.agent;
    });
    const Modifiers mods{scenarios_.FailureFloor(now), scenarios_.ModelLatencyFactor(now)};
    int online_slots = 0;
    for (const auto& w : workers_) online_slots += w.online ? w.capacity : 0;
    for (const auto& arr : arrivals) {
      const uint64_t seq = next_seq_++;
      Rng rng = Rng::Derive(platform_.options().seed, kDomainLiveRun, seq);
      LiveRun r;
      r.agent = arr.agent;
      r.queued = arr.t;
      r.plan = platform_.DrawRun(arr.agent, rng, mods);
      r.run_id = TimeOrderedUuid(arr.t, platform_.options().seed, kDomainLiveRun ^ id_domain_, seq).Str();
      r.queue_id = TimeOrderedUuid(arr.t, platform_.options().seed, kDomainLiveQueue ^ id_domain_, seq).Str();
      const Agent& a = platform_.agents()[static_cast<size_t>(arr.agent)];
      const std::string ws = platform_.workspaces()[static_cast<size_t>(a.workspace)].id.Str();
      const std::string user =
          "user-" + std::to_string(a.workspace + 1) + "-" + std::to_string(rng.Below(40));
      const double est_wait = static_cast<double>(waiting_.size()) * mean_runtime_s_ /
                              std::max(1, online_slots);
      Batch& b = BatchFor(seq);
      b.run_inserts.push_back("('" + r.run_id + "','" + ws + "','" + a.id.Str() + "','" + user +
                              "','queued'," + Ts(r.queued) + "," +
                              Num(r.plan.estimated_runtime_s, 3) + ")");
      b.queue_inserts.push_back("('" + r.queue_id + "','" + ws + "','" + a.id.Str() + "','" +
                                r.run_id + "'," + std::to_string(r.plan.priority) + ",'queued'," +
                                Ts(r.queued) + "," +
                                Ts(r.queued + static_cast<Micros>(est_wait * kSecond)) + ")");
      waiting_.insert({-r.plan.priority, r.queued, seq});
      patience_.push({r.queued + r.plan.patience, seq});
      runs_.emplace(seq, std::move(r));
      ++summary_.arrived;
    }
  }

  void Patience(Micros now) {
    while (!patience_.empty() && patience_.top().first <= now) {
      const auto [deadline, seq] = patience_.top();
      patience_.pop();
      auto it = runs_.find(seq);
      if (it == runs_.end() || it->second.state != RunState::kQueued) continue;
      waiting_.erase({-it->second.plan.priority, it->second.queued, seq});
      Finish(seq, it->second, deadline, Outcome::kCancelled);
    }
  }

  void Completions(Micros now) {
    while (!finishing_.empty() && finishing_.top().first <= now) {
      const auto [at, seq] = finishing_.top();
      finishing_.pop();
      auto it = runs_.find(seq);
      Finish(seq, it->second, at, it->second.plan.outcome);
    }
  }

  void Dispatch(Micros now) {
    const double stuck_p = scenarios_.StuckProbability(now);
    size_t scan = 0;  // workers before this index are full or offline
    while (!waiting_.empty()) {
      while (scan < workers_.size() &&
             (!workers_[scan].online || workers_[scan].used >= workers_[scan].capacity)) {
        ++scan;
      }
      if (scan == workers_.size()) break;
      // Highest priority first, then the oldest.
      const auto [neg_priority, queued, seq] = *waiting_.begin();
      waiting_.erase(waiting_.begin());
      LiveRun& r = runs_.at(seq);
      r.state = RunState::kRunning;
      r.started = now;
      r.worker = static_cast<int>(scan);
      r.dispatch_tick = tick_;
      ++workers_[scan].used;
      ++running_count_;
      Batch& b = BatchFor(seq);
      b.dispatches.push_back("('" + r.run_id + "'::uuid," + Ts(now) + "," +
                             FormatSeconds(now - r.queued) + "::float8)");
      b.dispatched_queue.push_back("'" + r.queue_id + "'::uuid");
      if (stuck_p > 0 && late_rng_.Chance(stuck_p)) {
        r.state = RunState::kStuck;
        stuck_.push_back(seq);
      } else {
        finishing_.push({now + r.plan.runtime, seq});
      }
    }
  }

  void Finish(uint64_t seq, LiveRun& r, Micros at, Outcome outcome) {
    const bool started = r.state != RunState::kQueued;
    Batch& b = BatchFor(seq);
    std::string terminal = "('" + r.run_id + "'::uuid,'" + OutcomeName(outcome) + "'," + Ts(at) +
                           "," + (started ? FormatSeconds(at - r.started) : "NULL") +
                           "::float8," + FormatSeconds(at - r.queued) + "::float8)";
    std::vector<std::string> calls;
    if (started) {
      const Agent& a = platform_.agents()[static_cast<size_t>(r.agent)];
      const std::string prefix =
          "('" + r.run_id + "','" +
          platform_.workspaces()[static_cast<size_t>(a.workspace)].id.Str() + "','" +
          a.id.Str() + "','";
      for (const ModelCall& c : r.plan.calls) {
        if (r.started + c.offset > at) continue;
        calls.push_back(prefix + Models()[static_cast<size_t>(c.model)].name + "'," +
                        std::to_string(c.prompt_tokens) + "," +
                        std::to_string(c.completion_tokens) + "," + Num(c.latency_s, 6) + "," +
                        Num(c.cost_usd, 8) + "," + Ts(r.started + c.offset) + ")");
      }
      summary_.model_calls += calls.size();
      WorkerState& w = workers_[static_cast<size_t>(r.worker)];
      --w.used;
      --running_count_;
    } else {
      b.cancelled_queue.push_back("'" + r.queue_id + "'::uuid");
    }
    if (started && options_.late_commit_fraction > 0 && late_rng_.Chance(options_.late_commit_fraction)) {
      ++summary_.late_commits;
      late_->Push(LateOp{seq % writers_.size(), r.dispatch_tick, std::move(terminal), std::move(calls)});
    } else {
      b.terminals.push_back(std::move(terminal));
      for (auto& c : calls) b.calls.push_back(std::move(c));
    }
    switch (outcome) {
      case Outcome::kCompleted: ++summary_.completed; break;
      case Outcome::kFailed: ++summary_.failed; break;
      case Outcome::kCancelled: ++summary_.cancelled; break;
    }
    runs_.erase(seq);
  }

  void Heartbeat(Micros now) {
    std::string values;
    for (size_t i = 0; i < workers_.size(); ++i) {
      const WorkerState& w = workers_[i];
      const double load = static_cast<double>(w.used) / w.capacity;
      Rng rng = Rng::Derive(platform_.options().seed, 0x4b, i, static_cast<uint64_t>(now));
      const char* status = !w.online ? "offline" : (w.used > 0 ? "busy" : "idle");
      const double cpu = std::clamp(3 + 88 * load + rng.Uniform(-3, 3), 0.0, 100.0);
      const double mem = std::clamp(25 + 55 * load + rng.Uniform(-2, 2), 0.0, 100.0);
      const double gpu = std::clamp(70 * load + rng.Uniform(0, 4), 0.0, 100.0);
      if (!values.empty()) values += ',';
      values += "('" + platform_.workers()[i].id + "','" + status + "'," + Num(cpu, 1) +
                "::float8," + Num(mem, 1) + "::float8," + Num(gpu, 1) + "::float8," +
                (w.online ? Ts(now) : std::string("NULL::timestamptz")) + ")";
    }
    batches_[0].heartbeat = std::move(values);
  }

  const Platform& platform_;
  const LiveOptions& options_;
  Clock& clock_;
  std::ostream& log_;
  Rng arrivals_rng_;
  Rng late_rng_;
  double mean_runtime_s_ = 1;
  Micros t0_ = 0;
  uint64_t id_domain_ = 0;
  uint64_t tick_ = 0;
  ScenarioSet scenarios_;
  std::vector<WorkerState> workers_;
  std::unordered_map<uint64_t, LiveRun> runs_;
  std::set<std::tuple<int, Micros, uint64_t>> waiting_;
  using Event = std::pair<Micros, uint64_t>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> patience_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> finishing_;
  std::vector<uint64_t> stuck_;
  uint64_t running_count_ = 0;
  uint64_t next_seq_ = 0;
  LiveSummary summary_;
  std::vector<Batch> batches_;
  std::vector<std::unique_ptr<Writer>> writers_;
  std::unique_ptr<LateWriter> late_;
  std::atomic<bool> failed_{false};
  std::string error_;
  std::mutex error_mu_;
};

}  // namespace

Micros SystemClock::Now() { return WallNow(); }

void SystemClock::SleepUntil(Micros t) {
  const Micros d = t - Now();
  if (d > 0) std::this_thread::sleep_for(std::chrono::microseconds(d));
}

LiveSummary RunLive(const Platform& platform, const LiveOptions& options, Clock& clock,
                    const sigset_t& stop_signals, std::ostream& log) {
  {
    auto conn = Connect(options.db_url, options.db_schema);
    EnsureEntities(*conn, platform, clock.Now());
  }
  Simulation sim(platform, options, clock, log);
  return sim.Run(stop_signals);
}

std::string FormatSummary(const LiveSummary& s) {
  const uint64_t finished = s.completed + s.failed + s.cancelled;
  return "summary: seconds=" + Num(s.seconds, 1) + " arrived=" + std::to_string(s.arrived) +
         " completed=" + std::to_string(s.completed) + " failed=" + std::to_string(s.failed) +
         " cancelled=" + std::to_string(s.cancelled) + " running=" + std::to_string(s.running) +
         " queued=" + std::to_string(s.queued) + " model_calls=" + std::to_string(s.model_calls) +
         " late_commits=" + std::to_string(s.late_commits) + " finished_per_s=" +
         Num(s.seconds > 0 ? static_cast<double>(finished) / s.seconds : 0, 1);
}

}  // namespace aee::sim
