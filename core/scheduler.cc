#include "core/scheduler.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/flags.h"

namespace aee {
namespace {

using prometheus::MetricType;
using std::chrono::milliseconds;

constexpr FamilySpec kUp{"agent_exporter_collector_up", MetricType::Gauge,
                         "1 if the collector's last cycle succeeded, 0 if it failed.", {"collector"}};
constexpr FamilySpec kDuration{"agent_exporter_collector_duration_seconds", MetricType::Gauge,
                               "Duration of the collector's last cycle.", {"collector"}};
constexpr FamilySpec kErrors{"agent_exporter_collector_errors_total", MetricType::Counter,
                             "Failed collector cycles.", {"collector"}};
constexpr FamilySpec kLastSuccess{"agent_exporter_collector_last_success_timestamp_seconds", MetricType::Gauge,
                                  "Time of the collector's last successful cycle (0 before the first).",
                                  {"collector"}};
constexpr FamilySpec kInterval{"agent_exporter_collector_interval_seconds", MetricType::Gauge,
                               "Configured sampling interval of the collector.", {"collector"}};
constexpr FamilySpec kDurationTotal{"agent_exporter_collector_duration_seconds_total", MetricType::Counter,
                                    "Time spent in the collector's cycles (its queries, mostly), summed.",
                                    {"collector"}};
constexpr FamilySpec kCycles{"agent_exporter_collector_cycles_total", MetricType::Counter,
                             "Cycles the collector ran, successful or not.", {"collector"}};
constexpr FamilySpec kWokenCycles{"agent_exporter_collector_woken_cycles_total", MetricType::Counter,
                                  "Cycles started early by a change notification (--db.notify-channel).",
                                  {"collector"}};
constexpr FamilySpec kPendingWork{"agent_exporter_collector_pending_work", MetricType::Gauge,
                                  "1 while the collector works through a backlog (start-up history) in "
                                  "budgeted cycles, 0 once caught up.",
                                  {"collector"}};
constexpr std::array<FamilySpec, 9> kFamilies = {kUp,           kDuration, kErrors,      kLastSuccess, kInterval,
                                                 kDurationTotal, kCycles,   kWokenCycles, kPendingWork};

constexpr milliseconds kMaxBackoff{30000};

}  // namespace

Scheduler::Scheduler(std::vector<ScheduledCollector> collectors, const Clock& clock, Logger& logger,
                     milliseconds min_wake_gap, const SteadyClock& steady_clock)
    : clock_(clock), steady_clock_(steady_clock), logger_(logger), min_wake_gap_(min_wake_gap) {
  for (auto& c : collectors) {
    auto slot = std::make_unique<Slot>();
    slot->status.name = c.name;
    slot->status.interval = c.schedule.interval;
    slot->c = std::move(c);
    slots_.push_back(std::move(slot));
  }
}

Scheduler::~Scheduler() { Stop(); }

std::span<const FamilySpec> Scheduler::Families() { return kFamilies; }

void Scheduler::Start() {
  for (size_t i = 0; i < slots_.size(); ++i) threads_.emplace_back([this, i] { Loop(i); });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

milliseconds Scheduler::Backoff(const Slot& slot) const {
  milliseconds wait = slot.c.schedule.interval;
  for (int i = 1; i < slot.consecutive_failures && wait < kMaxBackoff; ++i) wait *= 2;
  return std::min(wait, std::max(kMaxBackoff, slot.c.schedule.interval));
}

bool Scheduler::AllFirstCyclesEndedLocked() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const auto& slot) { return slot->status.cycles > 0; });
}

void Scheduler::Loop(size_t index) {
  Slot& slot = *slots_[index];
  while (true) {
    {
      std::lock_guard lock(mutex_);
      slot.c.collector->SetStartingUp(!AllFirstCyclesEndedLocked());
    }
    const auto started = steady_clock_.Now();
    const bool ok = RunOnce(index);
    const auto took = steady_clock_.Now() - started;
    heap_trimmer_.MaybeTrim();  // the cycle freed its reads and the old snapshot
    const auto next = ok ? started + slot.c.schedule.interval : steady_clock_.Now() + Backoff(slot);
    // A collector working through a backlog in budgeted cycles goes on at once
    // (at most one cycle per min_wake_gap), so no single cycle runs long; but only
    // once every collector's first cycle has ended: before that the backlog would
    // take database time from the cycles /readyz waits for.
    std::unique_lock lock(mutex_);
    const bool backlog = ok && slot.status.pending_work;  // as the cycle left it
    auto due = [&] {
      return backlog && AllFirstCyclesEndedLocked() ? std::min(next, started + min_wake_gap_) : next;
    };
    // A failing collector waits out its backoff whatever the notifications say.
    while (!stopping_ && !(ok && slot.wake_requested) && steady_clock_.Now() < due()) {
      steady_clock_.WaitUntil(wake_, lock, due());
    }
    if (stopping_) return;
    if (ok && slot.wake_requested) {
      // Coalesce: everything announced until the next start folds into one cycle.
      // Never sooner than kWokenCycleSpacing times the cycle that just ended, after
      // its start: woken by a busy platform, a collector then spends at most that
      // share of a core on its cycles, whatever its size (a 1 ms cycle keeps the gap).
      // Never later than its interval either: a wake does not delay a cycle.
      const auto gap = std::max<SteadyClock::duration>(slot.c.schedule.notify_coalesce.value_or(min_wake_gap_),
                                                       took * kWokenCycleSpacing);
      steady_clock_.WaitUntil(wake_, lock, std::min(started + gap, next), [this] { return stopping_; });
      if (stopping_) return;
      if (steady_clock_.Now() < next) ++slot.status.woken_cycles;
    }
    slot.wake_requested = false;
  }
}

void Scheduler::Wake(std::string_view name) {
  bool any = false;
  {
    std::lock_guard lock(mutex_);
    for (auto& slot : slots_) {
      if (slot->c.name == name) {
        slot->wake_requested = true;
        any = true;
      }
    }
  }
  if (any) wake_.notify_all();
}

bool Scheduler::RunOnce(size_t index) {
  Slot& slot = *slots_[index];
  const auto started = steady_clock_.Now();
  std::shared_ptr<const Snapshot> fresh;
  std::shared_ptr<const RenderedFamilies> rendered;
  std::string error;
  bool unavailable = false;
  std::shared_ptr<const RenderedFamilies> previous;  // its unchanged pieces need no compression
  {
    std::lock_guard lock(mutex_);
    previous = slot.rendered;
  }
  try {
    Snapshot snapshot = slot.c.collector->Collect(*slot.c.db);
    if (keep_snapshots_) {
      fresh = std::make_shared<const Snapshot>(std::move(snapshot));
      rendered = std::make_shared<const RenderedFamilies>(RenderFamilies(*fresh, previous.get()));
    } else {
      rendered = std::make_shared<const RenderedFamilies>(RenderFamilies(std::move(snapshot), previous.get()));
    }
    previous.reset();
  } catch (const CollectorUnavailable& e) {
    error = logger_.Redact(e.what());
    unavailable = true;
  } catch (const std::exception& e) {
    error = logger_.Redact(e.what());
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    slot.c.db->Reset();
  }
  const double seconds = std::chrono::duration<double>(steady_clock_.Now() - started).count();
  const auto now = clock_.Now();
  bool had_succeeded;
  bool first_cycle;
  {
    std::lock_guard lock(mutex_);
    CollectorStatus& s = slot.status;
    had_succeeded = s.ever_succeeded;
    s.last_duration_seconds = seconds;
    s.total_duration_seconds += seconds;
    first_cycle = ++s.cycles == 1;
    s.unavailable = unavailable;
    if (rendered) {
      s.pending_work = slot.c.collector->HasPendingWork();
      slot.snapshot = std::move(fresh);
      slot.rendered = std::move(rendered);
      s.up = true;
      s.ever_succeeded = true;
      s.last_success = now;
      s.failing_since.reset();
      s.last_error.clear();
    } else if (unavailable) {
      // The platform lacks this part: publish nothing from it, count no error.
      slot.snapshot.reset();
      slot.rendered.reset();
      s.up = false;
      s.failing_since.reset();
      s.last_error = error;
    } else {
      s.up = false;
      ++s.errors;
      if (!s.failing_since) s.failing_since = now;
      s.last_error = error;
    }
  }
  if (first_cycle) wake_.notify_all();  // backlogs may wait for every first cycle
  const std::string duration_text = std::to_string(seconds);
  if (unavailable) {
    slot.consecutive_failures = 0;
    if (!slot.logged_unavailable) {
      slot.logged_unavailable = true;
      logger_.Log(LogLevel::kWarn, "collector unavailable, will check again",
                  {{"collector", slot.c.name}, {"reason", error}});
    }
    return false;
  }
  const bool was_unavailable = slot.logged_unavailable;
  slot.logged_unavailable = false;
  if (!error.empty()) {
    // Log on the change of state only; repeats go to debug.
    if (++slot.consecutive_failures == 1) {
      logger_.Log(LogLevel::kError, "collector failed",
                  {{"collector", slot.c.name}, {"err", error}, {"retry_in", FormatDuration(Backoff(slot))}});
    } else {
      logger_.Log(LogLevel::kDebug, "collector still failing", {{"collector", slot.c.name}, {"err", error}});
    }
    return false;
  }
  if (slot.consecutive_failures > 0 || !had_succeeded || was_unavailable) {
    logger_.Log(LogLevel::kInfo, had_succeeded ? "collector recovered" : "collector up",
                {{"collector", slot.c.name}, {"duration_seconds", duration_text}});
  }
  slot.consecutive_failures = 0;
  return true;
}

std::vector<prometheus::MetricFamily> Scheduler::Gather() const {
  std::vector<prometheus::MetricFamily> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& slot : slots_) {
      if (slot->snapshot) out.insert(out.end(), slot->snapshot->begin(), slot->snapshot->end());
    }
  }
  for (auto& f : GatherSelf()) out.push_back(std::move(f));
  return out;
}

std::vector<std::shared_ptr<const RenderedFamilies>> Scheduler::Rendered() const {
  std::vector<std::shared_ptr<const RenderedFamilies>> out;
  std::lock_guard lock(mutex_);
  for (const auto& slot : slots_) {
    if (slot->rendered) out.push_back(slot->rendered);
  }
  return out;
}

std::vector<prometheus::MetricFamily> Scheduler::GatherSelf() const {
  std::vector<prometheus::MetricFamily> out;
  FamilyBuilder up(kUp), duration(kDuration), errors(kErrors), last(kLastSuccess), interval(kInterval),
      duration_total(kDurationTotal), cycles(kCycles), woken(kWokenCycles), pending(kPendingWork);
  std::lock_guard lock(mutex_);
  for (const auto& slot : slots_) {
    const CollectorStatus& s = slot->status;
    up.Add({s.name}, s.up ? 1 : 0);
    duration.Add({s.name}, s.last_duration_seconds);
    errors.Add({s.name}, static_cast<double>(s.errors));
    last.Add({s.name}, s.last_success ? ToUnixSeconds(*s.last_success) : 0);
    interval.Add({s.name}, std::chrono::duration<double>(s.interval).count());
    duration_total.Add({s.name}, s.total_duration_seconds);
    cycles.Add({s.name}, static_cast<double>(s.cycles));
    woken.Add({s.name}, static_cast<double>(s.woken_cycles));
    pending.Add({s.name}, s.pending_work ? 1 : 0);
  }
  for (FamilyBuilder* b : {&up, &duration, &errors, &last, &interval, &duration_total, &cycles, &woken, &pending}) {
    out.push_back(b->Take());
  }
  return out;
}

std::vector<CollectorStatus> Scheduler::Status() const {
  std::lock_guard lock(mutex_);
  std::vector<CollectorStatus> out;
  for (const auto& slot : slots_) out.push_back(slot->status);
  return out;
}

bool Scheduler::Ready(std::string* body, bool with_errors) const {
  const auto now = clock_.Now();
  bool ready = true;
  nlohmann::ordered_json collectors = nlohmann::ordered_json::object();
  for (const CollectorStatus& s : Status()) {
    std::string state;
    if (s.unavailable) {
      state = "unavailable";  // optional source missing: does not hold readiness back
    } else if (!s.ever_succeeded) {
      state = s.failing_since ? "failing" : "starting";
      ready = false;
    } else if (s.up) {
      state = "up";
    } else if (now - *s.failing_since > 3 * s.interval) {
      state = "failing";
      ready = false;
    } else {
      state = "degraded";  // failing, but not yet for 3 intervals
    }
    nlohmann::ordered_json j;
    j["state"] = state;
    j["up"] = s.up;
    j["errors"] = s.errors;
    j["interval_seconds"] = std::chrono::duration<double>(s.interval).count();
    j["last_success"] = s.last_success ? nlohmann::ordered_json(ToUnixSeconds(*s.last_success)) : nullptr;
    if (s.failing_since) j["failing_for_seconds"] = std::chrono::duration<double>(now - *s.failing_since).count();
    if (with_errors && !s.last_error.empty()) j["last_error"] = s.last_error;
    collectors[s.name] = std::move(j);
  }
  nlohmann::ordered_json root;
  root["status"] = ready ? "ready" : "not ready";
  root["collectors"] = std::move(collectors);
  *body = root.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return ready;
}

}  // namespace aee
