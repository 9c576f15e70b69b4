#include "engine/cuda/weight_store.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/cuda/dequantize.h"
#include "engine/cuda/matmul.h"

namespace hearth::engine::cuda {
namespace {

constexpr size_t kAlign = 256;
constexpr size_t kStagingBytes = size_t{32} << 20;  // per staging buffer (two)
constexpr int64_t kProgressAbove = int64_t{1} << 30;

size_t AlignUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

std::string TypeName(const GgufTensor& t) { return std::string(t.traits->name); }

absl::Status CheckDecodable(const GgufTensor& t, const char* what) {
  if (!CudaSupportsType(t.type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", t.name, "' has type ", TypeName(t), ", which the CUDA ", what,
        " kernels do not decode (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K)"));
  }
  const int64_t elems = CudaBlockElems(t.type);
  if (t.cols() % 32 != 0 || t.cols() % elems != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", t.name, "' has rows of ", t.cols(), " elements; the CUDA ", what,
                     " kernels need a multiple of 32 and of ", elems));
  }
  return absl::OkStatus();
}

double GiB(int64_t b) { return static_cast<double>(b) / (int64_t{1} << 30); }
double MiB(int64_t b) { return static_cast<double>(b) / (int64_t{1} << 20); }

}  // namespace

size_t CudaWeightStore::Place(const uint8_t* host, int64_t bytes) {
  auto it = placed_.find(host);
  if (it != placed_.end() && it->second.first == bytes) return it->second.second;
  const size_t offset = AlignUp(arena_bytes_);
  pieces_.push_back({host, bytes, offset});
  arena_bytes_ = offset + static_cast<size_t>(bytes) + kWeightPadBytes;
  placed_[host] = {bytes, offset};
  return offset;
}

absl::StatusOr<int32_t> CudaWeightStore::AddMatrix(absl::Span<const GgufTensor* const> parts) {
  if (parts.empty()) return absl::InvalidArgumentError("AddMatrix: no parts");
  StoredMatrix m;
  m.name = parts[0]->name;
  m.cols = parts[0]->cols();
  for (const GgufTensor* t : parts) {
    RETURN_IF_ERROR(CheckDecodable(*t, "matmul"));
    if (t->cols() != m.cols) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t->name, "' has ", t->cols(),
                                                     " columns, the other parts of '", m.name, "' ",
                                                     m.cols));
    }
  }
  const bool single = parts.size() == 1;
  for (const GgufTensor* t : parts) {
    const uint32_t type = static_cast<uint32_t>(t->type);
    const int64_t bytes = static_cast<int64_t>(t->num_bytes);
    if (!m.segments.empty() && m.segments.back().type == type) {
      // Appended right after the previous part: the segment's rows stay contiguous.
      MatrixSegment& seg = m.segments.back();
      pieces_.push_back({t->data, bytes, seg.offset + static_cast<size_t>(seg.bytes)});
      seg.rows += t->rows();
      seg.bytes += bytes;
      arena_bytes_ = seg.offset + static_cast<size_t>(seg.bytes) + kWeightPadBytes;
    } else {
      MatrixSegment seg;
      seg.type = type;
      seg.rows = t->rows();
      seg.cols = m.cols;
      seg.row_offset = m.rows;
      seg.bytes = bytes;
      if (single) {
        seg.offset = Place(t->data, bytes);
      } else {
        seg.offset = AlignUp(arena_bytes_);
        pieces_.push_back({t->data, bytes, seg.offset});
        arena_bytes_ = seg.offset + static_cast<size_t>(bytes) + kWeightPadBytes;
      }
      m.segments.push_back(seg);
    }
    m.rows += t->rows();
  }
  matrices_.push_back(std::move(m));
  entries_.push_back({Kind::kMatrix, static_cast<int32_t>(matrices_.size() - 1)});
  return static_cast<int32_t>(entries_.size() - 1);
}

absl::StatusOr<int32_t> CudaWeightStore::AddEmbedding(const GgufTensor& table) {
  RETURN_IF_ERROR(CheckDecodable(table, "embedding"));
  StoredEmbedding e;
  e.type = static_cast<uint32_t>(table.type);
  e.vocab = table.rows();
  e.dim = table.cols();
  e.row_bytes = table.traits->RowBytes(table.cols());
  e.offset = Place(table.data, static_cast<int64_t>(table.num_bytes));
  embeddings_.push_back(e);
  entries_.push_back({Kind::kEmbedding, static_cast<int32_t>(embeddings_.size() - 1)});
  return static_cast<int32_t>(entries_.size() - 1);
}

absl::StatusOr<int32_t> CudaWeightStore::AddVector(absl::Span<const float> values) {
  vector_values_.emplace_back(values.begin(), values.end());
  StoredVector v;
  v.size = static_cast<int64_t>(values.size());
  const std::vector<float>& copy = vector_values_.back();
  v.offset = AlignUp(arena_bytes_);
  pieces_.push_back({reinterpret_cast<const uint8_t*>(copy.data()),
                     static_cast<int64_t>(copy.size() * sizeof(float)), v.offset});
  arena_bytes_ = v.offset + copy.size() * sizeof(float) + kWeightPadBytes;
  vectors_.push_back(v);
  entries_.push_back({Kind::kVector, static_cast<int32_t>(vectors_.size() - 1)});
  return static_cast<int32_t>(entries_.size() - 1);
}

absl::Status CudaWeightStore::Upload(int64_t free_bytes, bool progress) {
  const int64_t need = static_cast<int64_t>(arena_bytes_);
  if (need == 0) return absl::OkStatus();
  if (need > free_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: the stage's weights need %.1f MiB of device memory, %.1f MiB are free (%.1f MiB "
        "missing): put fewer layers on this GPU (gpu_layers, devices)",
        device_name_, MiB(need), MiB(free_bytes), MiB(need - free_bytes)));
  }
  ASSIGN_OR_RETURN(arena_, CudaBuffer::Allocate(static_cast<size_t>(need)));
  RETURN_IF_ERROR(CudaStatus(cudaMemset(arena_.data(), 0, arena_.size()), "cudaMemset weights"));

  // Two pinned staging buffers: the host fills one while the other's copy runs.
  cudaStream_t stream = nullptr;
  RETURN_IF_ERROR(
      CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  void* staging[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  auto cleanup = [&] {
    cudaStreamSynchronize(stream);
    for (int i = 0; i < 2; ++i) {
      if (staging[i] != nullptr) cudaFreeHost(staging[i]);
      if (done[i] != nullptr) cudaEventDestroy(done[i]);
    }
    cudaStreamDestroy(stream);
  };
  absl::Status s;
  for (int i = 0; i < 2 && s.ok(); ++i) {
    s = CudaStatus(cudaHostAlloc(&staging[i], kStagingBytes, cudaHostAllocDefault),
                   "cudaHostAlloc staging");
    if (s.ok())
      s = CudaStatus(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming), "cudaEventCreate");
  }
  const bool report = progress && need > kProgressAbove;
  int64_t copied = 0, next_report = int64_t{1} << 30;
  int buf = 0;
  uint8_t* dev = arena_.as<uint8_t>();
  for (const Piece& piece : pieces_) {
    for (int64_t off = 0; s.ok() && off < piece.bytes; off += kStagingBytes) {
      const size_t len = static_cast<size_t>(std::min<int64_t>(kStagingBytes, piece.bytes - off));
      s = CudaStatus(cudaEventSynchronize(done[buf]), "cudaEventSynchronize");
      if (!s.ok()) break;
      std::memcpy(staging[buf], piece.host + off, len);
      s = CudaStatus(cudaMemcpyAsync(dev + piece.offset + off, staging[buf], len,
                                     cudaMemcpyHostToDevice, stream),
                     "cudaMemcpyAsync weights");
      if (s.ok()) s = CudaStatus(cudaEventRecord(done[buf], stream), "cudaEventRecord");
      buf ^= 1;
      copied += static_cast<int64_t>(len);
      if (report && copied >= next_report) {
        std::fprintf(stderr, "hearth: %s: weights uploaded %.1f / %.1f GiB\n", device_name_.c_str(),
                     GiB(copied), GiB(need));
        next_report += int64_t{1} << 30;
      }
    }
    if (!s.ok()) break;
  }
  if (s.ok()) s = CudaStatus(cudaStreamSynchronize(stream), "cudaStreamSynchronize weights");
  cleanup();
  if (!s.ok()) {
    arena_ = CudaBuffer();
    return s;
  }
  if (report) {
    std::fprintf(stderr, "hearth: %s: weights resident, %.2f GiB\n", device_name_.c_str(),
                 GiB(need));
  }
  for (StoredMatrix& m : matrices_) {
    for (MatrixSegment& seg : m.segments) seg.data = dev + seg.offset;
  }
  for (StoredEmbedding& e : embeddings_) e.data = dev + e.offset;
  for (StoredVector& v : vectors_) v.data = reinterpret_cast<const float*>(dev + v.offset);
  vector_values_.clear();
  vector_values_.shrink_to_fit();
  pieces_.clear();
  return absl::OkStatus();
}

const StoredMatrix* CudaWeightStore::matrix(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(entries_.size()) || entries_[id].kind != Kind::kMatrix) {
    return nullptr;
  }
  return &matrices_[entries_[id].index];
}

const StoredEmbedding* CudaWeightStore::embedding(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(entries_.size()) ||
      entries_[id].kind != Kind::kEmbedding) {
    return nullptr;
  }
  return &embeddings_[entries_[id].index];
}

const StoredVector* CudaWeightStore::vector(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(entries_.size()) || entries_[id].kind != Kind::kVector) {
    return nullptr;
  }
  return &vectors_[entries_[id].index];
}

}  // namespace hearth::engine::cuda
