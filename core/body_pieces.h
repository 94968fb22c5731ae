#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aee {

/// A response body kept as byte ranges instead of one string: the ranges point into
/// buffers that `owners` keeps alive, such as the collectors' pre-rendered families
/// that every concurrent scrape shares. Writing it costs no per-request copy of
/// the body (docs/benchmarks.md, "Memory").
struct BodyPieces {
  std::vector<std::string_view> pieces;
  std::vector<std::shared_ptr<const void>> owners;

  /// Appends a range of a buffer someone in `owners` (or static storage) holds.
  void Add(std::string_view piece) {
    if (!piece.empty()) pieces.push_back(piece);
  }
  /// Appends bytes the body owns from now on.
  void AddOwned(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    Add(*owned);
    owners.push_back(std::move(owned));
  }
  std::size_t size() const {
    std::size_t n = 0;
    for (std::string_view p : pieces) n += p.size();
    return n;
  }
  std::string Join() const {
    std::string out;
    out.reserve(size());
    for (std::string_view p : pieces) out += p;
    return out;
  }
};

}  // namespace aee
