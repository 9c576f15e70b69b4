// Writes a quantized copy of a GGUF model: the source's metadata (general.file_type set for
// the target, general.quantization_version 2 for quantized targets, as llama.cpp does), every
// tensor in its planned type (quantize_plan.h), in the source's order.
//
//   ASSIGN_OR_RETURN(auto source, GgufFile::Open(in));
//   ASSIGN_OR_RETURN(auto plan, PlanQuantization(*source, options));
//   ASSIGN_OR_RETURN(auto stats, QuantizeModel(*source, plan, options.type, out, 8, on_progress));
//
// Each tensor is converted row by row (dequantize to float, quantize), its rows split across
// `threads` threads; a row's bytes depend only on that row, so the output is identical for
// any thread count. Memory: the source stays mapped; one converted tensor is held at a time.
// The output appears at `out_path` only when complete (GgufWriter's temporary + rename).
//
// Thread-safety: QuantizeModel may run concurrently on different outputs; the progress
// callback runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/convert/quantize_plan.h"
#include "engine/gguf/gguf_file.h"

namespace hearth::engine::convert {

struct QuantizeProgress {
  int64_t tensors_done = 0;
  int64_t tensors_total = 0;
  uint64_t elements_done = 0;  // of the tensors finished
  uint64_t elements_total = 0;
  const TensorPlan* current = nullptr;  // the tensor just finished
};

struct QuantizeStats {
  uint64_t input_bytes = 0;   // tensor data of the source
  uint64_t output_bytes = 0;  // tensor data written
  int64_t tensors_copied = 0;
  int64_t tensors_requantized = 0;                 // converted from a lossy source type
  std::map<std::string, int64_t> tensors_by_type;  // output type name -> count
  double seconds = 0;
};

// REQUIRES: `plan` from PlanQuantization(source, ...) (its pointers into `source`).
// Errors: from GgufWriter (I/O), InvalidArgument for a bad plan or out_path == source path.
absl::StatusOr<QuantizeStats> QuantizeModel(
    const GgufFile& source, const std::vector<TensorPlan>& plan, GgmlType target,
    const std::string& out_path, int threads,
    const std::function<void(const QuantizeProgress&)>& on_progress = nullptr);

}  // namespace hearth::engine::convert
