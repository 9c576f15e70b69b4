// Status propagation helpers. Abseil 20220623 (Debian 12) ships no status macros, so the
// project defines them once, here.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HEARTH_STATUS_CONCAT_INNER(a, b) a##b
#define HEARTH_STATUS_CONCAT(a, b) HEARTH_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status hearth_status_ = (expr);          \
    if (!hearth_status_.ok()) return hearth_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr())`: unwraps the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  HEARTH_ASSIGN_OR_RETURN_IMPL(HEARTH_STATUS_CONCAT(hearth_statusor_, __LINE__), lhs, expr)

#define HEARTH_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
