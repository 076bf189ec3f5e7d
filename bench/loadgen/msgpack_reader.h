#pragma once
// Just enough MessagePack to read Herald's JobProgressUpdate invocations: arrays, maps,
// strings, integers, and skipping any other value. Bounds-checked; a malformed input
// only sets ok = false.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace loadgen {

class MpReader {
 public:
  MpReader(const std::uint8_t* p, std::size_t n) : p_(p), e_(p + n) {}

  bool ok() const { return ok_; }
  bool atEnd() const { return p_ >= e_; }

  bool array(std::uint32_t& n) {
    if (!need(1)) return false;
    std::uint8_t b = *p_;
    if ((b & 0xf0) == 0x90) {
      n = b & 0x0f;
      ++p_;
      return true;
    }
    if (b == 0xdc) {
      ++p_;
      return be(2, n);
    }
    if (b == 0xdd) {
      ++p_;
      return be(4, n);
    }
    return fail();
  }
  bool map(std::uint32_t& n) {
    if (!need(1)) return false;
    std::uint8_t b = *p_;
    if ((b & 0xf0) == 0x80) {
      n = b & 0x0f;
      ++p_;
      return true;
    }
    if (b == 0xde) {
      ++p_;
      return be(2, n);
    }
    if (b == 0xdf) {
      ++p_;
      return be(4, n);
    }
    return fail();
  }
  bool str(std::string_view& s) {
    if (!need(1)) return false;
    std::uint8_t b = *p_;
    std::uint32_t n = 0;
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
      ++p_;
    } else if (b == 0xd9) {
      ++p_;
      if (!be(1, n)) return false;
    } else if (b == 0xda) {
      ++p_;
      if (!be(2, n)) return false;
    } else if (b == 0xdb) {
      ++p_;
      if (!be(4, n)) return false;
    } else
      return fail();
    if (!need(n)) return false;
    s = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool integer(std::int64_t& v) {
    if (!need(1)) return false;
    std::uint8_t b = *p_;
    if (b <= 0x7f) {
      v = b;
      ++p_;
      return true;
    }
    if (b >= 0xe0) {
      v = std::int8_t(b);
      ++p_;
      return true;
    }
    ++p_;
    std::uint64_t u = 0;
    switch (b) {
      case 0xcc:
        if (!be64(1, u)) return false;
        v = std::int64_t(u);
        return true;
      case 0xcd:
        if (!be64(2, u)) return false;
        v = std::int64_t(u);
        return true;
      case 0xce:
        if (!be64(4, u)) return false;
        v = std::int64_t(u);
        return true;
      case 0xcf:
        if (!be64(8, u)) return false;
        v = std::int64_t(u);
        return true;
      case 0xd0:
        if (!be64(1, u)) return false;
        v = std::int8_t(u);
        return true;
      case 0xd1:
        if (!be64(2, u)) return false;
        v = std::int16_t(u);
        return true;
      case 0xd2:
        if (!be64(4, u)) return false;
        v = std::int32_t(u);
        return true;
      case 0xd3:
        if (!be64(8, u)) return false;
        v = std::int64_t(u);
        return true;
      case 0xca: {
        if (!be64(4, u)) return false;
        float f;
        std::uint32_t x = std::uint32_t(u);
        std::memcpy(&f, &x, 4);
        v = std::int64_t(f);
        return true;
      }
      case 0xcb: {
        if (!be64(8, u)) return false;
        double d;
        std::memcpy(&d, &u, 8);
        v = std::int64_t(d);
        return true;
      }
      default: --p_; return fail();
    }
  }
  // Skips one value of any type.
  bool skip() {
    if (!need(1)) return false;
    std::uint8_t b = *p_;
    std::uint32_t n = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      ++p_;
      return true;
    }
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
      if (!array(n)) return false;
      for (std::uint32_t i = 0; i < n; ++i)
        if (!skip()) return false;
      return true;
    }
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
      if (!map(n)) return false;
      for (std::uint32_t i = 0; i < 2 * n; ++i)
        if (!skip()) return false;
      return true;
    }
    if ((b & 0xe0) == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb) {
      std::string_view s;
      return str(s);
    }
    ++p_;
    switch (b) {
      case 0xc4:
        if (!be(1, n)) return false;
        return advance(n);  // bin8
      case 0xc5:
        if (!be(2, n)) return false;
        return advance(n);
      case 0xc6:
        if (!be(4, n)) return false;
        return advance(n);
      case 0xcc:
      case 0xd0: return advance(1);
      case 0xcd:
      case 0xd1: return advance(2);
      case 0xce:
      case 0xd2:
      case 0xca: return advance(4);
      case 0xcf:
      case 0xd3:
      case 0xcb: return advance(8);
      case 0xd4: return advance(2);  // fixext 1
      case 0xd5: return advance(3);
      case 0xd6: return advance(5);
      case 0xd7: return advance(9);
      case 0xd8: return advance(17);
      case 0xc7:
        if (!be(1, n)) return false;
        return advance(n + 1);
      case 0xc8:
        if (!be(2, n)) return false;
        return advance(n + 1);
      case 0xc9:
        if (!be(4, n)) return false;
        return advance(n + 1);
      default: return fail();
    }
  }

 private:
  bool fail() {
    ok_ = false;
    return false;
  }
  bool need(std::size_t n) {
    if (std::size_t(e_ - p_) < n) return fail();
    return true;
  }
  bool advance(std::size_t n) {
    if (!need(n)) return false;
    p_ += n;
    return true;
  }
  bool be64(int bytes, std::uint64_t& v) {
    if (!need(bytes)) return false;
    v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p_[i];
    p_ += bytes;
    return true;
  }
  bool be(int bytes, std::uint32_t& v) {
    std::uint64_t u;
    if (!be64(bytes, u)) return false;
    v = std::uint32_t(u);
    return true;
  }

  const std::uint8_t* p_;
  const std::uint8_t* e_;
  bool ok_ = true;
};

}  // namespace loadgen
