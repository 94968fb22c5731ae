#include "collectors/change_feed.h"

#include <cctype>

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

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void ChangeFeed::Connected() {
  std::lock_guard lock(mu_);
  connected_ = true;
  gap_ = true;
  ++agents_generation_;
}

void ChangeFeed::Disconnected() {
  std::lock_guard lock(mu_);
  connected_ = false;
  gap_ = true;
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
  std::set<std::string>* ids = table == "agent_runs" ? &runs_ : table == "execution_queue" ? &queue_ : nullptr;
  bool ours = true;
  if (colon == std::string_view::npos || ids == nullptr) {
    // A bare table name (agents, workspaces, TRUNCATE) or not ours: anything may
    // have changed.
    gap_ = true;
    ++agents_generation_;
  } else {
    // Entries "<workspace>/<id>" (or a bare "<id>": the older triggers, every shard's).
    ours = false;
    std::string_view rest = payload.substr(colon + 1);
    while (!rest.empty() && !gap_) {
      const size_t comma = rest.find(',');
      const std::string_view entry = rest.substr(0, comma);
      const size_t slash = entry.find('/');
      const std::string_view workspace = slash == std::string_view::npos ? std::string_view() : entry.substr(0, slash);
      const std::string_view id = slash == std::string_view::npos ? entry : entry.substr(slash + 1);
      if (!IsUuid(id) || !(workspace.empty() || IsUuid(workspace))) {
        gap_ = true;
      } else if (slash == std::string_view::npos ||
                 ShardOfWorkspace(Lower(workspace), shard_count_) == shard_index_) {
        ids->insert(Lower(id));
        ours = true;
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (runs_.size() + queue_.size() > kMaxPending) gap_ = true;
  }
  if (gap_) {
    runs_.clear();
    queue_.clear();
    return true;  // after a gap everything is read again
  }
  return ours;
}

ChangeFeed::Changes ChangeFeed::Take() {
  std::lock_guard lock(mu_);
  Changes out;
  out.complete = connected_ && !gap_;
  out.runs.assign(runs_.begin(), runs_.end());
  out.queue.assign(queue_.begin(), queue_.end());
  runs_.clear();
  queue_.clear();
  gap_ = !connected_;
  return out;
}

}  // namespace aee
