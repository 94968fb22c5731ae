#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "core/redact.h"

namespace aee {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kLogfmt, kJson };

/// Parses "debug|info|warn|error"; returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);
/// Parses "logfmt|json"; returns false on anything else.
bool ParseLogFormat(std::string_view text, LogFormat* out);

using LogField = std::pair<std::string_view, std::string>;

/// Structured logger writing one line per event to stderr (or a test sink).
/// Thread-safe. The message and every value pass through the redactor before they
/// are written, so a password that slips into a message (a connection string, a
/// library error quoting it) never shows.
class Logger {
 public:
  Logger(LogLevel level, LogFormat format, Redactor redactor = Redactor());
  /// The redactor's view of text: what may be stored, served or logged.
  std::string Redact(std::string_view text) const { return redactor_.Redact(text); }
  void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  bool Enabled(LogLevel level) const { return level >= level_; }
  /// Formats one line without writing it (exposed for tests).
  std::string Format(LogLevel level, std::string_view msg,
                     std::initializer_list<LogField> fields, std::string_view timestamp) const;
  /// Replaces where lines go (tests); nullptr restores stderr.
  void SetSinkForTest(std::string* sink) { sink_ = sink; }

 private:
  LogLevel level_;
  LogFormat format_;
  Redactor redactor_;
  std::string* sink_ = nullptr;
};

}  // namespace aee
