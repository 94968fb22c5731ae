#include "collectors/patterns_collector.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "collectors/scope.h"
#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kHourAvg{"agent_executions_hour_of_day_average", MetricType::Gauge,
                              "Runs finished in this hour of the day over the lookback days, divided by the days.",
                              {"workspace_id", "hour"}};
constexpr FamilySpec kDailyAvg{"agent_executions_daily_average", MetricType::Gauge,
                               "Runs finished over the lookback days, divided by the days.", {"workspace_id"}};
constexpr FamilySpec kWeekdayAvg{"agent_executions_weekday_average", MetricType::Gauge,
                                 "Runs finished on the Monday-Friday days of the lookback, divided by those days.",
                                 {"workspace_id"}};
constexpr FamilySpec kWeekendAvg{"agent_executions_weekend_average", MetricType::Gauge,
                                 "Runs finished on the Saturdays and Sundays of the lookback, divided by those days.",
                                 {"workspace_id"}};
constexpr FamilySpec kPeakHour{"agent_executions_peak_hour", MetricType::Gauge,
                               "The busiest hours of the day (rank 1 = busiest); value = their hourly average.",
                               {"workspace_id", "hour", "rank"}};
constexpr FamilySpec kQuietHour{"agent_executions_quiet_hour", MetricType::Gauge,
                                "The quietest hours of the day (rank 1 = quietest); value = their hourly average.",
                                {"workspace_id", "hour", "rank"}};
constexpr FamilySpec kHourSuccess{"agent_executions_hour_of_day_success_ratio", MetricType::Gauge,
                                  "Completed / finished runs in this hour of the day over the lookback days.",
                                  {"workspace_id", "hour"}};
constexpr FamilySpec kHourLatency{"agent_executions_hour_of_day_latency_seconds_avg", MetricType::Gauge,
                                  "Mean end-to-end latency of the runs finished in this hour of the day over the "
                                  "lookback days.",
                                  {"workspace_id", "hour"}};
constexpr FamilySpec kWindowDays{"agent_executions_pattern_window_seconds", MetricType::Gauge,
                                 "Length of the window the pattern averages cover: the complete days they divide by "
                                 "(the lookback, or fewer while the history is shorter) x 86400.",
                                 {}};
constexpr std::array<FamilySpec, 10> kFamilies = {kHourAvg,     kDailyAvg,    kWeekdayAvg, kWeekendAvg, kPeakHour,
                                                  kQuietHour,   kHourSuccess, kHourLatency, kWindowDays, kRowsReadFamily};

// A day ended less than this long ago is aggregated again on the next cycle, so
// runs committing late into yesterday are included once they are visible.
constexpr double kSettleSeconds = 900;

// Today (as a local day number), the local time of day, and the local day of the
// first finished run (an index lookup on finished_at). $1 = now, $2 = zone.
constexpr std::string_view kClockSql = R"SQL(
SELECT ($1::timestamptz AT TIME ZONE $2)::date - DATE '1970-01-01',
       extract(epoch FROM ($1::timestamptz AT TIME ZONE $2) - date_trunc('day', $1::timestamptz AT TIME ZONE $2))::float8,
       (SELECT (min(finished_at) AT TIME ZONE $2)::date - DATE '1970-01-01' FROM {schema}.agent_runs)
)SQL";

// Finished runs of local day $1, local hours [$2, $3), grouped by day, workspace and
// local hour: one range scan of the finished_at index. Slice boundaries are
// computed the same way on both sides, so consecutive slices tile the day exactly,
// DST changes included. Latency is end-to-end (the column, else
// finished_at - queued_at), summed in integer microseconds; invalid values (NULL,
// negative, NaN, over 10^12 s) are left out of the mean only.
constexpr std::string_view kDaysSql = R"SQL(
WITH r AS (
  SELECT workspace_id::text AS ws, status, finished_at AT TIME ZONE $4 AS local,
         coalesce(total_latency_seconds, CASE WHEN NOT isfinite(finished_at) OR NOT isfinite(queued_at) THEN 'NaN'::float8 ELSE extract(epoch FROM finished_at - queued_at)::float8 END) AS e2e
  FROM {schema}.agent_runs ar
  WHERE finished_at >= (((DATE '1970-01-01' + $1::int) + make_interval(hours => $2::int)) AT TIME ZONE $4)
    AND finished_at < (((DATE '1970-01-01' + $1::int) + make_interval(hours => $3::int)) AT TIME ZONE $4)
    AND workspace_id IS NOT NULL AND status IN ('completed', 'failed', 'cancelled') AND {shard}
)
SELECT local::date - DATE '1970-01-01', ws, extract(hour FROM local)::int, count(*),
       count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE e2e >= 0 AND e2e <= 1e12),
       least(coalesce(sum(round(e2e * 1000000)::bigint) FILTER (WHERE e2e >= 0 AND e2e <= 1e12), 0), 9223372036854775807)::bigint
FROM r GROUP BY 1, 2, 3
)SQL";

// ISO day of week of a day number: 1 = Monday ... 7 = Sunday (day 0 was a Thursday).
int IsoWeekday(std::int64_t day) { return static_cast<int>(((day % 7) + 7 + 3) % 7) + 1; }

// Quiet hours: fewest runs first, earlier hour on ties. Peak hours: most runs
// first, earlier hour on ties, and only hours that had runs. by_runs: (runs, hour)
// of the 24 hours; n: days in the window.
void AddRankedHours(const std::string& ws, std::vector<std::pair<std::uint64_t, int>> by_runs, double n,
                    FamilyBuilder& peak, FamilyBuilder& quiet) {
  constexpr int kRanked = PatternsCollector::kRankedHours;
  std::sort(by_runs.begin(), by_runs.end());
  for (int r = 0; r < kRanked; ++r) {
    const auto& [runs, h] = by_runs[static_cast<size_t>(r)];
    quiet.Add({ws, std::to_string(h), std::to_string(r + 1)}, static_cast<double>(runs) / n);
  }
  std::stable_sort(by_runs.begin(), by_runs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int r = 0; r < kRanked && by_runs[static_cast<size_t>(r)].first > 0; ++r) {
    const auto& [runs, h] = by_runs[static_cast<size_t>(r)];
    peak.Add({ws, std::to_string(h), std::to_string(r + 1)}, static_cast<double>(runs) / n);
  }
}

}  // namespace

PatternsCollector::PatternsCollector(CollectorContext ctx, PatternsCollectorOptions options)
    : ctx_(std::move(ctx)),
      options_(std::move(options)),
      clock_sql_(WithSchema(kClockSql, ctx_.quoted_schema)),
      days_sql_(WithSchema(kDaysSql, ctx_.quoted_schema)),
      workspaces_sql_(WithSchema("SELECT id::text FROM {schema}.workspaces WHERE " + ShardSql("id", ctx_.shard),
                                 ctx_.quoted_schema)) {
  days_sql_.replace(days_sql_.find("{shard}"), 7, WorkspaceShardSql("ar.workspace_id", ctx_.quoted_schema, ctx_.shard));
}

std::span<const FamilySpec> PatternsCollector::Families() { return kFamilies; }

Snapshot PatternsCollector::Collect(DbSession& db) {
  const std::string now = FormatTimestampUs(ToUnixMicros(ctx_.clock->Now()));
  std::set<std::string> workspaces;
  Calendar calendar;
  {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(db.Get());
    SetStatementTimeout(tx, ctx_.timeout);
    calendar = ReadCalendar(tx, now);
    ReadMissingDays(tx, calendar);
    workspaces = ReadWorkspaces(tx);
    tx.commit();
  }
  for (auto it = days_.begin(); it != days_.end();) {
    if (it->first < calendar.start || it->first >= calendar.today) {
      DropDay(it++);
    } else {
      ++it;
    }
  }
  return BuildSnapshot(workspaces);
}

PatternsCollector::Calendar PatternsCollector::ReadCalendar(pqxx::transaction_base& tx, const std::string& now) const {
  pqxx::row clock = tx.exec_params1(clock_sql_, now, options_.timezone);
  Calendar c;
  c.today = clock[0].as<std::int64_t>();
  c.time_of_day = clock[1].as<double>();
  c.start = std::min(c.today, std::max(c.today - options_.lookback_days,
                                       clock[2].is_null() ? c.today : clock[2].as<std::int64_t>()));
  return c;
}

void PatternsCollector::ReadMissingDays(pqxx::transaction_base& tx, const Calendar& calendar) {
  // Read every day of the window not cached yet, or cached before it was final,
  // newest first, one statement per hour slice: each stays far below the
  // statement timeout however large the table, a cycle stops at its budget after
  // the slice it is reading, and what a cycle read is kept (past days are facts;
  // the next cycle continues where this one stopped).
  const auto budget_end = ctx_.steady_clock->Now() + options_.cycle_budget;
  bool read_one = false;
  pending_ = false;
  for (std::int64_t d = calendar.today - 1; d >= calendar.start && !pending_; --d) {
    auto cached = days_.find(d);
    if (cached != days_.end() && cached->second.final) continue;
    // Read day d, or go on reading it; the cached copy (yesterday, read again
    // until it settles) stays in use until the new read is complete.
    if (!reading_ || reading_->first != d) {
      reading_.emplace(d, Day{});
      reading_->second.final = d < calendar.today - 1 || calendar.time_of_day >= kSettleSeconds;
    }
    Day& day = reading_->second;
    while (!day.complete()) {
      if (starting_up_ || (read_one && ctx_.steady_clock->Now() >= budget_end)) {
        pending_ = true;
        break;
      }
      read_one = true;
      ReadHourSlice(tx, d, day);
    }
    if (day.complete()) {
      StoreDay(d, std::move(day));
      reading_.reset();
    }
  }
}

void PatternsCollector::ReadHourSlice(pqxx::transaction_base& tx, std::int64_t d, Day& day) {
  for (const auto& row : tx.exec_params(days_sql_, d, day.hours_read, day.hours_read + 1, options_.timezone)) {
    const int hour = row[2].as<int>();
    if (hour < 0 || hour > 23) continue;
    HourAgg& h = day.workspaces[row[1].as<std::string>()][static_cast<size_t>(hour)];
    h.runs += row[3].as<std::uint64_t>();
    h.completed += row[4].as<std::uint64_t>();
    h.latency_count += row[5].as<std::uint64_t>();
    h.latency_sum_us = SaturatingAdd(h.latency_sum_us, row[6].as<std::int64_t>());
    rows_aggregated_ += row[3].as<std::uint64_t>();
  }
  ++day.hours_read;
}

std::set<std::string> PatternsCollector::ReadWorkspaces(pqxx::transaction_base& tx) const {
  std::set<std::string> workspaces;
  for (const auto& row : tx.exec(workspaces_sql_)) workspaces.insert(row[0].as<std::string>());
  return workspaces;
}

void PatternsCollector::StoreDay(std::int64_t d, Day day) {
  auto [it, inserted] = days_.try_emplace(d);
  if (!inserted) ApplyDay(d, it->second, -1);  // yesterday, read again until it settles
  it->second = std::move(day);
  ApplyDay(d, it->second, 1);
}

void PatternsCollector::DropDay(std::map<std::int64_t, Day>::iterator it) {
  ApplyDay(it->first, it->second, -1);
  days_.erase(it);
}

void PatternsCollector::ApplyDay(std::int64_t d, const Day& day, int sign) {
  // Integer sums: taking a day out is the exact inverse of adding it.
  const bool weekday = IsoWeekday(d) <= 5;
  sums_.days += sign;
  sums_.weekdays += weekday ? sign : 0;
  auto add = [sign](auto& to, auto v) { sign > 0 ? to += v : to -= v; };
  for (const auto& [ws, hours] : day.workspaces) {
    auto t = sums_.workspaces.try_emplace(ws).first;
    for (size_t h = 0; h < 24; ++h) {
      add(t->second.hours[h].runs, hours[h].runs);
      add(t->second.hours[h].completed, hours[h].completed);
      add(t->second.hours[h].latency_count, hours[h].latency_count);
      add(t->second.hours[h].latency_sum_us, hours[h].latency_sum_us);
      add(weekday ? t->second.weekday_runs : t->second.weekend_runs, hours[h].runs);
    }
    t->second.days_with_runs += sign;
    if (t->second.days_with_runs == 0) sums_.workspaces.erase(t);
  }
  window_changed_ = true;
}

PatternsCollector::Window PatternsCollector::SumWindow(const std::set<std::string>& workspaces) const {
  // Every day of the window, or while start-up is still reading (pending_), the
  // days read completely so far. Workspaces without runs in it are shown at 0.
  Window w = sums_;
  for (const auto& ws : workspaces) w.workspaces.try_emplace(ws);
  return w;
}

struct PatternsCollector::Builders {
  FamilyBuilder hour_avg{kHourAvg}, daily{kDailyAvg}, weekday_avg{kWeekdayAvg}, weekend_avg{kWeekendAvg},
      peak{kPeakHour}, quiet{kQuietHour}, success{kHourSuccess}, latency{kHourLatency}, window_days{kWindowDays};
};

Snapshot PatternsCollector::BuildSnapshot(const std::set<std::string>& workspaces) {
  // A budgeted start-up cycle that read hour slices without completing a day
  // changed nothing but rows_read: it publishes the families built before
  // instead of rebuilding every workspace's series (132 698 at 2 000 workspaces).
  if (window_changed_ || workspaces != built_workspaces_) {
    const Window window = SumWindow(workspaces);
    Builders b;
    b.window_days.Add({}, static_cast<double>(window.days) * 86400);
    if (window.days > 0) {
      for (const auto& [ws, t] : window.workspaces) AddWorkspace(b, window, ws, t);
    }
    built_.clear();
    for (FamilyBuilder* f : {&b.hour_avg, &b.daily, &b.weekday_avg, &b.weekend_avg, &b.peak, &b.quiet, &b.success,
                             &b.latency, &b.window_days}) {
      built_.push_back(f->Take());
    }
    built_workspaces_ = workspaces;
    window_changed_ = false;
    ++family_builds_;
  }
  FamilyBuilder rows_read{kRowsReadFamily};
  rows_read.Add({"patterns", "day"}, static_cast<double>(rows_aggregated_));
  Snapshot out;
  out.reserve(built_.size() + 1);
  out = built_;
  out.push_back(rows_read.Take());
  return out;
}

void PatternsCollector::AddWorkspace(Builders& b, const Window& window, const std::string& ws, const Totals& t) const {
  const double n = static_cast<double>(window.days);
  std::uint64_t all = 0;
  std::vector<std::pair<std::uint64_t, int>> by_runs;  // (runs, hour)
  for (int h = 0; h < 24; ++h) {
    const HourAgg& a = t.hours[static_cast<size_t>(h)];
    const std::string hour = std::to_string(h);
    all += a.runs;
    b.hour_avg.Add({ws, hour}, static_cast<double>(a.runs) / n);
    if (a.runs > 0) b.success.Add({ws, hour}, static_cast<double>(a.completed) / static_cast<double>(a.runs));
    if (a.latency_count > 0) {
      b.latency.Add({ws, hour}, static_cast<double>(a.latency_sum_us) / 1e6 / static_cast<double>(a.latency_count));
    }
    by_runs.emplace_back(a.runs, h);
  }
  b.daily.Add({ws}, static_cast<double>(all) / n);
  const std::int64_t weekend_days = window.days - window.weekdays;
  if (window.weekdays > 0) {
    b.weekday_avg.Add({ws}, static_cast<double>(t.weekday_runs) / static_cast<double>(window.weekdays));
  }
  if (weekend_days > 0) b.weekend_avg.Add({ws}, static_cast<double>(t.weekend_runs) / static_cast<double>(weekend_days));
  AddRankedHours(ws, std::move(by_runs), n, b.peak, b.quiet);
}

namespace {

// PostgreSQL resolves the name (an invalid one fails the patterns collector with
// its error); this only rejects what cannot be a zone: empty, too long, odd characters.
bool ValidTimeZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' && c != '+' && c != ':') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::span<const CollectorFlag> PatternsCollector::Flags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.patterns.lookback-days", FlagKind::kInt, "28", "Complete days the execution patterns look back over."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseIntFlag(v, 1, 366, &o->patterns.lookback_days, why);
       }},
      {{"collector.patterns.timezone", FlagKind::kString, "UTC",
        "Time zone of the days and hours of the execution patterns (e.g. Europe/Paris)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         if (!ValidTimeZoneName(v)) {
           *why = "invalid time zone name \"" + std::string(v) + "\" (want e.g. UTC, Europe/Paris, +02:00)";
           return false;
         }
         o->patterns.timezone = v;
         return true;
       }},
      {{"collector.patterns.cycle-budget", FlagKind::kDuration, "500ms",
        "Time a patterns cycle may spend reading days not cached yet before the next cycle takes over (start-up at large tables)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, false, &o->patterns.cycle_budget, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
