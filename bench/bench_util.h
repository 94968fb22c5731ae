#pragma once
/// Small pieces the bench programs (freshness, live_subscribers) share: "--name=value"
/// arguments and random UUIDs. Header-only: each program is one .cc.

#include <optional>
#include <random>
#include <stdexcept>
#include <string>

namespace bench {

/// One "--name=value" argument, split; nullopt when `arg` has another form.
struct Flag {
  std::string name;
  std::string value;
};
inline std::optional<Flag> SplitFlag(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (arg.rfind("--", 0) != 0 || eq == std::string::npos) return std::nullopt;
  return Flag{arg.substr(2, eq - 2), arg.substr(eq + 1)};
}

/// `text` as a number >= 0 (the whole text), or nullopt.
inline std::optional<double> NonNegative(const std::string& text) {
  try {
    size_t used = 0;
    const double d = std::stod(text, &used);
    if (used != text.size() || d < 0) return std::nullopt;
    return d;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// A random version-4-shaped UUID.
inline std::string Uuid(std::mt19937_64& rng) {
  static const char* kHex = "0123456789abcdef";
  std::string s = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
  for (char& c : s) {
    if (c == 'x') c = kHex[rng() & 15];
  }
  return s;
}

}  // namespace bench
