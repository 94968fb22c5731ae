#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/body_pieces.h"

namespace aee {

/// Merges families that share a name (several sources may publish the same
/// family, e.g. agent_exporter_rows_skipped_total) and sorts them by name, so the
/// exposition holds each HELP/TYPE block once and in a stable order.
std::vector<prometheus::MetricFamily> MergeFamilies(std::vector<prometheus::MetricFamily> families);

/// Prometheus text format 0.0.4.
std::string SerializeText(const std::vector<prometheus::MetricFamily>& families);

/// Raw deflate data that ends on a byte boundary without a final block.
struct DeflatedChunk {
  std::string bytes;
  std::uint32_t crc = 0;        // CRC-32 of the uncompressed text
  std::size_t text_size = 0;    // length of the uncompressed text
};

/// One family rendered in the text format ahead of any scrape: its HELP/TYPE lines
/// and its sample lines, kept apart so sources that publish the same family can be
/// joined under one header.
struct RenderedFamily {
  std::string name;
  std::string header;
  std::string samples;
  /// header and samples, each compressed as a byte-aligned, non-final run of raw
  /// deflate blocks (Z_SYNC_FLUSH) that can follow any other such run, with its CRC-32:
  /// a gzip body is then joined from them without compressing anything again. The
  /// samples are compressed in pieces of kLinesPerChunk lines, each on its own, so a
  /// render can keep the pieces whose text did not change since the last one.
  DeflatedChunk z_header;
  std::vector<DeflatedChunk> z_samples;
};
using RenderedFamilies = std::vector<RenderedFamily>;

/// Sample lines per compressed piece: about 30 kB of text in a runs-shaped family,
/// large enough that compression loses little to the pieces' separate dictionaries.
inline constexpr std::size_t kLinesPerChunk = 256;

/// What a render compressed and what it took unchanged from the previous one.
struct RenderStats {
  std::size_t chunks = 0;  // headers and sample pieces
  std::size_t reused = 0;  // of which copied from the previous render
};

/// Merges and renders families (SerializeText, one family at a time). previous, if
/// given, is the same source's last render: a piece whose text equals the piece at
/// the same place in previous is copied from it instead of compressed again. The
/// result is byte for byte the same with or without previous.
RenderedFamilies RenderFamilies(std::vector<prometheus::MetricFamily> families,
                                const RenderedFamilies* previous = nullptr, RenderStats* stats = nullptr);

using RenderedSources = std::vector<std::shared_ptr<const RenderedFamilies>>;

/// The exposition of several rendered sources: families sorted by name, each
/// header once, samples in source order. Equal to SerializeText(MergeFamilies(all
/// the sources' families)), as ranges of the sources' text that the body keeps
/// alive: nothing is copied.
BodyPieces JoinRendered(const RenderedSources& sources);

/// JoinRendered's text as a gzip body (RFC 1952, one member), made of the
/// pre-compressed chunks: neither a compression nor a copy.
BodyPieces JoinRenderedGzip(const RenderedSources& sources);

/// gzip-compresses data (RFC 1952) at zlib's fastest level: on a scrape, time
/// matters more than the last 10 % of bytes. Throws std::runtime_error on zlib failure.
std::string GzipCompress(std::string_view data);

/// Whether an Accept-Encoding header value allows gzip (q=0 refuses it).
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace aee
