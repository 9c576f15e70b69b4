// A CPU backend in one call, for tests and benches: CreateBackend with CPU stages.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/runtime/backend_factory.h"

namespace hearth::engine {

struct CpuBackendOptions {
  cpu::ActPrecision precision = cpu::ActPrecision::kQ8;
  std::optional<KvDtype> kv_dtype;  // unset: f32 under f32 precision, else f16
  // A split over CPU stages ("cpu:0-14,cpu:15-29"); empty: one stage.
  std::string devices;
};

absl::StatusOr<std::unique_ptr<SplitBackend>> MakeCpuBackend(const LoadedModel& model, int threads,
                                                             const CpuBackendOptions& options = {});

// The K/V element type of a CPU backend's first stage.
KvDtype CpuKvDtype(const SplitBackend& backend);

}  // namespace hearth::engine
