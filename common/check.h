// HEARTH_CHECK: aborts on a programmer error (a broken invariant), never on a bad request, bad
// input or memory pressure: those are values (std::optional / absl::Status). Abseil 20220623
// has no absl/log, so the project carries its own two-line check, once, here.
#pragma once

#include <cstdio>
#include <cstdlib>

#define HEARTH_CHECK(cond)                                                                 \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: HEARTH_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
