#include "core/exposition.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>

#include <prometheus/text_serializer.h>
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

std::string SerializeText(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return std::move(out).str();  // the stream's buffer itself, not a copy
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

RenderedFamilies RenderFamilies(std::vector<prometheus::MetricFamily> families) {
  RenderedFamilies out;
  ChunkDeflater deflater;
  for (auto& family : MergeFamilies(std::move(families))) {
    RenderedFamily r;
    r.name = family.name;
    std::vector<prometheus::MetricFamily> one;  // the family moved, not copied
    one.push_back(std::move(family));
    std::string text = SerializeText(one);
    one.clear();
    // The header ends with the TYPE line; samples follow.
    size_t cut = 0;
    const size_t type = text.find("# TYPE " + r.name + " ");
    if (type != std::string::npos) {
      const size_t eol = text.find('\n', type);
      cut = eol == std::string::npos ? text.size() : eol + 1;
    }
    r.header = text.substr(0, cut);
    r.samples = text.substr(cut);
    r.z_header = deflater.Deflate(r.header);
    r.z_samples = deflater.Deflate(r.samples);
    out.push_back(std::move(r));
  }
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
  auto append = [&](const std::string& text, const DeflatedChunk& chunk) {
    if (text.empty()) return;
    body.Add(chunk.bytes);
    crc = crc32_combine(crc, chunk.crc, static_cast<z_off_t>(text.size()));
    length += text.size();
  };
  const std::string* previous = nullptr;
  for (const RenderedFamily* f : Ordered(sources, &body)) {
    if (previous == nullptr || *previous != f->name) append(f->header, f->z_header);
    append(f->samples, f->z_samples);
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
