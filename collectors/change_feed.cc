#include "collectors/change_feed.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "collectors/scope.h"

namespace aee {
namespace {

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

void Older(std::optional<std::int64_t>* oldest, std::optional<std::int64_t> us) {
  if (us && (!*oldest || *us < **oldest)) *oldest = us;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::int64_t> NotifyMicros(std::string_view s) {
  std::int64_t us = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), us);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return us;
}

void ChangeFeed::Connected() {
  std::lock_guard lock(mu_);
  connected_ = true;
  MarkGap();
}

void ChangeFeed::Disconnected() {
  std::lock_guard lock(mu_);
  connected_ = false;
  MarkGap();
}

void ChangeFeed::MarkGap() {
  gap_ = finished_gap_ = true;
  runs_.clear();
  queue_.clear();
  finished_us_.reset();
  finished_times_.clear();
  finished_times_dropped_ = false;
  ++agents_generation_;
}

void ChangeFeed::SetTriggersVerified(bool ok) {
  std::lock_guard lock(mu_);
  triggers_verified_ = ok;
}

std::uint64_t ChangeFeed::agents_generation() {
  std::lock_guard lock(mu_);
  return agents_generation_;
}

bool ChangeFeed::Trusted() {
  std::lock_guard lock(mu_);
  return connected_ && triggers_verified_;
}

bool ChangeFeed::Notify(std::string_view payload) {
  std::lock_guard lock(mu_);
  const size_t colon = payload.find(':');
  const std::string_view table = payload.substr(0, colon);
  const bool run_rows = table == "agent_runs";
  auto* rows = run_rows ? &runs_ : table == "execution_queue" ? &queue_ : nullptr;
  if (colon == std::string_view::npos || rows == nullptr) {
    // A bare table name (agents, workspaces, TRUNCATE) or not ours: anything may
    // have changed.
    MarkGap();
    return true;
  }
  // Entries "<workspace>/<id>=<state>", "<workspace>/<id>" (to be read) or a bare
  // "<id>" (the older triggers, every shard's), and "#<n>" (the transaction's count).
  bool ours = false;
  std::string_view rest = payload.substr(colon + 1);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry.size() > 1 && entry[0] == '#' && entry.find_first_not_of("0123456789", 1) == std::string_view::npos) {
      continue;
    }
    const size_t equals = entry.find('=');
    const std::string_view row = entry.substr(0, equals);
    const size_t slash = row.find('/');
    const std::string_view workspace = slash == std::string_view::npos ? std::string_view() : row.substr(0, slash);
    const std::string_view id = slash == std::string_view::npos ? row : row.substr(slash + 1);
    const bool stated = equals != std::string_view::npos;
    const std::string_view state = stated ? entry.substr(equals + 1) : std::string_view();
    if (!IsUuid(id) || !(workspace.empty() || IsUuid(workspace)) ||
        (stated && (slash == std::string_view::npos || state.empty()))) {
      MarkGap();
      return true;
    }
    std::string lower_workspace = Lower(workspace);
    if (slash != std::string_view::npos && ShardOfWorkspace(lower_workspace, shard_count_) != shard_index_) continue;
    ours = true;
    // "-<finished_at>": a run to count from finished_at; an entry without a state
    // (older triggers) does not say whether the run finished.
    if (run_rows && !stated) {
      finished_gap_ = true;
    } else if (run_rows && !finished_gap_ && state.size() > 1 && state[0] == '-') {
      const std::optional<std::int64_t> finished_at = NotifyMicros(state.substr(1));
      Older(&finished_us_, finished_at);
      if (finished_at && !finished_times_dropped_) {
        finished_times_.push_back(*finished_at);
        if (finished_times_.size() > kMaxFinishedTimes) {
          finished_times_.clear();
          finished_times_dropped_ = true;
        }
      }
    }
    if (gap_) continue;
    auto [it, added] = rows->try_emplace(Lower(id));
    // "~" (an update that changed nothing here) must not hide a state still pending.
    if (!stated) {
      it->second.reset();
    } else if (added || (it->second && state != "~")) {
      it->second = Announced{std::move(lower_workspace), std::string(state)};
    }
  }
  if (runs_.size() + queue_.size() > kMaxPending) {
    MarkGap();
    return true;
  }
  return ours || gap_;
}

ChangeFeed::Changes ChangeFeed::Take() {
  std::lock_guard lock(mu_);
  Changes out;
  out.complete = connected_ && !gap_;
  auto split = [](auto& rows, std::vector<std::string>& read, std::vector<Changes::Stated>& states) {
    for (auto& [id, announced] : rows) {
      if (announced) {
        states.push_back({id, std::move(announced->workspace), std::move(announced->state)});
      } else {
        read.push_back(id);
      }
    }
    rows.clear();
  };
  split(runs_, out.runs, out.run_states);
  split(queue_, out.queue, out.queue_states);
  gap_ = !connected_;
  return out;
}

ChangeFeed::Oldest ChangeFeed::TakeFinished() {
  std::lock_guard lock(mu_);
  Oldest out{connected_ && triggers_verified_ && !finished_gap_, finished_us_, std::nullopt};
  if (!finished_times_dropped_) {
    std::sort(finished_times_.begin(), finished_times_.end());
    finished_times_.erase(std::unique(finished_times_.begin(), finished_times_.end()), finished_times_.end());
    out.times = std::move(finished_times_);
  }
  finished_us_.reset();
  finished_times_.clear();
  finished_times_dropped_ = false;
  finished_gap_ = !connected_;
  return out;
}

}  // namespace aee
