#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aee {

/// Returns text with every libpq password (URI user:password@ and keyword
/// password=...) replaced by "xxxxx": the pattern half of Redactor, for text whose
/// secrets the caller does not know.
std::string RedactSecrets(std::string_view text);

/// The passwords a libpq connection string carries, each as written (URI
/// percent-encoding, keyword quoting) and as libpq decodes it, so that an error
/// quoting either form can be cleaned. Empty when it holds none.
std::vector<std::string> ConnectionSecrets(std::string_view conninfo);

/// Removes secrets the process knows (the database password) from text, wherever
/// they appear and whatever quotes them, then applies RedactSecrets.
///
/// Pattern matching alone misses a password that a library quotes in its own
/// words (libpq: `invalid percent-encoded token: "S3cr%zzetPW"`); knowing the
/// secret catches every form. Immutable once built, so threads share it freely.
class Redactor {
 public:
  Redactor() = default;
  /// secrets: the values to remove; empty ones are ignored. Secrets shorter than
  /// kMinAnywhere characters are removed only as whole tokens (delimited by
  /// characters other than letters and digits), so a two-letter password does not
  /// blank every word that contains those letters.
  explicit Redactor(std::vector<std::string> secrets);

  std::string Redact(std::string_view text) const;
  bool empty() const { return secrets_.empty(); }

  static constexpr std::size_t kMinAnywhere = 4;
  static constexpr std::string_view kMask = "xxxxx";

 private:
  std::vector<std::string> secrets_;  // longest first: a secret containing another goes whole
};

}  // namespace aee
