#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_input.h"

namespace hearth::fuzz {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

}  // namespace hearth::fuzz
