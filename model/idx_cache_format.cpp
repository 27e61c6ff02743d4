// Encoding and checking the IDX cache's header; CRC-32 (libdeflate's,
// several GB/s) of a payload's chunks, spread over threads.
#include "model/idx_cache_format.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <thread>

namespace emnist {
namespace {

constexpr char magic[16] = {'e', 'm', 'n', 'i', 's', 't', '-', 'i',
                            'd', 'x', '-', 'c', 'a', 'c', 'h', 'e'};
constexpr std::size_t fixed_bytes = 64;
constexpr std::size_t crc_covered = 52;  ///< bytes before the header's CRC
constexpr std::size_t page = 4096;

std::uint32_t crc32_from(std::uint32_t crc, std::span<const std::uint8_t> b) {
  return libdeflate_crc32(crc, b.data(), b.size());
}

void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace

std::uint32_t crc32_of(std::span<const std::uint8_t> bytes) {
  return crc32_from(0, bytes);
}

gzip_stamp gzip_stamp_of(std::span<const std::uint8_t> gz) {
  gzip_stamp s;
  s.size = gz.size();
  if (gz.size() >= 8) {
    s.crc32 = get32(gz.data() + gz.size() - 8);
    s.isize = get32(gz.data() + gz.size() - 4);
  }
  return s;
}

std::size_t chunk_count(std::uint64_t payload_bytes,
                        std::uint32_t chunk_bytes) {
  return chunk_bytes == 0
             ? 0
             : static_cast<std::size_t>((payload_bytes + chunk_bytes - 1) /
                                        chunk_bytes);
}

std::size_t cache_header::payload_offset() const {
  return round_up(fixed_bytes + 4 * chunk_crcs.size(), page);
}

std::vector<std::uint8_t> encode_cache_header(const cache_header& h) {
  std::vector<std::uint8_t> out(h.payload_offset(), 0);
  std::memcpy(out.data(), magic, sizeof magic);
  put32(&out[16], cache_format_version);
  put32(&out[20], h.chunk_bytes);
  put64(&out[24], h.source.size);
  put32(&out[32], h.source.crc32);
  put32(&out[36], h.source.isize);
  put64(&out[40], h.payload_bytes);
  put32(&out[48], static_cast<std::uint32_t>(h.chunk_crcs.size()));
  for (std::size_t i = 0; i < h.chunk_crcs.size(); ++i) {
    put32(&out[fixed_bytes + 4 * i], h.chunk_crcs[i]);
  }
  const std::span<const std::uint8_t> all(out);
  const auto crc =
      crc32_from(crc32_of(all.first(crc_covered)),
                 all.subspan(fixed_bytes, 4 * h.chunk_crcs.size()));
  put32(&out[crc_covered], crc);
  return out;
}

expected<cache_header> decode_cache_header(std::span<const std::uint8_t> file,
                                           const std::string& name) {
  auto bad = [&](const std::string& what) {
    return make_error(errc::data_loss, name + ": " + what);
  };
  if (file.size() < fixed_bytes) return bad("shorter than a cache header");
  if (std::memcmp(file.data(), magic, sizeof magic) != 0) {
    return bad("not an IDX cache file (magic)");
  }
  if (get32(&file[16]) != cache_format_version) {
    return bad("cache format version " + std::to_string(get32(&file[16])) +
               ", expected " + std::to_string(cache_format_version));
  }
  cache_header h;
  h.chunk_bytes = get32(&file[20]);
  h.source.size = get64(&file[24]);
  h.source.crc32 = get32(&file[32]);
  h.source.isize = get32(&file[36]);
  h.payload_bytes = get64(&file[40]);
  const std::uint32_t chunks = get32(&file[48]);
  if (h.chunk_bytes == 0 ||
      chunks != chunk_count(h.payload_bytes, h.chunk_bytes)) {
    return bad("chunk count " + std::to_string(chunks) + " does not fit " +
               std::to_string(h.payload_bytes) + " payload bytes");
  }
  if (file.size() < fixed_bytes + 4 * std::size_t{chunks}) {
    return bad("truncated chunk table");
  }
  const auto crc =
      crc32_from(crc32_of(file.first(crc_covered)),
                 file.subspan(fixed_bytes, 4 * std::size_t{chunks}));
  if (crc != get32(&file[crc_covered])) return bad("header checksum mismatch");
  h.chunk_crcs.resize(chunks);
  for (std::size_t i = 0; i < chunks; ++i) {
    h.chunk_crcs[i] = get32(&file[fixed_bytes + 4 * i]);
  }
  const std::uint64_t want = h.payload_offset() + h.payload_bytes;
  if (file.size() != want) {
    return bad("file has " + std::to_string(file.size()) + " bytes, expected " +
               std::to_string(want) +
               (file.size() < want ? " (truncated)" : " (trailing bytes)"));
  }
  return h;
}

std::vector<std::uint32_t> chunk_crcs(std::span<const std::uint8_t> payload,
                                      std::uint32_t chunk_bytes,
                                      unsigned threads) {
  const std::size_t n = chunk_count(payload.size(), chunk_bytes);
  std::vector<std::uint32_t> out(n);
  auto run = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const std::size_t at = i * std::size_t{chunk_bytes};
      out[i] = crc32_of(payload.subspan(
          at, std::min<std::size_t>(chunk_bytes, payload.size() - at)));
    }
  };
  const std::size_t workers = std::clamp<std::size_t>(threads, 1, n ? n : 1);
  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < workers; ++w) {
    const std::size_t from = w * n / workers;
    const std::size_t to = (w + 1) * n / workers;
    try {
      pool.emplace_back(run, from, to);
    } catch (const std::system_error&) {
      run(from, to);  // no thread to be had: here, then
    }
  }
  run(0, n / workers);
  for (auto& t : pool) t.join();
  return out;
}

}  // namespace emnist
