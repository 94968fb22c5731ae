#include "core/flags.h"

#include <cctype>
#include <fstream>
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

}  // namespace aee
