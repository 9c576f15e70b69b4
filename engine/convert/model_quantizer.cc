#include "engine/convert/model_quantizer.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/quant/quantize.h"

namespace hearth::engine::convert {
namespace {

bool IsFloat(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16;
}

// Converts rows [r0, r1) of `t` into `dst` (the whole tensor's output buffer).
void ConvertRows(const GgufTensor& t, GgmlType type, int64_t r0, int64_t r1, uint8_t* dst) {
  const int64_t cols = t.cols();
  const int64_t in_row = static_cast<int64_t>(t.row_bytes());
  const int64_t out_row = GetTypeTraits(type).RowBytes(cols);
  const QuantizeRowFn quantize = FindQuantizer(type);
  std::vector<float> row(cols);
  for (int64_t r = r0; r < r1; ++r) {
    t.traits->dequantize(t.data + r * in_row, row.data(), cols);
    quantize(row.data(), dst + r * out_row, cols);
  }
}

// Converts the whole tensor with up to `threads` threads (row ranges).
void ConvertTensor(const GgufTensor& t, GgmlType type, int threads, uint8_t* dst) {
  const int64_t rows = t.rows();
  // Small tensors are not worth a thread start (~20 us).
  const int64_t min_rows_per_thread =
      std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, t.cols()));
  const int64_t n = std::clamp<int64_t>(rows / min_rows_per_thread, 1, threads);
  if (n == 1) {
    ConvertRows(t, type, 0, rows, dst);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(n - 1);
  for (int64_t i = 1; i < n; ++i) {
    workers.emplace_back(ConvertRows, std::cref(t), type, rows * i / n, rows * (i + 1) / n, dst);
  }
  ConvertRows(t, type, 0, rows / n, dst);
  for (std::thread& w : workers) w.join();
}

}  // namespace

absl::StatusOr<QuantizeStats> QuantizeModel(
    const GgufFile& source, const std::vector<TensorPlan>& plan, GgmlType target,
    const std::string& out_path, int threads,
    const std::function<void(const QuantizeProgress&)>& on_progress) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!source.path().empty() && std::filesystem::equivalent(source.path(), out_path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the output ", out_path, " is the input file; choose another path"));
  }
  if (plan.size() != source.tensors().size()) {
    return absl::InvalidArgumentError("the plan does not match the source's tensors");
  }
  GgufWriter writer;
  writer.CopyMetadata(source);
  writer.SetUint32("general.file_type", FileTypeFor(target));
  if (!IsFloat(target)) writer.SetUint32("general.quantization_version", 2);
  QuantizeProgress progress;
  progress.tensors_total = static_cast<int64_t>(plan.size());
  for (const TensorPlan& p : plan) {
    RETURN_IF_ERROR(writer.AddTensor(p.source->name, p.type, p.source->shape));
    progress.elements_total += p.source->num_elements;
  }
  RETURN_IF_ERROR(writer.Begin(out_path));
  QuantizeStats stats;
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < plan.size(); ++i) {
    const TensorPlan& p = plan[i];
    const GgufTensor& t = *p.source;
    stats.input_bytes += t.num_bytes;
    const uint64_t out_bytes = writer.tensors()[i].num_bytes;
    stats.output_bytes += out_bytes;
    ++stats.tensors_by_type[std::string(GetTypeTraits(p.type).name)];
    if (p.copy()) {
      ++stats.tensors_copied;
      RETURN_IF_ERROR(writer.Write(t.data, t.num_bytes));
    } else {
      if (p.requantized()) ++stats.tensors_requantized;
      buffer.resize(out_bytes);
      ConvertTensor(t, p.type, std::max(1, threads), buffer.data());
      RETURN_IF_ERROR(writer.Write(buffer.data(), buffer.size()));
    }
    ++progress.tensors_done;
    progress.elements_done += t.num_elements;
    progress.current = &p;
    if (on_progress) on_progress(progress);
  }
  RETURN_IF_ERROR(writer.Finish());
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace hearth::engine::convert
