#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aee {

/// A bounded label: the first `max` values admitted keep their own label, every
/// later one reads as "other" (the models cap, and the agents cap per workspace).
///
/// Admission follows the order values are offered in. A (re)start offers the values
/// of the day in the order of their first row (timestamp, then value: AdmitInOrder),
/// and the incremental reads offer new values in timestamp order, so every replica
/// and every restart names the same values: the set only grows during the day and
/// is rebuilt at midnight with the counters it labels.
class LabelCap {
 public:
  /// The label of the values past the cap.
  static constexpr std::string_view kOther = "other";

  /// max <= 0: no cap, every value keeps its label.
  explicit LabelCap(int max = 0) : max_(max) {}

  /// The label of value, admitting it when there is room.
  const std::string& Label(const std::string& value) {
    static const std::string other(kOther);
    auto it = named_.find(value);
    if (it != named_.end()) return *it;
    if (max_ <= 0 || named_.size() < static_cast<size_t>(max_)) return *named_.insert(value).first;
    return other;
  }
  /// Whether value keeps its own label.
  bool Named(const std::string& value) const { return named_.count(value) != 0; }
  /// Admits values by their first timestamp, then value: how a day that had been
  /// counted since midnight would have admitted them.
  void AdmitInOrder(std::vector<std::pair<std::int64_t, std::string>> first_seen) {
    std::sort(first_seen.begin(), first_seen.end());
    for (const auto& [first, value] : first_seen) Label(value);
  }
  bool full() const { return max_ > 0 && named_.size() >= static_cast<size_t>(max_); }
  size_t size() const { return named_.size(); }

 private:
  int max_;
  std::set<std::string, std::less<>> named_;
};

}  // namespace aee
