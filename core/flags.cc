#include "core/flags.h"

#include <cctype>
#include <charconv>
#include <fstream>
#include <iostream>
#include <sstream>

namespace aee {

const FlagSpec* FindFlag(std::span<const FlagSpec> flags, std::string_view name) {
  for (const auto& f : flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

FlagArity ArityOf(const FlagSpec* spec) {
  if (spec == nullptr) return FlagArity::kUnknown;
  return spec->kind == FlagKind::kBool ? FlagArity::kSwitch : FlagArity::kValue;
}

std::string FlagError(std::string_view flag, std::string_view why) {
  return "--" + std::string(flag) + ": " + std::string(why);
}

bool WalkFlags(const std::vector<std::string>& args, const std::function<FlagArity(std::string_view)>& arity,
               const std::function<bool(const FlagArg&)>& set, bool* help, bool* version, std::string* error) {
  auto fail = [error](std::string_view flag, std::string_view why) {
    *error = FlagError(flag, why);
    return false;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      *help = true;
      continue;
    }
    if (arg == "--version") {
      *version = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      *error = "unexpected argument \"" + std::string(arg) + "\" (flags start with --)";
      return false;
    }
    std::string_view written = arg.substr(2), value;
    bool has_value = false;
    if (size_t eq = written.find('='); eq != std::string_view::npos) {
      value = written.substr(eq + 1);
      written = written.substr(0, eq);
      has_value = true;
    }
    const bool negated = written.substr(0, 3) == "no-";
    const std::string_view name = negated ? written.substr(3) : written;
    switch (arity(name)) {
      case FlagArity::kUnknown:
        return fail(written, "unknown flag");
      case FlagArity::kToggle:
        if (has_value) return fail(written, "takes no value");
        if (!set(FlagArg{name, negated ? "false" : "true", negated})) return false;
        break;
      case FlagArity::kSwitch:
        if (negated && has_value) return fail(written, "takes no value");
        if (!set(FlagArg{name, negated ? "false" : has_value ? value : "true", negated})) return false;
        break;
      case FlagArity::kValue:
        if (negated) return fail(written, "unknown flag");
        if (!has_value) {
          if (i + 1 >= args.size()) return fail(written, "missing value");
          value = args[++i];
        }
        if (!set(FlagArg{name, value, false})) return false;
        break;
    }
  }
  return true;
}

bool ReadTrimmedFile(const std::string& path, std::string* out, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "cannot read \"" + path + "\"";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  *out = text.substr(b, e - b);
  return true;
}

void WriteFlagHelp(std::ostream& out, std::string_view left, std::string_view help, std::string_view default_text) {
  out << "      " << left;
  for (size_t pad = left.size(); pad < 32; ++pad) out << ' ';
  out << ' ' << help;
  if (!default_text.empty()) out << " (default: " << default_text << ")";
  out << "\n";
}

void WriteFlagHelp(std::ostream& out, const FlagSpec& spec) {
  std::string left = "--" + std::string(spec.name);
  switch (spec.kind) {
    case FlagKind::kBool:
      break;
    case FlagKind::kDuration:
      left += "=DURATION";
      break;
    case FlagKind::kInt:
      left += "=N";
      break;
    case FlagKind::kTime:
      left += "=TIME";
      break;
    case FlagKind::kString:
      left += "=VALUE";
      break;
  }
  WriteFlagHelp(out, left, spec.help, spec.default_text);
}

void WriteFlagsHelp(std::ostream& out, std::span<const FlagSpec> flags) {
  out << "  -h, --help                      Show this help and exit.\n"
         "      --version                   Show version and exit.\n";
  for (const auto& f : flags) WriteFlagHelp(out, f);
}

std::optional<int> AnswerCommandLine(std::string_view program, bool parsed, std::string_view error, bool show_help,
                                     const std::function<std::string()>& help, bool show_version) {
  if (!parsed) {
    std::cerr << program << ": " << error << "\n";
    return 2;
  }
  if (show_help) {
    std::cout << help();
    return 0;
  }
  if (show_version) {
    std::cout << program << " version " AEE_VERSION " (revision " AEE_REVISION ")\n";
    return 0;
  }
  return std::nullopt;
}

bool ParseDuration(std::string_view text, std::chrono::milliseconds* out) {
  if (text.empty()) return false;
  if (text == "0") {
    *out = std::chrono::milliseconds(0);
    return true;
  }
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == start) return false;
    double number = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + i, number);
    if (ec != std::errc() || ptr != text.data() + i) return false;
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return false;
    total_ms += number * scale;
  }
  if (total_ms > 365.0 * 86'400'000) return false;
  *out = std::chrono::milliseconds(static_cast<long long>(total_ms + 0.5));
  return true;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  long long s = ms / 1000;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

bool ParseIntFlag(std::string_view text, int lo, int hi, int* out, std::string* why, std::string_view want) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
    *why = "want " + (want.empty() ? "an integer from " + std::to_string(lo) + " to " + std::to_string(hi) : std::string(want)) +
           ", got \"" + std::string(text) + "\"";
    return false;
  }
  *out = v;
  return true;
}

bool ParseBoolFlag(std::string_view text, bool* out, std::string* why) {
  if (text == "true" || text == "1") *out = true;
  else if (text == "false" || text == "0") *out = false;
  else {
    *why = "want true or false";
    return false;
  }
  return true;
}

bool ParseDurationFlag(std::string_view text, bool allow_zero, std::chrono::milliseconds* out, std::string* why) {
  std::chrono::milliseconds d{0};
  if (!ParseDuration(text, &d)) {
    *why = "invalid duration \"" + std::string(text) + "\" (use e.g. 500ms, 5s, 1m)";
    return false;
  }
  if (!allow_zero && d.count() <= 0) {
    *why = "must be greater than 0";
    return false;
  }
  *out = d;
  return true;
}

}  // namespace aee
