// A bounds-checked little-endian cursor over an in-memory GGUF image (internal to engine/gguf).
//
// Every read checks the bytes remaining first and returns false (consuming nothing) when they
// do not suffice; callers turn that into a Status naming what they were reading.
// Not thread-safe (a cursor); the bytes must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace hearth::engine::gguf_internal {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t offset() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }

  // Reads a trivially copyable little-endian value (the host is little-endian: x86-64/arm64).
  template <typename T>
  bool Read(T* out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // A view of the next `n` bytes.
  bool ReadBytes(uint64_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace hearth::engine::gguf_internal
