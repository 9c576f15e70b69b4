// GgufFile::Parser: validates and decodes a GGUF v2/v3 image held in memory.
//
//   offset 0   "GGUF" magic, u32 version (2 or 3), u64 tensor count, u64 key-value count
//              key-value pairs: string key, u32 value type, value (arrays: u32 element type,
//              u64 count, elements; strings: u64 length, bytes)
//              tensor infos: string name, u32 n_dims, u64 dims[n_dims] (innermost first),
//              u32 ggml type, u64 offset (from the data section, aligned)
//   align_up(end of tensor infos, general.alignment)   data section
//
// Every count and length is bounded by the bytes left in the file before anything is
// allocated for it; every error names the key or tensor and the byte offset.
#include <algorithm>
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/gguf/byte_reader.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/string_compat.h"

namespace hearth::engine {
namespace {

using gguf_internal::ByteReader;
using gguf_internal::ToAbsl;

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 16;
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;            // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim

bool IsValueType(uint32_t raw) { return raw <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Smallest on-disk size of one value of `type` (bounds array counts).
uint64_t MinValueBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString:
      return 8;
    case GgufValueType::kArray:
      return 12;
  }
  return 1;
}

// A name from the file, made safe and short for an error message.
std::string Quote(std::string_view name) {
  constexpr size_t kMax = 80;
  return absl::StrCat("'", absl::CEscape(ToAbsl(name.substr(0, kMax))),
                      name.size() > kMax ? "...'" : "'");
}

}  // namespace

class GgufFile::Parser {
 public:
  explicit Parser(GgufFile& file) : file_(file), r_(file.base_, file.size_) {}

  absl::Status Parse() {
    uint64_t n_tensors = 0, n_kv = 0;
    RETURN_IF_ERROR(ParseHeader(&n_tensors, &n_kv));
    RETURN_IF_ERROR(ParseMetadata(n_kv));
    RETURN_IF_ERROR(ReadAlignment());
    RETURN_IF_ERROR(ParseTensorInfos(n_tensors));
    return PlaceTensors();
  }

 private:
  absl::Status Truncated(std::string_view what, uint64_t need) const {
    return absl::DataLossError(
        absl::StrFormat("gguf: %s: file truncated: need %d bytes at offset %d, file size %d", what,
                        need, r_.offset(), r_.size()));
  }

  template <typename T>
  absl::Status Read(std::string_view what, T* out) {
    if (!r_.Read(out)) return Truncated(what, sizeof(T));
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string_view what, std::string_view* out) {
    uint64_t length = 0;
    const size_t at = r_.offset();
    RETURN_IF_ERROR(Read(absl::StrCat(ToAbsl(what), " (string length)"), &length));
    if (!r_.ReadBytes(length, out)) {
      return absl::DataLossError(absl::StrFormat(
          "gguf: %s: string length %d at offset %d runs past end of file (%d bytes left, size %d)",
          what, length, at, r_.remaining(), r_.size()));
    }
    return absl::OkStatus();
  }

  absl::Status ParseHeader(uint64_t* n_tensors, uint64_t* n_kv) {
    uint32_t magic = 0, version = 0;
    RETURN_IF_ERROR(Read("header magic", &magic));
    if (magic != kMagic) {
      return absl::InvalidArgumentError(
          absl::StrFormat("gguf: bad magic 0x%08x at offset 0 (expected \"GGUF\")", magic));
    }
    RETURN_IF_ERROR(Read("header version", &version));
    if (version != 2 && version != 3) {
      const bool swapped = version == 0x02000000u || version == 0x03000000u;
      return absl::InvalidArgumentError(absl::StrFormat(
          "gguf: unsupported version %d at offset 4 (supported: 2, 3)%s", version,
          swapped ? "; this looks like a big-endian file, which is not supported" : ""));
    }
    file_.version_ = version;
    RETURN_IF_ERROR(Read("header tensor count", n_tensors));
    RETURN_IF_ERROR(Read("header key-value count", n_kv));
    if (*n_kv > r_.remaining() / kMinKeyValueBytes) {
      return absl::DataLossError(absl::StrFormat(
          "gguf: key-value count %d at offset 16 cannot fit in the %d bytes left in the file",
          *n_kv, r_.remaining()));
    }
    if (*n_tensors > (r_.remaining() - *n_kv * kMinKeyValueBytes) / kMinTensorInfoBytes) {
      return absl::DataLossError(absl::StrFormat(
          "gguf: tensor count %d at offset 8 cannot fit in the %d bytes left in the file",
          *n_tensors, r_.remaining()));
    }
    return absl::OkStatus();
  }

  absl::Status ParseMetadata(uint64_t n_kv) {
    file_.metadata_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      const size_t at = r_.offset();
      std::string_view key;
      RETURN_IF_ERROR(ReadString(absl::StrCat("key of metadata entry ", i), &key));
      const std::string ctx = absl::StrCat("key ", Quote(key), " at offset ", at);
      if (file_.metadata_index_.contains(ToAbsl(key))) {
        return absl::InvalidArgumentError(
            absl::StrCat("gguf: duplicate key ", Quote(key), " at offset ", at));
      }
      uint32_t raw_type = 0;
      RETURN_IF_ERROR(Read(ctx, &raw_type));
      if (!IsValueType(raw_type)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "gguf: %s: unknown value type %d at offset %d", ctx, raw_type, r_.offset() - 4));
      }
      GgufValue value;
      RETURN_IF_ERROR(ParseValue(static_cast<GgufValueType>(raw_type), ctx, 0, &value));
      file_.metadata_index_.emplace(std::string(key), file_.metadata_.size());
      file_.metadata_.emplace_back(std::string(key), std::move(value));
    }
    return absl::OkStatus();
  }

  template <typename Disk, typename Wide>
  absl::Status ReadNumber(const std::string& ctx, GgufValue* out) {
    Disk v{};
    RETURN_IF_ERROR(Read(ctx, &v));
    out->value = static_cast<Wide>(v);
    return absl::OkStatus();
  }

  absl::Status ParseValue(GgufValueType type, const std::string& ctx, int depth, GgufValue* out) {
    out->type = type;
    switch (type) {
      case GgufValueType::kUint8:
        return ReadNumber<uint8_t, uint64_t>(ctx, out);
      case GgufValueType::kInt8:
        return ReadNumber<int8_t, int64_t>(ctx, out);
      case GgufValueType::kUint16:
        return ReadNumber<uint16_t, uint64_t>(ctx, out);
      case GgufValueType::kInt16:
        return ReadNumber<int16_t, int64_t>(ctx, out);
      case GgufValueType::kUint32:
        return ReadNumber<uint32_t, uint64_t>(ctx, out);
      case GgufValueType::kInt32:
        return ReadNumber<int32_t, int64_t>(ctx, out);
      case GgufValueType::kUint64:
        return ReadNumber<uint64_t, uint64_t>(ctx, out);
      case GgufValueType::kInt64:
        return ReadNumber<int64_t, int64_t>(ctx, out);
      case GgufValueType::kFloat32:
        return ReadNumber<float, double>(ctx, out);
      case GgufValueType::kFloat64:
        return ReadNumber<double, double>(ctx, out);
      case GgufValueType::kBool: {
        uint8_t b = 0;
        RETURN_IF_ERROR(Read(ctx, &b));
        out->value = b != 0;
        return absl::OkStatus();
      }
      case GgufValueType::kString: {
        std::string_view s;
        RETURN_IF_ERROR(ReadString(ctx, &s));
        out->value = std::string(s);
        return absl::OkStatus();
      }
      case GgufValueType::kArray:
        return ParseArray(ctx, depth, out);
    }
    return absl::InternalError("gguf: unreachable value type");
  }

  absl::Status ParseArray(const std::string& ctx, int depth, GgufValue* out) {
    const size_t at = r_.offset();
    if (depth >= kMaxArrayDepth) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "gguf: %s: arrays nested deeper than %d at offset %d", ctx, kMaxArrayDepth, at));
    }
    uint32_t raw_type = 0;
    uint64_t count = 0;
    RETURN_IF_ERROR(Read(ctx, &raw_type));
    if (!IsValueType(raw_type)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "gguf: %s: unknown value type %d for array elements at offset %d", ctx, raw_type, at));
    }
    RETURN_IF_ERROR(Read(ctx, &count));
    const auto element_type = static_cast<GgufValueType>(raw_type);
    if (count > r_.remaining() / MinValueBytes(element_type)) {
      return absl::DataLossError(absl::StrFormat(
          "gguf: %s: array length %d of %s at offset %d runs past end of file (%d bytes left)", ctx,
          count, GgufValueTypeName(element_type), at + 4, r_.remaining()));
    }
    GgufArray array;
    array.element_type = element_type;
    array.elements.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      absl::Status status = ParseValue(element_type, ctx, depth + 1, &array.elements[i]);
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(status.message(), " (array element ", i,
                                                        " of ", count, ")"));
      }
    }
    out->value = std::move(array);
    return absl::OkStatus();
  }

  absl::Status ReadAlignment() {
    const GgufValue* value = file_.Find("general.alignment");
    if (value == nullptr) return absl::OkStatus();
    absl::StatusOr<uint64_t> alignment = ValueAsUint(*value);
    if (!alignment.ok() || *alignment == 0 || (*alignment & (*alignment - 1)) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("gguf: key 'general.alignment' holds ",
                                                     DescribeValue(*value),
                                                     "; it must be a power of two"));
    }
    file_.alignment_ = *alignment;
    return absl::OkStatus();
  }

  absl::Status ParseTensorInfos(uint64_t n_tensors) {
    file_.tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      const size_t at = r_.offset();
      std::string_view name;
      RETURN_IF_ERROR(ReadString(absl::StrCat("name of tensor info ", i), &name));
      const std::string ctx = absl::StrCat("tensor ", Quote(name), " at offset ", at);
      if (file_.tensor_index_.contains(ToAbsl(name))) {
        return absl::InvalidArgumentError(
            absl::StrCat("gguf: duplicate tensor name ", Quote(name), " at offset ", at));
      }
      GgufTensor t;
      t.name = std::string(name);
      uint32_t n_dims = 0;
      RETURN_IF_ERROR(Read(ctx, &n_dims));
      if (n_dims == 0 || n_dims > kMaxDims) {
        return absl::InvalidArgumentError(
            absl::StrFormat("gguf: %s: n_dims %d is outside [1, %d]", ctx, n_dims, kMaxDims));
      }
      int64_t num_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim = 0;
        RETURN_IF_ERROR(Read(ctx, &dim));
        if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return absl::InvalidArgumentError(
              absl::StrFormat("gguf: %s: dimension %d is %d, must be in [1, 2^63)", ctx, d, dim));
        }
        if (__builtin_mul_overflow(num_elements, static_cast<int64_t>(dim), &num_elements)) {
          return absl::InvalidArgumentError(
              absl::StrFormat("gguf: %s: element count overflows int64 at dimension %d", ctx, d));
        }
        t.shape.push_back(static_cast<int64_t>(dim));
      }
      uint32_t raw_type = 0;
      RETURN_IF_ERROR(Read(ctx, &raw_type));
      t.traits = FindTypeTraits(raw_type);
      if (t.traits == nullptr) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "gguf: %s: unknown tensor type %d at offset %d", ctx, raw_type, r_.offset() - 4));
      }
      t.type = t.traits->type;
      RETURN_IF_ERROR(Read(ctx, &t.offset));
      if (t.shape[0] % t.traits->block_size != 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "gguf: %s: row of %d elements is not a multiple of the %s block size %d", ctx,
            t.shape[0], t.traits->name, t.traits->block_size));
      }
      int64_t num_bytes = 0;
      if (__builtin_mul_overflow(num_elements / t.traits->block_size, t.traits->type_size,
                                 &num_bytes)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("gguf: %s: byte size overflows int64", ctx));
      }
      t.num_elements = num_elements;
      t.num_bytes = static_cast<uint64_t>(num_bytes);
      file_.tensor_index_.emplace(t.name, file_.tensors_.size());
      file_.tensors_.push_back(std::move(t));
    }
    return absl::OkStatus();
  }

  absl::Status PlaceTensors() {
    const uint64_t alignment = file_.alignment_;
    const uint64_t end_of_infos = r_.offset();
    const uint64_t size = r_.size();
    const uint64_t data_start = (end_of_infos + alignment - 1) / alignment * alignment;
    if (data_start < end_of_infos) {  // wrapped: alignment beyond 2^63
      return absl::InvalidArgumentError(absl::StrFormat(
          "gguf: key 'general.alignment' %d puts the data section past 2^64", alignment));
    }
    file_.data_offset_ = data_start;
    if (file_.tensors_.empty()) return absl::OkStatus();
    if (data_start > size) {
      return absl::DataLossError(absl::StrFormat(
          "gguf: data section starts at offset %d (tensor infos end at %d, alignment %d), past "
          "end of file (size %d)",
          data_start, end_of_infos, alignment, size));
    }
    const uint64_t data_size = size - data_start;
    for (GgufTensor& t : file_.tensors_) {
      if (t.offset % alignment != 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("gguf: tensor %s data offset %d is not aligned to %d", Quote(t.name),
                            t.offset, alignment));
      }
      if (t.offset > data_size || t.num_bytes > data_size - t.offset) {
        return absl::DataLossError(absl::StrFormat(
            "gguf: tensor %s data [offset %d, %d bytes] runs past end of file (size %d)",
            Quote(t.name), t.offset > data_size ? t.offset : data_start + t.offset, t.num_bytes,
            size));
      }
      t.data = file_.base_ + data_start + t.offset;
    }
    return CheckNoOverlap();
  }

  absl::Status CheckNoOverlap() const {
    const auto& tensors = file_.tensors_;
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const GgufTensor& prev = tensors[order[i - 1]];
      const GgufTensor& cur = tensors[order[i]];
      if (cur.offset < prev.offset + prev.num_bytes) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "gguf: tensor %s data [data offset %d] overlaps tensor %s [data offset %d, %d bytes]",
            Quote(cur.name), cur.offset, Quote(prev.name), prev.offset, prev.num_bytes));
      }
    }
    return absl::OkStatus();
  }

  GgufFile& file_;
  ByteReader r_;
};

absl::Status GgufFile::Parse() { return Parser(*this).Parse(); }

}  // namespace hearth::engine
