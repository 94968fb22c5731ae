#include "tools/sim/scenario.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace aee::sim {
namespace {

struct KindName {
  ScenarioKind kind;
  const char* name;
  double default_factor;
};

// factor meaning: burst/drop multiply the arrival rate; failure-surge is the failure
// probability; backlog the fraction of workers lost; stuck-runs the probability that a
// started run hangs; slow-model multiplies model latency.
constexpr KindName kKinds[] = {
    {ScenarioKind::kBurst, "burst", 5},
    {ScenarioKind::kDrop, "drop", 0},
    {ScenarioKind::kFailureSurge, "failure-surge", 0.5},
    {ScenarioKind::kBacklog, "backlog", 0.9},
    {ScenarioKind::kStuckRuns, "stuck-runs", 0.3},
    {ScenarioKind::kSlowModel, "slow-model", 5},
};

std::optional<double> ParseNumber(std::string_view s) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

const char* ScenarioName(ScenarioKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

double DefaultFactor(ScenarioKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.default_factor;
  }
  return 1;
}

std::optional<Micros> ParseDuration(std::string_view text) {
  if (text == "forever" || text == "inf") return std::numeric_limits<Micros>::max() / 4;
  double scale = 1;
  std::string_view num = text;
  if (text.ends_with("ms")) {
    scale = 0.001;
    num = text.substr(0, text.size() - 2);
  } else if (text.ends_with("s")) {
    num = text.substr(0, text.size() - 1);
  } else if (text.ends_with("m")) {
    scale = 60;
    num = text.substr(0, text.size() - 1);
  } else if (text.ends_with("h")) {
    scale = 3600;
    num = text.substr(0, text.size() - 1);
  }
  const auto v = ParseNumber(num);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<Micros>(std::llround(*v * scale * kSecond));
}

std::optional<ScenarioSpec> ParseScenario(std::string_view text, std::string* error) {
  // Both spellings split into the same tokens: the name, then key=value pairs.
  std::string norm(text);
  if (const auto colon = norm.find(':'); colon != std::string::npos && colon < norm.find('=')) {
    norm[colon] = ' ';
  }
  std::vector<std::string_view> tokens;
  const std::string_view all(norm);
  size_t i = 0;
  auto sep = [](char ch) { return ch == ' ' || ch == '\t' || ch == ',' || ch == '\r'; };
  while (i < all.size()) {
    while (i < all.size() && sep(all[i])) ++i;
    size_t j = i;
    while (j < all.size() && !sep(all[j])) ++j;
    if (j > i) tokens.push_back(all.substr(i, j - i));
    i = j;
  }
  if (tokens.empty()) {
    *error = "empty scenario";
    return std::nullopt;
  }
  ScenarioSpec spec;
  bool known = false;
  for (const auto& k : kKinds) {
    if (tokens[0] == k.name) {
      spec.kind = k.kind;
      spec.factor = k.default_factor;
      known = true;
    }
  }
  if (!known) {
    *error = "unknown scenario \"" + std::string(tokens[0]) +
             "\" (burst, drop, failure-surge, backlog, stuck-runs, slow-model)";
    return std::nullopt;
  }
  for (size_t t = 1; t < tokens.size(); ++t) {
    const auto eq = tokens[t].find('=');
    if (eq == std::string_view::npos) {
      *error = "scenario parameter \"" + std::string(tokens[t]) + "\" is not key=value";
      return std::nullopt;
    }
    const auto key = tokens[t].substr(0, eq);
    const auto value = tokens[t].substr(eq + 1);
    if (key == "start" || key == "duration") {
      const auto d = ParseDuration(value);
      if (!d) {
        *error = "scenario " + std::string(key) + " \"" + std::string(value) + "\" is not a duration";
        return std::nullopt;
      }
      (key == "start" ? spec.start : spec.duration) = *d;
    } else if (key == "factor") {
      const auto f = ParseNumber(value);
      if (!f || *f < 0) {
        *error = "scenario factor \"" + std::string(value) + "\" is not a number >= 0";
        return std::nullopt;
      }
      spec.factor = *f;
    } else {
      *error = "unknown scenario parameter \"" + std::string(key) + "\" (start, duration, factor)";
      return std::nullopt;
    }
  }
  if ((spec.kind == ScenarioKind::kFailureSurge || spec.kind == ScenarioKind::kBacklog ||
       spec.kind == ScenarioKind::kStuckRuns) &&
      spec.factor > 1) {
    *error = std::string(ScenarioName(spec.kind)) + " factor is a fraction and must be <= 1";
    return std::nullopt;
  }
  return spec;
}

void ScenarioSet::Add(const ScenarioSpec& spec, Micros base) {
  ScenarioWindow w;
  w.spec = spec;
  w.begin = base + spec.start;
  w.end = w.begin + spec.duration;
  windows_.push_back(w);
}

double ScenarioSet::Combine(Micros t, Fold fold, ScenarioKind a, ScenarioKind b) const {
  double v = fold == Fold::kProduct ? 1 : 0;
  for (const auto& w : windows_) {
    if (!Active(w, t) || (w.spec.kind != a && w.spec.kind != b)) continue;
    v = fold == Fold::kProduct ? v * w.spec.factor : std::max(v, w.spec.factor);
  }
  return v;
}

double ScenarioSet::RateFactor(Micros t) const {
  return Combine(t, Fold::kProduct, ScenarioKind::kBurst, ScenarioKind::kDrop);
}

double ScenarioSet::FailureFloor(Micros t) const { return Combine(t, Fold::kLargest, ScenarioKind::kFailureSurge); }

double ScenarioSet::ModelLatencyFactor(Micros t) const { return Combine(t, Fold::kProduct, ScenarioKind::kSlowModel); }

double ScenarioSet::WorkersLost(Micros t) const { return Combine(t, Fold::kLargest, ScenarioKind::kBacklog); }

double ScenarioSet::StuckProbability(Micros t) const { return Combine(t, Fold::kLargest, ScenarioKind::kStuckRuns); }

}  // namespace aee::sim
