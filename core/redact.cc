#include "core/redact.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "core/text.h"

namespace aee {
namespace {

// %XX sequences decoded, invalid ones kept as written (libpq rejects those; the
// raw form is what its message then quotes).
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigitValue(s[i + 1]) >= 0 && HexDigitValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigitValue(s[i + 1]) * 16 + HexDigitValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A keyword value as libpq reads it: 'quoted with \' and \\' or up to whitespace.
std::string UnquoteKeywordValue(std::string_view v) {
  if (v.size() < 2 || v.front() != '\'') return std::string(v);
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out.push_back(v[i]);
  }
  return out;
}

void AddBoth(std::vector<std::string>& out, const std::string& raw, const std::string& decoded) {
  for (const std::string* s : {&raw, &decoded}) {
    if (!s->empty() && std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(*s);
  }
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::string RedactSecrets(std::string_view text) {
  // Fast path: most log lines hold nothing that looks like a credential.
  if (text.find("://") == std::string_view::npos && text.find("assword") == std::string_view::npos &&
      text.find("ASSWORD") == std::string_view::npos) {
    return std::string(text);
  }
  // URI form: scheme://user:password@host -> scheme://user:xxxxx@host
  static const std::regex kUri(R"(([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@\s]*@)");
  // Keyword form and URI query parameter: password=secret, password = 'a b', ?password=x&
  static const std::regex kKeyword(
      R"(((?:^|[\s?&;,])(?:password|PGPASSWORD)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;,]*))",
      std::regex::icase);
  std::string out = std::regex_replace(std::string(text), kUri, "$1:xxxxx@");
  out = std::regex_replace(out, kKeyword, "$1xxxxx");
  return out;
}

std::vector<std::string> ConnectionSecrets(std::string_view conninfo) {
  std::vector<std::string> out;
  const std::string text(conninfo);
  // URI userinfo: everything between the first ':' after "://" and the last '@'
  // before the host part (a password may itself hold '@' when percent-encoded, or
  // raw when the URI is malformed: take the widest reading).
  if (size_t scheme = text.find("://"); scheme != std::string::npos) {
    const size_t start = scheme + 3;
    size_t end = text.find_first_of("/?", start);
    if (end == std::string::npos) end = text.size();
    const size_t at = text.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= start) {
      const std::string userinfo = text.substr(start, at - start);
      if (size_t colon = userinfo.find(':'); colon != std::string::npos) {
        const std::string raw = userinfo.substr(colon + 1);
        AddBoth(out, raw, PercentDecode(raw));
      }
    }
  }
  // password=... as a keyword or a URI query parameter.
  static const std::regex kKeyword(R"((?:^|[\s?&])password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*))", std::regex::icase);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kKeyword); it != std::sregex_iterator(); ++it) {
    const std::string raw = (*it)[1].str();
    AddBoth(out, raw, PercentDecode(UnquoteKeywordValue(raw)));
    AddBoth(out, UnquoteKeywordValue(raw), UnquoteKeywordValue(raw));
  }
  return out;
}

Redactor::Redactor(std::vector<std::string> secrets) {
  for (auto& s : secrets) {
    if (!s.empty() && std::find(secrets_.begin(), secrets_.end(), s) == secrets_.end()) {
      secrets_.push_back(std::move(s));
    }
  }
  std::sort(secrets_.begin(), secrets_.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
}

std::string Redactor::Redact(std::string_view text) const {
  std::string out(text);
  for (const std::string& secret : secrets_) {
    const bool anywhere = secret.size() >= kMinAnywhere;
    size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      const size_t end = pos + secret.size();
      const bool whole = (pos == 0 || !IsWordChar(out[pos - 1])) && (end == out.size() || !IsWordChar(out[end]));
      if (anywhere || whole) {
        out.replace(pos, secret.size(), kMask);
        pos += kMask.size();
      } else {
        pos = end;
      }
    }
  }
  return RedactSecrets(out);
}

}  // namespace aee
