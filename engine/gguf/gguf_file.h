// A GGUF (v2, v3) model file, memory-mapped and validated.
//
// Open() checks every count, size and offset against the file before using it; a truncated,
// corrupted or hostile file yields an absl::Status naming the key or tensor and the byte offset,
// never a crash or an allocation larger than the file could justify (parsed metadata takes at
// most a small constant times the file's size). Status codes:
//   NotFound          Open(): no such file (the message names the path)
//   DataLoss          the file is shorter than its contents claim: truncation, a string length,
//                     array or entry count, or tensor data range that runs past the end
//   InvalidArgument   a wrong value: magic, version (only 2 and 3; big-endian files are
//                     rejected), value or tensor type, n_dims outside [1, 4], a zero or
//                     overflowing dimension, a row not a multiple of the type's block size,
//                     general.alignment not a power of two, a misaligned or overlapping tensor
//                     offset, a duplicate key or tensor name, arrays nested deeper than 16
//
// Thread-safety: immutable after Open(); all const methods may be called concurrently.
// Tensor data pointers stay valid for the lifetime of the GgufFile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/gguf/gguf_value.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine {

// How Open() brings the file into memory.
//   kMmap  maps it read-only: cheap, shared with other processes, pages reclaimable. The file
//          must not change while the GgufFile lives: truncating it (or copying another file
//          over it in place) turns later reads of the lost pages into SIGBUS.
//   kCopy  reads it into anonymous memory: the file may be truncated, overwritten or deleted
//          afterwards; costs the file's size in unevictable memory and a read at open.
enum class GgufLoad { kMmap, kCopy };

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  const TypeTraits* traits = nullptr;  // never null after Open()
  // Dimensions, innermost first (GGUF's `ne`): a matrix of `rows` rows of `cols` elements
  // has shape {cols, rows}.
  std::vector<int64_t> shape;
  int64_t num_elements = 0;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t num_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping

  int64_t cols() const { return shape.empty() ? 1 : shape[0]; }
  int64_t rows() const { return shape.empty() ? 1 : num_elements / shape[0]; }
  uint64_t row_bytes() const { return rows() == 0 ? 0 : num_bytes / rows(); }
};

class GgufFile {
 public:
  // Maps (or reads, see GgufLoad) and parses the file at `path`. Anything but a regular file
  // (a directory, a FIFO, a device) is InvalidArgument, without blocking on it.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path,
                                                        GgufLoad load = GgufLoad::kMmap);
  // Parses an in-memory image (tests, fuzzing). The bytes are copied (to a 64-byte aligned
  // buffer, so tensor data is as aligned as in a mapping).
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::string_view bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // File offset of the data section (tensor offsets are relative to it); a multiple of
  // alignment().
  uint64_t data_offset() const { return data_offset_; }
  // The whole image (mapping or copy) and its size in bytes.
  const uint8_t* bytes() const { return base_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Metadata, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  // nullptr when absent.
  const GgufValue* Find(std::string_view key) const;

  // Typed getters. NotFound when absent; InvalidArgument naming the key when the stored type
  // does not convert (integers convert between widths when the value fits).
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;  // any numeric type
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  // Arrays: a pointer into the file's parsed metadata (valid as long as the GgufFile).
  absl::StatusOr<const GgufArray*> GetArray(std::string_view key) const;
  absl::StatusOr<std::vector<std::string>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetIntArray(std::string_view key) const;

  // Tensors, in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensor* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  class Parser;
  absl::Status Parse();  // fills the members below from base_/size_ (gguf_parser.cc)

  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  absl::flat_hash_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
  // Owning storage: a mapping of the file or of anonymous memory (base_, size_), or, for
  // FromBytes, a heap copy.
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::unique_ptr<uint8_t[]> owned_;
};

}  // namespace hearth::engine
