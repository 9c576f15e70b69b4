// MatMul: quantize x once, then split rows of W across threads; each thread walks its rows
// against chunks of x through the active kernel table.
#include "engine/cpu/kernels/matmul.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__x86_64__) && defined(__clang__)
#include <cpuid.h>
#endif

#include "absl/strings/str_cat.h"
#include "engine/cpu/kernels/kernels.h"
#include "engine/cpu/kernels/strips.h"

namespace hearth::engine::cpu {
namespace {

using kern::ActFormat;

// Rows of x handled per kernel call: keeps the quantized x chunk in L1/L2 while a thread's
// weight rows stream past it.
constexpr int64_t kColChunk = 64;
// Rows of W per scheduling unit (a multiple of every kernel's row tile).
constexpr int64_t kRowGroup = 4;
// Below this many x rows, quantize on the calling thread (a wake-up costs more).
constexpr int64_t kParallelQuantizeMinRows = 8;

const kern::KernelTable& TableFor(CpuKernelPath path) {
  switch (path) {
    case CpuKernelPath::kAvx512:
      return kern::Avx512Kernels();
    case CpuKernelPath::kAvxVnni:
      return kern::AvxVnniKernels();
    case CpuKernelPath::kAvx2:
      return kern::Avx2Kernels();
    case CpuKernelPath::kScalar:
      break;
  }
  return kern::ScalarKernels();
}

const kern::KernelTable& F32ActTableFor(CpuKernelPath path) {
  return path == CpuKernelPath::kScalar ? kern::ScalarF32ActKernels() : kern::Avx2F32ActKernels();
}

#if defined(__x86_64__) && defined(__clang__)
// Clang 14 (the fuzz build's compiler) does not know "f16c" / "avxvnni" for
// __builtin_cpu_supports: read CPUID (leaf 1 ECX bit 29; leaf 7 subleaf 1 EAX bit 4).
bool HasF16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & (1u << 29)) != 0;
}
bool HasAvxVnni() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) != 0 && (a & (1u << 4)) != 0;
}
#elif defined(__x86_64__)
bool HasF16c() { return __builtin_cpu_supports("f16c"); }
bool HasAvxVnni() { return __builtin_cpu_supports("avxvnni"); }
#endif

bool CpuHas(const char* feature_set) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (std::string_view(feature_set) == "avx2") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && HasF16c();
  }
  if (std::string_view(feature_set) == "avxvnni") {
    return CpuHas("avx2") && HasAvxVnni();
  }
  if (std::string_view(feature_set) == "avx512") {
    return CpuHas("avx2") && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
  }
#else
  (void)feature_set;
#endif
  return false;
}

CpuKernelPath BestPath() {
  if (CpuHas("avx512")) return CpuKernelPath::kAvx512;
  if (CpuHas("avxvnni")) return CpuKernelPath::kAvxVnni;
  if (CpuHas("avx2")) return CpuKernelPath::kAvx2;
  return CpuKernelPath::kScalar;
}

CpuKernelPath ChoosePath() {
  const char* env = std::getenv("HEARTH_CPU_KERNELS");
  const std::string_view want = env ? env : "auto";
  for (CpuKernelPath p : {CpuKernelPath::kScalar, CpuKernelPath::kAvx2, CpuKernelPath::kAvxVnni,
                          CpuKernelPath::kAvx512}) {
    if (want == CpuKernelPathName(p) && CpuKernelPathSupported(p)) return p;
  }
  return BestPath();
}

void QuantizeRows(ActFormat format, const float* x, int64_t n, int64_t cols, uint8_t* out,
                  ThreadPool* pool) {
  const int64_t row_bytes = kern::ActRowBytes(format, cols);
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (format == ActFormat::kQ8) {
        kern::QuantizeRowQ8(x + i * cols, cols,
                            reinterpret_cast<kern::ActQ8*>(out + i * row_bytes));
      } else {
        kern::QuantizeRowQ8K(x + i * cols, cols,
                             reinterpret_cast<kern::ActQ8K*>(out + i * row_bytes));
      }
    }
  };
  if (pool != nullptr && n >= kParallelQuantizeMinRows) {
    pool->ParallelFor(n, run);
  } else {
    run(0, n);
  }
}

bool ReadsStrips(const kern::KernelTable& table, GgmlType type) {
  return table.strips && kern::IsStripType(type);
}

// y = W x over prepared activation rows `xa` (format matching w.type).
void Run(const kern::KernelTable& table, const WeightMatrix& w, const uint8_t* xa,
         int64_t x_row_bytes, int64_t n, float* y, ThreadPool* pool) {
  kern::RangeFn fn = kern::LookupKernel(table, w.type);
  if (fn == nullptr || n <= 0 || w.rows <= 0) return;
  kern::MatArgs args;
  args.w = static_cast<const uint8_t*>(w.data);
  args.w_row_bytes = w.row_bytes;
  args.cols = w.cols;
  args.x = xa;
  args.x_row_bytes = x_row_bytes;
  args.y = y;
  args.y_stride = w.rows;
  int64_t row_group = kRowGroup;
  PackedWeights temporary;
  if (ReadsStrips(table, w.type)) {
    if (w.strips == nullptr) {
      temporary.Add(w);
      if (!temporary.Pack(pool, /*any_path=*/true).ok()) throw std::bad_alloc();
    }
    args.w = w.strips != nullptr ? w.strips : temporary.matrix(0).strips;
    args.w_strip_bytes = kern::StripBytes(w.type, w.cols);
    row_group = kern::kStripRows;
  }
  const int64_t groups = (w.rows + row_group - 1) / row_group;
  auto body = [&](int64_t g0, int64_t g1) {
    const int64_t r0 = g0 * row_group;
    const int64_t r1 = std::min(w.rows, g1 * row_group);
    for (int64_t c0 = 0; c0 < n; c0 += kColChunk) fn(args, r0, r1, c0, std::min(n, c0 + kColChunk));
  };
  if (pool != nullptr && groups > 1) {
    pool->ParallelFor(groups, body);
  } else {
    body(0, groups);
  }
}

void MatMulImpl(CpuKernelPath path, const WeightMatrix& w, QuantizedActivations& x, float* y,
                ThreadPool* pool) {
  const kern::KernelTable& table = TableFor(path);
  const ActFormat format = kern::ActFormatFor(w.type);
  if (x.precision() == ActPrecision::kF32 && format != ActFormat::kFloat) {
    Run(F32ActTableFor(path), w, reinterpret_cast<const uint8_t*>(x.x()), x.cols() * sizeof(float),
        x.n(), y, pool);
    return;
  }
  switch (format) {
    case ActFormat::kFloat:
      Run(table, w, reinterpret_cast<const uint8_t*>(x.x()), x.cols() * sizeof(float), x.n(), y,
          pool);
      return;
    case ActFormat::kQ8:
      Run(table, w, x.Q8Rows(pool), kern::ActRowBytes(ActFormat::kQ8, x.cols()), x.n(), y, pool);
      return;
    case ActFormat::kQ8K:
      Run(table, w, x.Q8KRows(pool), kern::ActRowBytes(ActFormat::kQ8K, x.cols()), x.n(), y, pool);
      return;
  }
}

}  // namespace

int PackedWeights::Add(const WeightMatrix& w) {
  matrices_.push_back(w);
  return static_cast<int>(matrices_.size()) - 1;
}

absl::Status PackedWeights::Pack(ThreadPool* pool, bool any_path) {
  const kern::KernelTable& table = TableFor(ActiveCpuKernelPath());
  auto wanted = [&](const WeightMatrix& w) {
    return w.rows > 0 && (any_path ? kern::IsStripType(w.type) : ReadsStrips(table, w.type));
  };
  std::vector<int64_t> offsets(matrices_.size(), -1);
  packed_bytes_ = 0;
  for (size_t i = 0; i < matrices_.size(); ++i) {
    const WeightMatrix& w = matrices_[i];
    if (!wanted(w)) continue;
    offsets[i] = packed_bytes_;
    packed_bytes_ += kern::StripCount(w.rows) * kern::StripBytes(w.type, w.cols);
  }
  if (packed_bytes_ == 0) return absl::OkStatus();
  data_ = TryAllocateAligned(packed_bytes_);
  if (data_ == nullptr) {
    const int64_t bytes = packed_bytes_;
    packed_bytes_ = 0;
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate ", bytes,
                     " bytes for the repacked weights (cpu_precision q8 keeps a "
                     "copy of the quantized matrices; f32 does not)"));
  }
  for (size_t i = 0; i < matrices_.size(); ++i) {
    if (offsets[i] < 0) continue;
    WeightMatrix& w = matrices_[i];
    uint8_t* out = data_.get() + offsets[i];
    auto pack = [&](int64_t s0, int64_t s1) {
      kern::PackStrips(w.type, static_cast<const uint8_t*>(w.data), w.row_bytes, w.rows, w.cols, s0,
                       s1, out);
    };
    const int64_t strips = kern::StripCount(w.rows);
    if (pool != nullptr) {
      pool->ParallelFor(strips, pack);
    } else {
      pack(0, strips);
    }
    w.strips = out;
  }
  return absl::OkStatus();
}

WeightMatrix ConcatenatedStrips(const std::vector<WeightMatrix>& parts) {
  if (parts.empty()) return WeightMatrix{};
  const WeightMatrix& first = parts.front();
  WeightMatrix all{first.type, nullptr, 0, first.cols, first.row_bytes};
  all.strips = first.strips;
  const uint8_t* next = first.strips;
  for (size_t i = 0; i < parts.size(); ++i) {
    const WeightMatrix& w = parts[i];
    const bool last = i + 1 == parts.size();
    if (w.strips == nullptr || w.strips != next || w.type != first.type || w.cols != first.cols ||
        (!last && w.rows % kern::kStripRows != 0)) {
      return WeightMatrix{};
    }
    next += kern::StripCount(w.rows) * kern::StripBytes(w.type, w.cols);
    all.rows += w.rows;
  }
  return all;
}

const uint8_t* QuantizedActivations::Q8Rows(ThreadPool* pool) {
  if (q8_ == nullptr && n_ > 0) {
    q8_.reset(new uint8_t[n_ * kern::ActRowBytes(ActFormat::kQ8, cols_)]);
    QuantizeRows(ActFormat::kQ8, x_, n_, cols_, q8_.get(), pool);
  }
  return q8_.get();
}

const uint8_t* QuantizedActivations::Q8KRows(ThreadPool* pool) {
  if (q8k_ == nullptr && n_ > 0) {
    q8k_.reset(new uint8_t[n_ * kern::ActRowBytes(ActFormat::kQ8K, cols_)]);
    QuantizeRows(ActFormat::kQ8K, x_, n_, cols_, q8k_.get(), pool);
  }
  return q8k_.get();
}

std::string_view CpuKernelPathName(CpuKernelPath path) {
  switch (path) {
    case CpuKernelPath::kScalar:
      return "scalar";
    case CpuKernelPath::kAvx2:
      return "avx2";
    case CpuKernelPath::kAvxVnni:
      return "avxvnni";
    case CpuKernelPath::kAvx512:
      return "avx512";
  }
  return "?";
}

bool CpuKernelPathSupported(CpuKernelPath path) {
  switch (path) {
    case CpuKernelPath::kScalar:
      return true;
    case CpuKernelPath::kAvx2:
      return CpuHas("avx2");
    case CpuKernelPath::kAvxVnni:
      return CpuHas("avxvnni");
    case CpuKernelPath::kAvx512:
      return CpuHas("avx512");
  }
  return false;
}

CpuKernelPath ActiveCpuKernelPath() {
  static const CpuKernelPath path = ChoosePath();
  return path;
}

bool MatMulSupports(GgmlType type) {
  return kern::LookupKernel(kern::ScalarKernels(), type) != nullptr;
}

void MatMulOnPath(CpuKernelPath path, const WeightMatrix& w, const float* x, int64_t n, float* y,
                  ThreadPool* pool, ActPrecision precision) {
  QuantizedActivations xq(x, n, w.cols, precision);
  MatMulImpl(path, w, xq, y, pool);
}

void MatMul(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool,
            ActPrecision precision) {
  MatMulOnPath(ActiveCpuKernelPath(), w, x, n, y, pool, precision);
}

void MatMul(const WeightMatrix& w, QuantizedActivations& x, float* y, ThreadPool* pool) {
  MatMulImpl(ActiveCpuKernelPath(), w, x, y, pool);
}

void MatMulReference(const WeightMatrix& w, const float* x, int64_t n, float* y,
                     ActPrecision precision) {
  MatMulOnPath(CpuKernelPath::kScalar, w, x, n, y, nullptr, precision);
}

std::string_view ActPrecisionName(ActPrecision precision) {
  return precision == ActPrecision::kF32 ? "f32" : "q8";
}

std::optional<ActPrecision> ParseActPrecision(std::string_view name) {
  if (name == "q8") return ActPrecision::kQ8;
  if (name == "f32") return ActPrecision::kF32;
  return std::nullopt;
}

}  // namespace hearth::engine::cpu
