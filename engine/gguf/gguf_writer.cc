#include "engine/gguf/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/gguf/string_compat.h"

namespace hearth::engine {
namespace {

using gguf_internal::ToAbsl;

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr size_t kMaxNameBytes = 63;  // llama.cpp's GGML_MAX_NAME (64) less the terminator
constexpr int kMaxDims = 4;
constexpr size_t kWriteBuffer = 4 << 20;

uint64_t AlignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

class Appender {
 public:
  template <typename T>
  void Put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    s_.append(buf, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    s_.append(s);
  }
  std::string& str() { return s_; }

 private:
  std::string s_;
};

bool IsUnsigned(GgufValueType t) {
  return t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
         t == GgufValueType::kUint64;
}
bool IsSigned(GgufValueType t) {
  return t == GgufValueType::kInt8 || t == GgufValueType::kInt16 || t == GgufValueType::kInt32 ||
         t == GgufValueType::kInt64;
}

// Range of an integer type as [lo, hi] in the widened representation.
void IntRange(GgufValueType t, int64_t* lo, uint64_t* hi) {
  switch (t) {
    case GgufValueType::kUint8:
      *lo = 0, *hi = 0xFF;
      return;
    case GgufValueType::kUint16:
      *lo = 0, *hi = 0xFFFF;
      return;
    case GgufValueType::kUint32:
      *lo = 0, *hi = 0xFFFFFFFFu;
      return;
    case GgufValueType::kInt8:
      *lo = -128, *hi = 127;
      return;
    case GgufValueType::kInt16:
      *lo = -32768, *hi = 32767;
      return;
    case GgufValueType::kInt32:
      *lo = std::numeric_limits<int32_t>::min(), *hi = std::numeric_limits<int32_t>::max();
      return;
    case GgufValueType::kInt64:
      *lo = std::numeric_limits<int64_t>::min(), *hi = std::numeric_limits<int64_t>::max();
      return;
    default:
      *lo = 0, *hi = std::numeric_limits<uint64_t>::max();
  }
}

// Appends the payload of `v` (no type tag) as `v.type`.
absl::Status PutValue(Appender& out, const GgufValue& v, std::string_view key, int depth) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata key '", ToAbsl(key), "': ", ToAbsl(why), " (", DescribeValue(v), ")"));
  };
  if (depth > 16) return bad("arrays nested deeper than 16");
  const GgufValueType t = v.type;
  if (IsUnsigned(t) || IsSigned(t)) {
    int64_t lo;
    uint64_t hi;
    IntRange(t, &lo, &hi);
    uint64_t bits;
    if (const auto* u = std::get_if<uint64_t>(&v.value)) {
      if (*u > hi) return bad("value out of range for its type");
      bits = *u;
    } else if (const auto* i = std::get_if<int64_t>(&v.value)) {
      if (*i < lo || (*i > 0 && static_cast<uint64_t>(*i) > hi)) {
        return bad("value out of range for its type");
      }
      bits = static_cast<uint64_t>(*i);
    } else {
      return bad("an integer type holding a non-integer");
    }
    switch (t) {
      case GgufValueType::kUint8:
      case GgufValueType::kInt8:
        out.Put<uint8_t>(static_cast<uint8_t>(bits));
        break;
      case GgufValueType::kUint16:
      case GgufValueType::kInt16:
        out.Put<uint16_t>(static_cast<uint16_t>(bits));
        break;
      case GgufValueType::kUint32:
      case GgufValueType::kInt32:
        out.Put<uint32_t>(static_cast<uint32_t>(bits));
        break;
      default:
        out.Put<uint64_t>(bits);
    }
    return absl::OkStatus();
  }
  switch (t) {
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64: {
      const auto* d = std::get_if<double>(&v.value);
      if (d == nullptr) return bad("a float type holding a non-float");
      if (t == GgufValueType::kFloat32) {
        out.Put<float>(static_cast<float>(*d));
      } else {
        out.Put<double>(*d);
      }
      return absl::OkStatus();
    }
    case GgufValueType::kBool: {
      const auto* b = std::get_if<bool>(&v.value);
      if (b == nullptr) return bad("a bool type holding a non-bool");
      out.Put<uint8_t>(*b ? 1 : 0);
      return absl::OkStatus();
    }
    case GgufValueType::kString: {
      const auto* s = std::get_if<std::string>(&v.value);
      if (s == nullptr) return bad("a string type holding a non-string");
      out.PutString(*s);
      return absl::OkStatus();
    }
    case GgufValueType::kArray: {
      const auto* a = std::get_if<GgufArray>(&v.value);
      if (a == nullptr) return bad("an array type holding a non-array");
      out.Put<uint32_t>(static_cast<uint32_t>(a->element_type));
      out.Put<uint64_t>(a->elements.size());
      for (size_t i = 0; i < a->elements.size(); ++i) {
        if (a->elements[i].type != a->element_type) {
          return bad(absl::StrCat(
              "element ", i, " is ", ToAbsl(GgufValueTypeName(a->elements[i].type)),
              ", the array's element type ", ToAbsl(GgufValueTypeName(a->element_type))));
        }
        RETURN_IF_ERROR(PutValue(out, a->elements[i], key, depth + 1));
      }
      return absl::OkStatus();
    }
    default:
      return bad("unknown value type");
  }
}

}  // namespace

GgufValue MakeGgufUint(GgufValueType type, uint64_t v) { return GgufValue{type, v}; }
GgufValue MakeGgufInt(GgufValueType type, int64_t v) { return GgufValue{type, v}; }
GgufValue MakeGgufFloat32(float v) { return GgufValue{GgufValueType::kFloat32, double{v}}; }
GgufValue MakeGgufFloat64(double v) { return GgufValue{GgufValueType::kFloat64, v}; }
GgufValue MakeGgufBool(bool v) { return GgufValue{GgufValueType::kBool, v}; }
GgufValue MakeGgufString(std::string v) { return GgufValue{GgufValueType::kString, std::move(v)}; }
GgufValue MakeGgufArray(GgufValueType element_type, std::vector<GgufValue> elements) {
  return GgufValue{GgufValueType::kArray, GgufArray{element_type, std::move(elements)}};
}
GgufValue MakeGgufStringArray(const std::vector<std::string>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (const std::string& s : v) e.push_back(MakeGgufString(s));
  return MakeGgufArray(GgufValueType::kString, std::move(e));
}
GgufValue MakeGgufFloat32Array(const std::vector<float>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (float f : v) e.push_back(MakeGgufFloat32(f));
  return MakeGgufArray(GgufValueType::kFloat32, std::move(e));
}
GgufValue MakeGgufInt32Array(const std::vector<int32_t>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (int32_t i : v) e.push_back(MakeGgufInt(GgufValueType::kInt32, i));
  return MakeGgufArray(GgufValueType::kInt32, std::move(e));
}

GgufWriter::~GgufWriter() {
  if (out_ != nullptr) {
    std::fclose(out_);
    std::remove(tmp_path_.c_str());
  }
}

void GgufWriter::Set(std::string_view key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::string(key), std::move(value));
}

bool GgufWriter::Remove(std::string_view key) {
  for (auto it = metadata_.begin(); it != metadata_.end(); ++it) {
    if (it->first == key) {
      metadata_.erase(it);
      return true;
    }
  }
  return false;
}

const GgufValue* GgufWriter::Find(std::string_view key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void GgufWriter::CopyMetadata(const GgufFile& file) {
  for (const auto& [k, v] : file.metadata()) Set(k, v);
}

uint64_t GgufWriter::alignment() const {
  const GgufValue* v = Find("general.alignment");
  if (v == nullptr) return kDefaultAlignment;
  auto a = ValueAsUint(*v);
  return a.ok() ? *a : 0;  // 0: rejected by SerializeHeader
}

absl::Status GgufWriter::AddTensor(std::string name, GgmlType type, std::vector<int64_t> shape) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", ToAbsl(why)));
  };
  if (name.empty()) return absl::InvalidArgumentError("tensor name is empty");
  if (name.size() > kMaxNameBytes) {
    return bad(absl::StrCat("name longer than ", kMaxNameBytes, " bytes"));
  }
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return bad("duplicate tensor name");
  }
  const TypeTraits* traits = FindTypeTraits(static_cast<uint32_t>(type));
  if (traits == nullptr) return bad("unknown element type");
  if (shape.empty() || shape.size() > kMaxDims) {
    return bad(absl::StrCat(shape.size(), " dimensions (1 to ", kMaxDims, " allowed)"));
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 1) return bad(absl::StrCat("dimension ", d, " < 1"));
    if (n > std::numeric_limits<int64_t>::max() / d) return bad("element count overflows");
    n *= d;
  }
  if (shape[0] % traits->block_size != 0) {
    return bad(absl::StrCat("rows of ", shape[0], " elements are not a multiple of the ",
                            std::string(traits->name), " block size ", traits->block_size));
  }
  TensorInfo info{std::move(name), type, std::move(shape)};
  info.num_bytes = static_cast<uint64_t>(traits->RowBytes(info.shape[0])) * (n / info.shape[0]);
  tensors_.push_back(std::move(info));
  return absl::OkStatus();
}

uint64_t GgufWriter::data_bytes() const {
  const uint64_t a = std::max<uint64_t>(alignment(), 1);
  uint64_t total = 0;
  for (const TensorInfo& t : tensors_) total += AlignUp(t.num_bytes, a);
  return total;
}

absl::StatusOr<std::string> GgufWriter::SerializeHeader() const {
  const uint64_t align = alignment();
  if (align == 0 || (align & (align - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("general.alignment must be a power of two, got ", align));
  }
  Appender out;
  out.Put<uint32_t>(kMagic);
  out.Put<uint32_t>(kVersion);
  out.Put<uint64_t>(tensors_.size());
  out.Put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    if (key.empty()) return absl::InvalidArgumentError("metadata key is empty");
    out.PutString(key);
    out.Put<uint32_t>(static_cast<uint32_t>(value.type));
    RETURN_IF_ERROR(PutValue(out, value, key, 0));
  }
  uint64_t offset = 0;
  for (const TensorInfo& t : tensors_) {
    out.PutString(t.name);
    out.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) out.Put<uint64_t>(static_cast<uint64_t>(d));
    out.Put<uint32_t>(static_cast<uint32_t>(t.type));
    out.Put<uint64_t>(offset);
    offset += AlignUp(t.num_bytes, align);
  }
  out.str().resize(AlignUp(out.str().size(), align), '\0');
  return std::move(out.str());
}

absl::Status GgufWriter::Fail(absl::Status status) {
  if (out_ != nullptr) {
    std::fclose(out_);
    out_ = nullptr;
    std::remove(tmp_path_.c_str());
  }
  return status;
}

absl::Status GgufWriter::WriteRaw(const void* data, size_t n) {
  if (n > 0 && std::fwrite(data, 1, n, out_) != n) {
    return Fail(
        absl::InternalError(absl::StrCat("writing ", tmp_path_, ": ", std::strerror(errno))));
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::Begin(const std::string& path) {
  if (out_ != nullptr) return absl::FailedPreconditionError("GgufWriter::Begin called twice");
  ASSIGN_OR_RETURN(std::string header, SerializeHeader());
  uint64_t offset = 0;
  for (TensorInfo& t : tensors_) {
    t.offset = offset;
    offset += AlignUp(t.num_bytes, alignment());
  }
  path_ = path;
  tmp_path_ = path + ".tmp";
  out_ = std::fopen(tmp_path_.c_str(), "wb");
  if (out_ == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create ", tmp_path_, ": ", std::strerror(errno)));
  }
  std::setvbuf(out_, nullptr, _IOFBF, kWriteBuffer);
  tensor_index_ = 0;
  tensor_written_ = 0;
  return WriteRaw(header.data(), header.size());
}

absl::Status GgufWriter::Write(const void* data, size_t n) {
  if (out_ == nullptr) return absl::FailedPreconditionError("GgufWriter::Write before Begin");
  const auto* p = static_cast<const uint8_t*>(data);
  static const char kZeros[256] = {};
  while (n > 0) {
    if (tensor_index_ >= tensors_.size()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(n, " bytes written past the last tensor's data")));
    }
    const TensorInfo& t = tensors_[tensor_index_];
    const uint64_t take = std::min<uint64_t>(n, t.num_bytes - tensor_written_);
    RETURN_IF_ERROR(WriteRaw(p, take));
    p += take;
    n -= take;
    tensor_written_ += take;
    if (tensor_written_ == t.num_bytes) {
      uint64_t pad = AlignUp(t.num_bytes, alignment()) - t.num_bytes;
      while (pad > 0) {
        const uint64_t k = std::min<uint64_t>(pad, sizeof(kZeros));
        RETURN_IF_ERROR(WriteRaw(kZeros, k));
        pad -= k;
      }
      ++tensor_index_;
      tensor_written_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::Status GgufWriter::Finish() {
  if (out_ == nullptr) return absl::FailedPreconditionError("GgufWriter::Finish before Begin");
  // Zero-byte tensors cannot exist (AddTensor), so an index short of the end means missing data.
  if (tensor_index_ < tensors_.size()) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("tensor '", tensors_[tensor_index_].name, "': ", tensor_written_, " of ",
                     tensors_[tensor_index_].num_bytes, " bytes written before Finish")));
  }
  if (std::fflush(out_) != 0 || std::fclose(out_) != 0) {
    out_ = nullptr;
    std::remove(tmp_path_.c_str());
    return absl::InternalError(absl::StrCat("writing ", tmp_path_, ": ", std::strerror(errno)));
  }
  out_ = nullptr;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp_path_.c_str());
    return absl::InternalError(absl::StrCat("renaming ", tmp_path_, " to ", path_, ": ", err));
  }
  return absl::OkStatus();
}

}  // namespace hearth::engine
