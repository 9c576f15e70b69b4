// The weights of one CUDA stage, uploaded once into one device allocation (the arena), still in
// their GGUF encoding.
//
//   Add* (load time) records what to upload and returns its id; nothing touches the GPU.
//   Upload() checks that the arena fits (ResourceExhausted naming the bytes missing), allocates
//   it and copies every tensor through two pinned staging buffers (double-buffered async
//   copies), printing progress on stderr for stages above 1 GiB.
//
// A matrix made of stacked parts (Q|K|V, gate|up) becomes one or more segments: consecutive parts
// of one type and width share a segment (one kernel launch); parts of another type (a Q4_K_M
// file's Q6_K attn_v, say) get their own, writing their rows at an offset of the output row.
// A tensor added twice (a tied embedding and LM head) is uploaded once.
//
// Thread-safety: not thread-safe. Ownership: borrows the host tensors (the mapped GGUF), which
// must outlive Upload(); owns the device arena.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/cuda/cuda_buffer.h"
#include "engine/gguf/gguf_file.h"

namespace hearth::engine::cuda {

struct MatrixSegment {
  uint32_t type = 0;  // GGUF type number
  int64_t rows = 0;   // rows of this segment
  int64_t cols = 0;
  int64_t row_offset = 0;         // first output row of the segment in the matrix
  const uint8_t* data = nullptr;  // device, after Upload()
  int64_t bytes = 0;
  size_t offset = 0;  // in the arena
};

struct StoredMatrix {
  std::string name;  // first part's tensor name
  int64_t rows = 0;  // all parts
  int64_t cols = 0;
  std::vector<MatrixSegment> segments;
};

struct StoredEmbedding {
  uint32_t type = 0;
  int64_t vocab = 0;
  int64_t dim = 0;
  int64_t row_bytes = 0;
  const uint8_t* data = nullptr;  // device, after Upload()
  size_t offset = 0;
};

struct StoredVector {
  int64_t size = 0;
  const float* data = nullptr;  // device, after Upload()
  size_t offset = 0;
};

class CudaWeightStore {
 public:
  explicit CudaWeightStore(std::string device_name) : device_name_(std::move(device_name)) {}

  // InvalidArgument naming the tensor for a type the CUDA kernels do not decode or a shape they
  // cannot take (cols % 32 != 0, parts of different widths).
  absl::StatusOr<int32_t> AddMatrix(absl::Span<const GgufTensor* const> parts);
  absl::StatusOr<int32_t> AddEmbedding(const GgufTensor& table);
  absl::StatusOr<int32_t> AddVector(absl::Span<const float> values);

  // Bytes the arena will take (known before Upload).
  int64_t bytes() const { return static_cast<int64_t>(arena_bytes_); }

  // On the current device. `free_bytes`: what cudaMemGetInfo reports now.
  absl::Status Upload(int64_t free_bytes, bool progress);
  bool uploaded() const { return arena_.data() != nullptr || arena_bytes_ == 0; }

  // REQUIRES: the id was returned by the matching Add* call (checked: nullptr otherwise).
  const StoredMatrix* matrix(int32_t id) const;
  const StoredEmbedding* embedding(int32_t id) const;
  const StoredVector* vector(int32_t id) const;

 private:
  enum class Kind { kMatrix, kEmbedding, kVector };
  struct Entry {
    Kind kind;
    int32_t index;
  };
  // Host bytes to copy to arena offset `offset`.
  struct Piece {
    const uint8_t* host;
    int64_t bytes;
    size_t offset;
  };
  // Arena offset of `bytes` bytes from `host`, reusing an earlier copy of the same tensor data.
  size_t Place(const uint8_t* host, int64_t bytes);

  std::string device_name_;
  std::vector<Entry> entries_;
  std::vector<StoredMatrix> matrices_;
  std::vector<StoredEmbedding> embeddings_;
  std::vector<StoredVector> vectors_;
  std::vector<std::vector<float>> vector_values_;  // host copies until Upload
  std::vector<Piece> pieces_;
  std::map<const uint8_t*, std::pair<int64_t, size_t>> placed_;  // host data -> (bytes, offset)
  size_t arena_bytes_ = 0;
  CudaBuffer arena_;
};

}  // namespace hearth::engine::cuda
