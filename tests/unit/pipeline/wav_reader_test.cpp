#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/wav_reader.h"
#include "test_support.h"

using namespace herald::pipeline;
namespace t = herald::pipeline::test;

namespace {

std::string le32(std::uint32_t v) {
  return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8 & 0xFF),
          static_cast<char>(v >> 16 & 0xFF), static_cast<char>(v >> 24 & 0xFF)};
}
std::string le16(std::uint16_t v) {
  return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
}

std::string fmtChunk(std::uint16_t format, std::uint16_t channels, std::uint32_t rate,
                     std::uint16_t bits) {
  return "fmt " + le32(16) + le16(format) + le16(channels) + le32(rate) +
         le32(rate * channels * bits / 8) + le16(static_cast<std::uint16_t>(channels * bits / 8)) +
         le16(bits);
}

std::string wav(const std::string& chunks) {
  return "RIFF" + le32(static_cast<std::uint32_t>(4 + chunks.size())) + "WAVE" + chunks;
}

std::string samples(const std::vector<std::int16_t>& s) {
  std::string out;
  for (auto v : s) out += le16(static_cast<std::uint16_t>(v));
  return out;
}

}  // namespace

TEST(WavReader, ReadsSamplesAndSkipsUnknownChunks) {
  t::TempDir dir;
  const auto path = dir.file("a.wav");
  const auto data = samples({1, -2, 300, -32768, 32767});
  // An odd-sized LIST chunk exercises the padding rule.
  const std::string list = "LIST" + le32(3) + "abc" + std::string(1, '\0');
  t::writeFile(path, wav(fmtChunk(1, 1, 16000, 16) + list + "data" +
                         le32(static_cast<std::uint32_t>(data.size())) + data));
  WavReader reader(path);
  EXPECT_EQ(reader.sampleRate(), 16000);
  EXPECT_EQ(reader.channels(), 1);
  ASSERT_EQ(reader.totalSamples(), 5u);
  std::int16_t buf[3];
  ASSERT_EQ(reader.read(buf, 3), 3u);
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(buf[1], -2);
  EXPECT_EQ(buf[2], 300);
  ASSERT_EQ(reader.read(buf, 3), 2u);
  EXPECT_EQ(buf[0], -32768);
  EXPECT_EQ(buf[1], 32767);
  EXPECT_EQ(reader.read(buf, 3), 0u);
}

TEST(WavReader, TruncatedDataYieldsWhatIsThere) {
  t::TempDir dir;
  const auto path = dir.file("short.wav");
  t::writeFile(path, wav(fmtChunk(1, 1, 16000, 16) + "data" + le32(1000000) + samples({5, 6})));
  WavReader reader(path);
  EXPECT_EQ(reader.totalSamples(), 2u);
}

TEST(WavReader, RejectsWhatItCannotRead) {
  t::TempDir dir;
  auto rejects = [&](const std::string& bytes) {
    const auto path = dir.file("bad.wav");
    t::writeFile(path, bytes);
    EXPECT_THROW(WavReader{path}, MediaError);
  };
  rejects("");
  rejects("RIFF");
  rejects(t::randomBytes(1000, 1));
  rejects(wav(fmtChunk(3, 1, 16000, 32) + "data" + le32(0)));  // float
  rejects(wav(fmtChunk(1, 1, 16000, 8) + "data" + le32(0)));   // 8-bit
  rejects(wav("data" + le32(2) + samples({1})));               // data before fmt
  rejects(wav(fmtChunk(1, 1, 16000, 16)));                     // no data
  rejects(wav("fmt " + le32(0xFFFFFF00u) + "xx"));             // absurd fmt size
  rejects(wav("JUNK" + le32(0x7FFFFFFFu) + "x"));              // chunk runs past the end
  EXPECT_THROW(WavReader{dir.file("absent.wav")}, MediaError);
}
