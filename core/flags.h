#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aee {

/// getenv, injected so tests control the environment.
using EnvLookup = std::function<const char*(const char*)>;

/// The value a flag takes, which also names its placeholder in --help.
enum class FlagKind { kString, kDuration, kInt, kBool, kTime };

/// One flag as data: parsing, --help and the configuration docs come from a table of
/// these.
struct FlagSpec {
  std::string_view name;
  FlagKind kind;
  std::string_view default_text;
  std::string_view help;
};

/// The flag called name in flags, or nullptr.
const FlagSpec* FindFlag(std::span<const FlagSpec> flags, std::string_view name);

/// What a flag name takes on the command line.
enum class FlagArity {
  kUnknown,  // not a flag of this program
  kToggle,   // --name or --no-name, never a value (e.g. --collector.runs)
  kSwitch,   // --name, --name=false or --no-name
  kValue,    // --name=value or --name value
};

/// What a command line may write for spec: a switch for kBool, a value otherwise,
/// kUnknown for nullptr.
FlagArity ArityOf(const FlagSpec* spec);

/// One flag as written: name without "--" and "no-", the value ("true" or "false"
/// for toggles and switches), and whether it was written --no-name.
struct FlagArg {
  std::string_view name;
  std::string_view value;
  bool negated = false;
};

/// Walks a command line of flags: -h/--help and --version set *help and *version;
/// every other argument goes through arity (its name without "no-") and set. false
/// with *error "--<flag as written>: why" for an unknown flag, a missing value, a value
/// given to a toggle or to --no-name, or an argument that is not a flag; set's own
/// failure passes through.
bool WalkFlags(const std::vector<std::string>& args, const std::function<FlagArity(std::string_view)>& arity,
               const std::function<bool(const FlagArg&)>& set, bool* help, bool* version, std::string* error);

/// "--flag: why", the form of every flag error.
std::string FlagError(std::string_view flag, std::string_view why);

/// The whole of a small file named by a flag, whitespace trimmed at both ends. false
/// with *why ("cannot read \"path\"") when it cannot be read.
bool ReadTrimmedFile(const std::string& path, std::string* out, std::string* why);

/// One line of --help: the flag with its value placeholder, aligned help text and
/// the default when there is one.
void WriteFlagHelp(std::ostream& out, std::string_view left, std::string_view help, std::string_view default_text);

/// The --help line of spec: --name=DURATION|N|TIME|VALUE (nothing for a switch).
void WriteFlagHelp(std::ostream& out, const FlagSpec& spec);

/// The -h/--help and --version lines of --help, then the line of every flag in flags.
void WriteFlagsHelp(std::ostream& out, std::span<const FlagSpec> flags);

/// What a program answers to its command line before it starts: when parsing failed,
/// error (already redacted) on stderr and exit code 2; for --help, help() on stdout,
/// for --version "<program> version V (revision R)", and 0. nullopt: go on and run.
std::optional<int> AnswerCommandLine(std::string_view program, bool parsed, std::string_view error, bool show_help,
                                     const std::function<std::string()>& help, bool show_version);

/// Parses Prometheus durations: "500ms", "1s", "1m30s", "2h", "0"; false on anything else.
bool ParseDuration(std::string_view text, std::chrono::milliseconds* out);

/// Formats a duration the way ParseDuration reads it ("1m30s", "500ms").
std::string FormatDuration(std::chrono::milliseconds d);

// Value parsers for flag setters: false with *why (the flag's error without its name)
// on bad input, *out untouched.

/// An integer from lo to hi; *why says "want <want>, got "text"", want defaulting to
/// "an integer from lo to hi".
bool ParseIntFlag(std::string_view text, int lo, int hi, int* out, std::string* why, std::string_view want = {});
/// true/1 or false/0.
bool ParseBoolFlag(std::string_view text, bool* out, std::string* why);
/// A duration (ParseDuration), greater than 0 unless allow_zero.
bool ParseDurationFlag(std::string_view text, bool allow_zero, std::chrono::milliseconds* out, std::string* why);

}  // namespace aee
