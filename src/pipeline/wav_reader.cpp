// Design: chunk sizes are read little-endian byte by byte so the parser is independent of
// host byte order; sample data is read in bulk and swapped only on big-endian hosts.
#include "pipeline/wav_reader.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace herald::pipeline {
namespace {

constexpr std::uint16_t kFormatPcm = 1;
constexpr std::uint16_t kFormatExtensible = 0xFFFE;
// A "fmt " chunk is 16, 18 or 40 bytes; anything far larger is not a real header.
constexpr std::uint32_t kMaxFmtBytes = 1024;
// Streaming writers (ffmpeg to a pipe) leave the data size at this placeholder.
constexpr std::uint32_t kUnknownSize = 0xFFFFFFFF;

std::uint32_t le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }

}  // namespace

WavReader::WavReader(const std::string& path) : path_(path) {
  auto fail = [&](const std::string& why) -> MediaError {
    return MediaError("not a readable WAV file: " + path + " (" + why + ")");
  };
  std::error_code ec;
  const auto fileSize = std::filesystem::file_size(path, ec);
  if (ec) throw MediaError("cannot open " + path + ": " + ec.message());
  file_.open(path, std::ios::binary);
  if (!file_) throw MediaError("cannot open " + path);

  std::array<unsigned char, 12> riff{};
  if (!file_.read(reinterpret_cast<char*>(riff.data()), riff.size()) ||
      std::memcmp(riff.data(), "RIFF", 4) != 0 || std::memcmp(riff.data() + 8, "WAVE", 4) != 0) {
    throw fail("no RIFF/WAVE header");
  }

  bool haveFormat = false;
  std::uint64_t pos = riff.size();
  while (true) {
    std::array<unsigned char, 8> head{};
    if (!file_.read(reinterpret_cast<char*>(head.data()), head.size())) {
      throw fail(haveFormat ? "no data chunk" : "no fmt chunk");
    }
    pos += head.size();
    const std::uint32_t size = le32(head.data() + 4);
    const std::uint64_t available = fileSize > pos ? fileSize - pos : 0;

    if (std::memcmp(head.data(), "fmt ", 4) == 0) {
      if (size < 16 || size > kMaxFmtBytes || size > available) throw fail("bad fmt chunk");
      std::array<unsigned char, kMaxFmtBytes> fmt{};
      if (!file_.read(reinterpret_cast<char*>(fmt.data()), size)) throw fail("bad fmt chunk");
      std::uint16_t format = le16(fmt.data());
      channels_ = le16(fmt.data() + 2);
      sampleRate_ = static_cast<int>(le32(fmt.data() + 4));
      const int bits = le16(fmt.data() + 14);
      // Extensible headers carry the real format in the first two bytes of the GUID.
      if (format == kFormatExtensible && size >= 26) format = le16(fmt.data() + 24);
      if (format != kFormatPcm || bits != 16) {
        throw fail("only 16-bit PCM is supported, got format " + std::to_string(format) + " with " +
                   std::to_string(bits) + " bits");
      }
      if (channels_ < 1 || sampleRate_ < 1) throw fail("bad fmt chunk");
      haveFormat = true;
      pos += size;
      if (size & 1) {  // chunks are padded to even sizes
        file_.seekg(1, std::ios::cur);
        pos += 1;
      }
    } else if (std::memcmp(head.data(), "data", 4) == 0) {
      if (!haveFormat) throw fail("data chunk before fmt chunk");
      // A truncated file (or a placeholder size) yields what is actually there.
      const std::uint64_t bytes =
          size == kUnknownSize ? available : std::min<std::uint64_t>(size, available);
      totalSamples_ = static_cast<std::size_t>(bytes / 2);
      remaining_ = totalSamples_;
      return;
    } else {
      const std::uint64_t skip = std::uint64_t{size} + (size & 1);
      if (skip > available) throw fail(haveFormat ? "no data chunk" : "no fmt chunk");
      file_.seekg(static_cast<std::streamoff>(skip), std::ios::cur);
      pos += skip;
    }
  }
}

std::size_t WavReader::read(std::int16_t* out, std::size_t max) {
  const std::size_t want = std::min(max, remaining_);
  if (want == 0) return 0;
  file_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(want * 2));
  const auto got = static_cast<std::size_t>(file_.gcount()) / 2;
  if (got < want) {
    // The file shrank under us; say so rather than pretend the audio ended there.
    remaining_ = 0;
    throw MediaError("unexpected end of " + path_);
  }
  remaining_ -= got;
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < got; ++i) {
      auto u = static_cast<std::uint16_t>(out[i]);
      out[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(u << 8 | u >> 8));
    }
  }
  return got;
}

}  // namespace herald::pipeline
