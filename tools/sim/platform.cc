#include "tools/sim/platform.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

namespace aee::sim {
namespace {

constexpr uint64_t kDomainWorkspace = 1;
constexpr uint64_t kDomainAgent = 2;
constexpr uint64_t kDomainAgentParams = 3;

const char* const kWorkspaceNames[] = {"acme", "globex", "initech", "umbrella", "hooli",
                                       "stark", "wayne", "tyrell", "wonka", "cyberdyne"};
const char* const kAgentNames[] = {"support-triage", "code-review",  "research",
                                   "sql-analyst",    "summarizer",   "ticket-router",
                                   "web-browser",    "data-extractor", "email-drafter",
                                   "qa-tester",      "planner",      "translator"};

double UtcHours(Micros t, int* weekday) {
  const time_t secs = static_cast<time_t>(t / kSecond);
  tm parts{};
  gmtime_r(&secs, &parts);
  *weekday = parts.tm_wday;
  return parts.tm_hour + parts.tm_min / 60.0 + parts.tm_sec / 3600.0;
}

}  // namespace

namespace {

void AppendDigits(std::string* out, uint64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 || n < width);
  while (n > 0) out->push_back(buf[--n]);
}

// Civil date from days since 1970-01-01 (H. Hinnant's algorithm): gmtime_r plus
// snprintf per field dominated the bulk load's client time.
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

}  // namespace

void AppendTimestamp(std::string* out, Micros t) {
  Micros secs = t / kSecond;
  Micros frac = t % kSecond;
  if (frac < 0) {
    frac += kSecond;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  CivilFromDays(days, &y, &m, &d);
  AppendDigits(out, static_cast<uint64_t>(y), 4);
  out->push_back('-');
  AppendDigits(out, m, 2);
  out->push_back('-');
  AppendDigits(out, d, 2);
  out->push_back(' ');
  AppendDigits(out, static_cast<uint64_t>(sod / 3600), 2);
  out->push_back(':');
  AppendDigits(out, static_cast<uint64_t>(sod / 60 % 60), 2);
  out->push_back(':');
  AppendDigits(out, static_cast<uint64_t>(sod % 60), 2);
  out->push_back('.');
  AppendDigits(out, static_cast<uint64_t>(frac), 6);
  out->append("+00");
}

void AppendSeconds(std::string* out, Micros d) {
  if (d < 0) {
    out->push_back('-');
    d = -d;
  }
  AppendDigits(out, static_cast<uint64_t>(d / kSecond), 1);
  out->push_back('.');
  AppendDigits(out, static_cast<uint64_t>(d % kSecond), 6);
}

void AppendUuid(std::string* out, const Uuid& u) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out->push_back('-');
    const uint64_t word = i < 16 ? u.hi : u.lo;
    out->push_back(kHex[(word >> (60 - 4 * (i % 16))) & 0xf]);
  }
}

std::string Uuid::Str() const {
  std::string s;
  s.reserve(36);
  AppendUuid(&s, *this);
  return s;
}

Uuid KeyedUuid(uint64_t seed, uint64_t domain, uint64_t index) {
  Rng rng = Rng::Derive(seed, domain, index, 0x5eed);
  Uuid u{rng.Next(), rng.Next()};
  u.hi = (u.hi & ~0xf000ULL) | 0x4000ULL;                  // version 4
  u.lo = (u.lo & ~(0xc000ULL << 48)) | (0x8000ULL << 48);  // RFC 4122 variant
  return u;
}

Uuid TimeOrderedUuid(Micros t, uint64_t seed, uint64_t domain, uint64_t index) {
  Rng rng = Rng::Derive(seed, domain, index, 0x7);
  const uint64_t ms = static_cast<uint64_t>(t / 1000) & 0xffffffffffffULL;
  Uuid u{(ms << 16) | 0x7000ULL | (rng.Next() & 0xfff), rng.Next()};
  u.lo = (u.lo & ~(0xc000ULL << 48)) | (0x8000ULL << 48);
  return u;
}

std::string FormatTimestamp(Micros t) {
  std::string s;
  s.reserve(32);
  AppendTimestamp(&s, t);
  return s;
}

std::string FormatSeconds(Micros d) {
  std::string s;
  AppendSeconds(&s, d);
  return s;
}

const std::vector<ModelSpec>& Models() {
  static const std::vector<ModelSpec> models = {
      {"gpt-4o", 0.0025, 0.010, 0.45, 90},
      {"gpt-4o-mini", 0.00015, 0.0006, 0.25, 160},
      {"claude-3-5-sonnet", 0.003, 0.015, 0.55, 80},
      {"claude-3-haiku", 0.00025, 0.00125, 0.2, 180},
      {"llama-3-70b", 0.0009, 0.0009, 0.35, 120},
  };
  return models;
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kCompleted: return "completed";
    case Outcome::kFailed: return "failed";
    case Outcome::kCancelled: return "cancelled";
  }
  return "completed";
}

Platform::Platform(const PlatformOptions& options) : options_(options) {
  const uint64_t seed = options.seed;
  for (int w = 0; w < options.workspaces; ++w) {
    Workspace ws;
    ws.id = KeyedUuid(seed, kDomainWorkspace, static_cast<uint64_t>(w));
    const int n = static_cast<int>(std::size(kWorkspaceNames));
    ws.name = w < n ? kWorkspaceNames[w] : "workspace-" + std::to_string(w + 1);
    workspaces_.push_back(std::move(ws));
  }
  const int names = static_cast<int>(std::size(kAgentNames));
  for (int w = 0; w < options.workspaces; ++w) {
    for (int i = 0; i < options.agents_per_workspace; ++i) {
      const uint64_t index = static_cast<uint64_t>(w) * 100000 + static_cast<uint64_t>(i);
      Rng rng = Rng::Derive(seed, kDomainAgentParams, index);
      Agent a;
      a.id = KeyedUuid(seed, kDomainAgent, index);
      a.workspace = w;
      const int pick = i % names;
      a.name = kAgentNames[pick];
      if (i >= names) a.name += "-" + std::to_string(i / names + 1);
      // Busy and quiet agents side by side, as on real platforms.
      a.weight = rng.LogNormal(1.0, 0.7);
      // Median runtime log-uniform in [1.5, 20] s with wide tails: runs land in every
      // bucket of the spec's latency distribution (0-1 s ... 60 s+).
      a.runtime_median_s = 1.5 * std::exp(rng.Uniform() * std::log(20 / 1.5)) * options.runtime_scale;
      a.runtime_sigma = rng.Uniform(0.4, 1.0);
      a.failure_p = rng.Uniform(0.005, 0.08);
      a.cancel_p = rng.Uniform(0.002, 0.02);
      a.patience_median_s = rng.Uniform(30, 180);
      a.mean_model_calls = rng.Uniform(1.0, 2.6);
      a.max_priority = static_cast<int>(rng.Below(4));
      // Each agent prefers two or three models.
      std::array<double, 8> w8{};
      const size_t nm = Models().size();
      double total = 0;
      for (size_t m = 0; m < nm; ++m) {
        w8[m] = rng.Chance(0.55) ? rng.Uniform(0.2, 1.0) : 0.02;
        total += w8[m];
      }
      double acc = 0;
      for (size_t m = 0; m < nm; ++m) {
        acc += w8[m] / total;
        a.model_mix[m] = acc;
      }
      a.model_mix[nm - 1] = 1.0;
      weight_total_ += a.weight;
      agents_.push_back(std::move(a));
    }
  }
  for (int k = 0; k < options.workers; ++k) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "worker-%03d", k + 1);
    workers_.push_back(Worker{buf, options.worker_slots});
  }
  // Normalise the shape so its weekly mean is 1.
  double sum = 0;
  double peak = 0;
  const int samples = 7 * 24 * 12;
  const Micros week_start = 4 * 86400 * kSecond;  // 1970-01-04 was a Sunday
  for (int s = 0; s < samples; ++s) {
    const double v = RawShape(week_start + static_cast<Micros>(s) * 300 * kSecond);
    sum += v;
    peak = std::max(peak, v);
  }
  shape_norm_ = sum / samples;
  peak_shape_ = peak;
}

double Platform::RawShape(Micros t) const {
  int weekday = 0;
  const double h = UtcHours(t, &weekday);
  // Working-day bell around 14:00 UTC over a night floor.
  const double x = (h - 14.0) / 4.5;
  const double daily = 0.12 + 0.88 * std::exp(-x * x);
  const bool weekend = weekday == 0 || weekday == 6;
  return daily * (weekend ? 0.4 : 1.0);
}

double Platform::Shape(Micros t) const { return RawShape(t) / shape_norm_; }

double Platform::AgentRate(int agent) const {
  return options_.rate * agents_[static_cast<size_t>(agent)].weight / weight_total_;
}

RunPlan Platform::DrawRun(int agent_index, Rng& rng, const Modifiers& mods) const {
  const Agent& a = agents_[static_cast<size_t>(agent_index)];
  RunPlan p;
  p.priority = static_cast<int>(rng.Below(static_cast<uint64_t>(a.max_priority) + 1));
  const double mean_runtime = a.runtime_median_s * std::exp(a.runtime_sigma * a.runtime_sigma / 2);
  p.estimated_runtime_s = std::round(mean_runtime * rng.Uniform(0.8, 1.25) * 1000) / 1000;
  double runtime_s = std::max(0.02, rng.LogNormal(a.runtime_median_s, a.runtime_sigma));
  p.patience = static_cast<Micros>(rng.LogNormal(a.patience_median_s, 0.5) * kSecond);

  const double failure_p = std::max(a.failure_p, mods.failure_p_floor);
  const double u = rng.Uniform();
  if (u < failure_p) {
    p.outcome = Outcome::kFailed;
  } else if (u < failure_p + a.cancel_p) {
    p.outcome = Outcome::kCancelled;
    // About a third of cancelling users give up within seconds, often before the run
    // has left the queue.
    if (rng.Chance(0.35)) p.patience = static_cast<Micros>(rng.Uniform(0.1, 3.0) * kSecond);
  }

  // Model calls spread over the run; a slow model stretches the run by the extra wait.
  const int n = 1 + static_cast<int>(rng.Poisson(a.mean_model_calls - 1));
  const auto& models = Models();
  double extra = 0;
  for (int i = 0; i < n; ++i) {
    ModelCall c;
    const double pick = rng.Uniform();
    c.model = 0;
    while (c.model + 1 < static_cast<int>(models.size()) &&
           pick >= a.model_mix[static_cast<size_t>(c.model)]) {
      ++c.model;
    }
    const ModelSpec& m = models[static_cast<size_t>(c.model)];
    c.prompt_tokens = static_cast<int>(std::max(16.0, rng.LogNormal(1500, 0.8)));
    c.completion_tokens = static_cast<int>(std::max(1.0, rng.LogNormal(300, 0.7)));
    const double natural = m.base_latency_s + c.completion_tokens / m.tokens_per_second;
    const double slot = runtime_s / (n + 1);
    const double base = std::min(natural, slot * 0.9) * rng.Uniform(0.8, 1.2);
    c.latency_s = base * mods.model_latency_factor;
    extra += c.latency_s - base;
    c.offset = static_cast<Micros>((slot * (i + 1) + extra) * kSecond);
    c.cost_usd = c.prompt_tokens / 1000.0 * m.usd_per_1k_prompt +
                 c.completion_tokens / 1000.0 * m.usd_per_1k_completion;
    p.calls.push_back(c);
  }
  runtime_s += extra;
  p.runtime = static_cast<Micros>(runtime_s * kSecond);
  if (p.outcome != Outcome::kCompleted) {
    // Failures and cancellations cut the run short; calls after the cut never happen.
    p.runtime = static_cast<Micros>(static_cast<double>(p.runtime) * rng.Uniform(0.05, 0.95));
    while (!p.calls.empty() && p.calls.back().offset > p.runtime) p.calls.pop_back();
  }
  p.runtime = std::max<Micros>(p.runtime, 1000);
  return p;
}

}  // namespace aee::sim
