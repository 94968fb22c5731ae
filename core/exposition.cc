#include "core/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include <zlib.h>

namespace aee {

std::vector<prometheus::MetricFamily> MergeFamilies(std::vector<prometheus::MetricFamily> families) {
  std::map<std::string, prometheus::MetricFamily> by_name;
  for (auto& f : families) {
    auto [it, inserted] = by_name.try_emplace(f.name);
    if (inserted) {
      it->second = std::move(f);
    } else {
      auto& dst = it->second.metric;
      dst.insert(dst.end(), std::make_move_iterator(f.metric.begin()), std::make_move_iterator(f.metric.end()));
    }
  }
  std::vector<prometheus::MetricFamily> out;
  out.reserve(by_name.size());
  for (auto& [name, f] : by_name) {
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
  return out;
}

namespace {

// The text format as prometheus-cpp 1.0.1's TextSerializer writes it, byte for byte
// (tests/core/exposition_test.cc compares the two on random families), without its
// ostream: a value is formatted by std::to_chars instead of the stream's printf, which
// at 750 000 series was most of a cycle (docs/benchmarks.md, "Scale").

// A double as "%.16g" (prometheus-cpp: precision max_digits10 - 1) with Nan/+Inf/-Inf.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
  } else if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 1e15 && (v != 0 || !std::signbit(v))) {
    // Whole numbers of at most 15 digits print as integers under %.16g: the common
    // case (counts), without the floating-point formatter.
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    out.append(buf, res.ptr);
  } else {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 16);
    out.append(buf, res.ptr);
  }
}

template <typename Int>
void AppendInt(std::string& out, Int v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void AppendEscaped(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// name{labels[,extra="value"]}<space>
void AppendHead(std::string& out, const prometheus::MetricFamily& family, const prometheus::ClientMetric& metric,
                std::string_view suffix = {}, std::string_view extra_name = {}, std::string_view extra_text = {},
                const double* extra_double = nullptr) {
  out += family.name;
  out += suffix;
  if (!metric.label.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (const auto& label : metric.label) {
      if (!first) out += ',';
      first = false;
      out += label.name;
      out += "=\"";
      AppendEscaped(out, label.value);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      if (extra_double != nullptr) {
        AppendDouble(out, *extra_double);
      } else {
        out += extra_text;
      }
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void AppendTail(std::string& out, const prometheus::ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out += ' ';
    AppendInt(out, metric.timestamp_ms);
  }
  out += '\n';
}

// The _count and _sum lines a summary and a histogram both start with.
void AppendCountAndSum(std::string& out, const prometheus::MetricFamily& family, const prometheus::ClientMetric& metric,
                       std::uint64_t count, double sum) {
  AppendHead(out, family, metric, "_count");
  AppendInt(out, count);
  AppendTail(out, metric);
  AppendHead(out, family, metric, "_sum");
  AppendDouble(out, sum);
  AppendTail(out, metric);
}

void AppendSamples(std::string& out, const prometheus::MetricFamily& family) {
  using prometheus::MetricType;
  for (const auto& metric : family.metric) {
    switch (family.type) {
      case MetricType::Counter:
      case MetricType::Gauge:
      case MetricType::Untyped:
        AppendHead(out, family, metric);
        AppendDouble(out, family.type == MetricType::Counter ? metric.counter.value
                          : family.type == MetricType::Gauge ? metric.gauge.value
                                                             : metric.untyped.value);
        AppendTail(out, metric);
        break;
      case MetricType::Summary: {
        const auto& summary = metric.summary;
        AppendCountAndSum(out, family, metric, summary.sample_count, summary.sample_sum);
        for (const auto& q : summary.quantile) {
          AppendHead(out, family, metric, {}, "quantile", {}, &q.quantile);
          AppendDouble(out, q.value);
          AppendTail(out, metric);
        }
        break;
      }
      case MetricType::Histogram: {
        const auto& histogram = metric.histogram;
        AppendCountAndSum(out, family, metric, histogram.sample_count, histogram.sample_sum);
        double last = -std::numeric_limits<double>::infinity();
        for (const auto& bucket : histogram.bucket) {
          AppendHead(out, family, metric, "_bucket", "le", {}, &bucket.upper_bound);
          last = bucket.upper_bound;
          AppendInt(out, bucket.cumulative_count);
          AppendTail(out, metric);
        }
        if (last != std::numeric_limits<double>::infinity()) {
          AppendHead(out, family, metric, "_bucket", "le", "+Inf");
          AppendInt(out, histogram.sample_count);
          AppendTail(out, metric);
        }
        break;
      }
    }
  }
}

std::string_view TypeName(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter: return "counter";
    case prometheus::MetricType::Gauge: return "gauge";
    case prometheus::MetricType::Summary: return "summary";
    case prometheus::MetricType::Untyped: return "untyped";
    case prometheus::MetricType::Histogram: return "histogram";
  }
  return "untyped";
}

// The HELP (when there is one) and TYPE lines.
void AppendHeader(std::string& out, const prometheus::MetricFamily& family) {
  if (!family.help.empty()) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    out += family.help;
    out += '\n';
  }
  out += "# TYPE ";
  out += family.name;
  out += ' ';
  out += TypeName(family.type);
  out += '\n';
}

}  // namespace

std::string SerializeText(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  for (const auto& family : families) {
    AppendHeader(out, family);
    AppendSamples(out, family);
  }
  return out;
}

namespace {

// One raw deflate stream reused, after deflateReset, for every chunk of a render:
// deflateInit2 allocates and clears about 270 KB each time, and a render has two
// chunks per family.
class ChunkDeflater {
 public:
  ChunkDeflater() {
    // Negative windowBits: raw deflate, no zlib or gzip wrapper.
    if (deflateInit2(&zs_, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("gzip: deflateInit2 failed");
    }
  }
  ~ChunkDeflater() { deflateEnd(&zs_); }
  ChunkDeflater(const ChunkDeflater&) = delete;
  ChunkDeflater& operator=(const ChunkDeflater&) = delete;

  DeflatedChunk Deflate(std::string_view data) {
    DeflatedChunk chunk;
    chunk.text_size = data.size();
    if (data.empty()) return chunk;
    chunk.crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    if (deflateReset(&zs_) != Z_OK) throw std::runtime_error("gzip: deflateReset failed");
    // Z_SYNC_FLUSH ends on a byte boundary with an empty stored block and no final
    // block, so another chunk (or the closing block) may follow.
    chunk.bytes.resize(deflateBound(&zs_, static_cast<uLong>(data.size())) + 16);
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    zs_.next_out = reinterpret_cast<Bytef*>(chunk.bytes.data());
    zs_.avail_out = static_cast<uInt>(chunk.bytes.size());
    const int rc = deflate(&zs_, Z_SYNC_FLUSH);
    const bool complete = zs_.avail_in == 0 && zs_.avail_out > 0;
    chunk.bytes.resize(zs_.total_out);
    if (rc != Z_OK || !complete) throw std::runtime_error("gzip: deflate failed");
    return chunk;
  }

 private:
  z_stream zs_{};
};

void PutLittleEndian32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Families of every source in exposition order (by name, sources in order), and
// the sources in owners so the body keeps them alive.
std::vector<const RenderedFamily*> Ordered(const RenderedSources& sources, BodyPieces* body) {
  std::vector<const RenderedFamily*> all;
  for (const auto& source : sources) {
    for (const RenderedFamily& f : *source) all.push_back(&f);
    body->owners.push_back(source);
  }
  std::stable_sort(all.begin(), all.end(), [](const RenderedFamily* a, const RenderedFamily* b) { return a->name < b->name; });
  return all;
}

}  // namespace

RenderedFamilies RenderFamilies(std::vector<prometheus::MetricFamily> families, const RenderedFamilies* previous,
                                RenderStats* stats) {
  RenderedFamilies out;
  ChunkDeflater deflater;
  RenderStats counted;
  size_t next_previous = 0;  // both renders are sorted by name
  // The old piece if its text is the new one's, else a fresh compression of text.
  auto piece = [&](std::string_view text, std::string_view old_text, const DeflatedChunk* old) {
    ++counted.chunks;
    if (old != nullptr && old_text == text) {
      ++counted.reused;
      return *old;
    }
    return deflater.Deflate(text);
  };
  for (auto& family : MergeFamilies(std::move(families))) {
    RenderedFamily r;
    r.name = family.name;
    AppendHeader(r.header, family);
    AppendSamples(r.samples, family);
    family = {};  // its memory back before the next family is rendered
    const RenderedFamily* old = nullptr;
    if (previous != nullptr) {
      while (next_previous < previous->size() && (*previous)[next_previous].name < r.name) ++next_previous;
      if (next_previous < previous->size() && (*previous)[next_previous].name == r.name) old = &(*previous)[next_previous];
    }
    r.z_header = piece(r.header, old ? std::string_view(old->header) : std::string_view(), old ? &old->z_header : nullptr);
    const std::string_view samples(r.samples);
    size_t begin = 0, old_begin = 0;
    for (size_t i = 0; begin < samples.size(); ++i) {
      size_t end = begin;
      for (size_t line = 0; line < kLinesPerChunk && end < samples.size(); ++line) {
        const size_t newline = samples.find('\n', end);
        end = newline == std::string_view::npos ? samples.size() : newline + 1;
      }
      const DeflatedChunk* old_piece = old != nullptr && i < old->z_samples.size() ? &old->z_samples[i] : nullptr;
      const std::string_view old_text =
          old_piece ? std::string_view(old->samples).substr(old_begin, old_piece->text_size) : std::string_view();
      r.z_samples.push_back(piece(samples.substr(begin, end - begin), old_text, old_piece));
      begin = end;
      if (old_piece) old_begin += old_piece->text_size;
    }
    out.push_back(std::move(r));
  }
  if (stats != nullptr) *stats = counted;
  return out;
}

BodyPieces JoinRendered(const RenderedSources& sources) {
  BodyPieces body;
  const std::string* previous = nullptr;
  for (const RenderedFamily* f : Ordered(sources, &body)) {
    if (previous == nullptr || *previous != f->name) body.Add(f->header);
    body.Add(f->samples);
    previous = &f->name;
  }
  return body;
}

BodyPieces JoinRenderedGzip(const RenderedSources& sources) {
  BodyPieces body;
  // RFC 1952 member header: deflate, no flags, no time, OS unknown.
  static constexpr char kHeader[] = {'\x1f', '\x8b', '\x08', 0, 0, 0, 0, 0, 0, '\xff'};
  body.Add(std::string_view(kHeader, sizeof kHeader));
  uLong crc = crc32(0, nullptr, 0);
  std::uint64_t length = 0;
  auto append = [&](const DeflatedChunk& chunk) {
    if (chunk.text_size == 0) return;
    body.Add(chunk.bytes);
    crc = crc32_combine(crc, chunk.crc, static_cast<z_off_t>(chunk.text_size));
    length += chunk.text_size;
  };
  const std::string* previous = nullptr;
  for (const RenderedFamily* f : Ordered(sources, &body)) {
    if (previous == nullptr || *previous != f->name) append(f->z_header);
    for (const DeflatedChunk& piece : f->z_samples) append(piece);
    previous = &f->name;
  }
  std::string trailer("\x03\x00", 2);  // final block: empty, fixed Huffman
  PutLittleEndian32(trailer, static_cast<std::uint32_t>(crc));
  PutLittleEndian32(trailer, static_cast<std::uint32_t>(length & 0xffffffffu));
  body.AddOwned(std::move(trailer));
  return body;
}

std::string GzipCompress(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("gzip: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
  out.resize(written);
  return out;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  size_t pos = 0;
  while (pos <= accept_encoding.size()) {
    size_t comma = accept_encoding.find(',', pos);
    std::string_view item = accept_encoding.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? accept_encoding.size() + 1 : comma + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::string_view coding = item.substr(0, item.find(';'));
    while (!coding.empty() && coding.back() == ' ') coding.remove_suffix(1);
    if (coding != "gzip" && coding != "*") continue;
    size_t q = item.find("q=");
    if (q != std::string_view::npos) {
      std::string qs(item.substr(q + 2));
      try {
        if (std::stod(qs) <= 0) continue;
      } catch (...) {
        continue;
      }
    }
    return true;
  }
  return false;
}

}  // namespace aee
