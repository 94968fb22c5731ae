#include "collectors/change_feed.h"

#include <cctype>

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

void ChangeFeed::Notify(std::string_view payload) {
  std::lock_guard lock(mu_);
  const size_t colon = payload.find(':');
  const std::string_view table = payload.substr(0, colon);
  std::set<std::string>* ids = table == "agent_runs" ? &runs_ : table == "execution_queue" ? &queue_ : nullptr;
  if (colon == std::string_view::npos || ids == nullptr) {
    // A bare table name (agents, workspaces, TRUNCATE) or not ours: anything may
    // have changed.
    gap_ = true;
    ++agents_generation_;
  } else if (!gap_) {  // after a gap everything is read again anyway
    std::string_view rest = payload.substr(colon + 1);
    while (!rest.empty() && !gap_) {
      const size_t comma = rest.find(',');
      const std::string_view id = rest.substr(0, comma);
      if (IsUuid(id)) {
        ids->insert(Lower(id));
      } else {
        gap_ = true;
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (runs_.size() + queue_.size() > kMaxPending) gap_ = true;
  }
  if (gap_) {
    runs_.clear();
    queue_.clear();
  }
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
