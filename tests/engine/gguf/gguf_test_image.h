// Test helper: builds small GGUF images byte by byte, written independently of the parser
// (from the format description), so tests can hand-make valid and broken files.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::engine::testing {

// Little-endian byte appender.
class Bytes {
 public:
  template <typename T>
  Bytes& Put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    s_.append(buf, sizeof(T));
    return *this;
  }
  Bytes& PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    s_.append(s);
    return *this;
  }
  Bytes& PutRaw(std::string_view s) {
    s_.append(s);
    return *this;
  }
  const std::string& str() const { return s_; }
  size_t size() const { return s_.size(); }

 private:
  std::string s_;
};

// GGUF value type numbers (as on disk).
enum : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

class GgufImage {
 public:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string data;
    int64_t offset = -1;  // -1: next aligned position
  };

  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  uint64_t alignment = 32;  // used for layout; add a general.alignment key to change the file's
  int64_t tensor_count_override = -1;
  int64_t kv_count_override = -1;

  // Appends a key with a raw encoded value (type tag + payload bytes).
  GgufImage& Kv(std::string_view key, uint32_t type, const Bytes& payload) {
    Bytes b;
    b.PutString(key).Put<uint32_t>(type).PutRaw(payload.str());
    kvs_.push_back(b.str());
    return *this;
  }
  // Appends an already encoded key-value entry (key string, type, value) verbatim.
  GgufImage& KvRaw(const Bytes& entry) {
    kvs_.push_back(entry.str());
    return *this;
  }
  GgufImage& KvU32(std::string_view key, uint32_t v) { return Kv(key, kU32, Bytes().Put(v)); }
  GgufImage& KvI32(std::string_view key, int32_t v) { return Kv(key, kI32, Bytes().Put(v)); }
  GgufImage& KvU64(std::string_view key, uint64_t v) { return Kv(key, kU64, Bytes().Put(v)); }
  GgufImage& KvI64(std::string_view key, int64_t v) { return Kv(key, kI64, Bytes().Put(v)); }
  GgufImage& KvF32(std::string_view key, float v) { return Kv(key, kF32, Bytes().Put(v)); }
  GgufImage& KvF64(std::string_view key, double v) { return Kv(key, kF64, Bytes().Put(v)); }
  GgufImage& KvBool(std::string_view key, bool v) {
    return Kv(key, kBool, Bytes().Put<uint8_t>(v ? 1 : 0));
  }
  GgufImage& KvString(std::string_view key, std::string_view v) {
    return Kv(key, kString, Bytes().PutString(v));
  }
  GgufImage& KvStringArray(std::string_view key, const std::vector<std::string>& v) {
    Bytes b;
    b.Put<uint32_t>(kString).Put<uint64_t>(v.size());
    for (const auto& s : v) b.PutString(s);
    return Kv(key, kArray, b);
  }
  template <typename T>
  GgufImage& KvArray(std::string_view key, uint32_t element_type, const std::vector<T>& v) {
    Bytes b;
    b.Put<uint32_t>(element_type).Put<uint64_t>(v.size());
    for (const T& x : v) b.Put<T>(x);
    return Kv(key, kArray, b);
  }

  GgufImage& AddTensor(Tensor t) {
    tensors_.push_back(std::move(t));
    return *this;
  }

  // Offsets of each section in the last Build() (for truncation tests).
  size_t end_of_header = 0, end_of_kvs = 0, end_of_infos = 0, data_start = 0;

  std::string Build() {
    Bytes b;
    b.Put(magic).Put(version);
    b.Put<uint64_t>(tensor_count_override >= 0 ? tensor_count_override : tensors_.size());
    b.Put<uint64_t>(kv_count_override >= 0 ? kv_count_override : kvs_.size());
    end_of_header = b.size();
    for (const auto& kv : kvs_) b.PutRaw(kv);
    end_of_kvs = b.size();
    uint64_t next = 0;
    std::vector<uint64_t> offsets;
    for (const Tensor& t : tensors_) {
      const uint64_t off = t.offset >= 0 ? static_cast<uint64_t>(t.offset) : next;
      offsets.push_back(off);
      next = (off + t.data.size() + alignment - 1) / alignment * alignment;
      b.PutString(t.name).Put<uint32_t>(t.dims.size());
      for (uint64_t d : t.dims) b.Put(d);
      b.Put(t.type).Put(off);
    }
    end_of_infos = b.size();
    std::string out = b.str();
    data_start = (out.size() + alignment - 1) / alignment * alignment;
    if (tensors_.empty()) return out;
    out.resize(data_start, '\0');
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const size_t at = data_start + offsets[i];
      if (out.size() < at + tensors_[i].data.size()) out.resize(at + tensors_[i].data.size(), '\0');
      std::memcpy(out.data() + at, tensors_[i].data.data(), tensors_[i].data.size());
    }
    return out;
  }

 private:
  std::vector<std::string> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace hearth::engine::testing
