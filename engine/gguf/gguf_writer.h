// Writes GGUF v3 files: metadata of every value type, tensor infos, aligned tensor data.
//
//   GgufWriter w;
//   w.CopyMetadata(source);                         // or SetString / SetUint32 / Set ...
//   w.SetUint32("general.file_type", 15);
//   RETURN_IF_ERROR(w.AddTensor("blk.0.attn_q.weight", GgmlType::kQ4_K, {4096, 4096}));
//   RETURN_IF_ERROR(w.Begin("out.gguf"));           // header, metadata, tensor infos
//   RETURN_IF_ERROR(w.Write(bytes, n));             // tensor data in AddTensor order, any
//   ...                                             // chunking; padding is inserted
//   RETURN_IF_ERROR(w.Finish());                    // renames the temporary into place
//
// The layout is gguf-py's GGUFWriter's and llama.cpp's: tensor offsets relative to the data
// section, each aligned to general.alignment (32 unless the metadata sets it), the data section
// starting at an aligned file offset, every tensor (the last one too) padded with zeros to the
// alignment. Files are written to PATH.tmp and renamed on Finish(), so a reader never sees a
// half-written file at PATH; a writer destroyed before Finish() removes its temporary.
//
// Values are written with their GgufValue::type (integers narrowed back to their on-disk width:
// a value that does not fit is InvalidArgument naming the key, as is an array whose elements do
// not all have its element type).
//
// Thread-safety: not thread-safe; one writer per file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_value.h"
#include "engine/quant/ggml_type.h"

namespace hearth::engine {

// GgufValue constructors for the writer (and tests).
GgufValue MakeGgufUint(GgufValueType type, uint64_t v);  // kUint8 .. kUint64
GgufValue MakeGgufInt(GgufValueType type, int64_t v);    // kInt8 .. kInt64
GgufValue MakeGgufFloat32(float v);
GgufValue MakeGgufFloat64(double v);
GgufValue MakeGgufBool(bool v);
GgufValue MakeGgufString(std::string v);
GgufValue MakeGgufArray(GgufValueType element_type, std::vector<GgufValue> elements);
GgufValue MakeGgufStringArray(const std::vector<std::string>& v);
GgufValue MakeGgufFloat32Array(const std::vector<float>& v);
GgufValue MakeGgufInt32Array(const std::vector<int32_t>& v);

class GgufWriter {
 public:
  struct TensorInfo {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;  // innermost first, as GgufTensor::shape
    uint64_t offset = 0;         // from the start of the data section
    uint64_t num_bytes = 0;
  };

  GgufWriter() = default;
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata, kept in insertion order; setting an existing key replaces its value in place.
  // REQUIRES: before Begin().
  void Set(std::string_view key, GgufValue value);
  void SetString(std::string_view key, std::string v) { Set(key, MakeGgufString(std::move(v))); }
  void SetUint32(std::string_view key, uint32_t v) {
    Set(key, MakeGgufUint(GgufValueType::kUint32, v));
  }
  void SetInt32(std::string_view key, int32_t v) {
    Set(key, MakeGgufInt(GgufValueType::kInt32, v));
  }
  void SetFloat32(std::string_view key, float v) { Set(key, MakeGgufFloat32(v)); }
  void SetBool(std::string_view key, bool v) { Set(key, MakeGgufBool(v)); }
  // Removes `key`; false when absent.
  bool Remove(std::string_view key);
  // nullptr when absent.
  const GgufValue* Find(std::string_view key) const;
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  // Every metadata entry of `file`, in its order (general.alignment included).
  void CopyMetadata(const GgufFile& file);

  // Declares the next tensor. InvalidArgument for an empty or duplicate name, a name of 64
  // bytes or more (llama.cpp's limit), 0 or more than 4 dimensions, a dimension < 1, a first
  // dimension that is not a multiple of the type's block size, or a type without a known
  // layout. REQUIRES: before Begin().
  absl::Status AddTensor(std::string name, GgmlType type, std::vector<int64_t> shape);
  const std::vector<TensorInfo>& tensors() const { return tensors_; }

  // Opens PATH.tmp and writes the header, metadata and tensor infos (offsets computed with the
  // alignment in force now). Errors: InvalidArgument (a value that does not serialize, a bad
  // general.alignment), Internal / the errno for I/O.
  absl::Status Begin(const std::string& path);
  // Appends tensor data: the tensors' bytes, in AddTensor order, in chunks of any size.
  // InvalidArgument when more bytes arrive than the tensors hold.
  absl::Status Write(const void* data, size_t n);
  // REQUIRES: every tensor's bytes written (else FailedPrecondition). Pads, flushes, closes
  // and renames PATH.tmp to PATH.
  absl::Status Finish();

  // The header, metadata and tensor infos, padded to the data section (what Begin writes).
  absl::StatusOr<std::string> SerializeHeader() const;
  uint64_t alignment() const;
  // Total bytes of the data section (tensors and their padding).
  uint64_t data_bytes() const;

 private:
  absl::Status WriteRaw(const void* data, size_t n);
  absl::Status Fail(absl::Status status);  // closes and removes the temporary

  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<TensorInfo> tensors_;

  // Streaming state.
  std::FILE* out_ = nullptr;
  std::string path_;
  std::string tmp_path_;
  size_t tensor_index_ = 0;      // the tensor being written
  uint64_t tensor_written_ = 0;  // bytes of it written so far
};

}  // namespace hearth::engine
