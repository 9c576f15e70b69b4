// KV_CHECK: aborts on a programmer error (a broken invariant inside kvcache/ or scheduler/),
// never on a bad request or on memory pressure: those are values (std::optional / Status).
// Abseil 20220623 has no absl/log, so this folder carries its own two-line check.
#pragma once

#include <cstdio>
#include <cstdlib>

#define KV_CHECK(cond)                                                                 \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: KV_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
