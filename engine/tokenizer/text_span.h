// A byte range [begin, end) of a string.
#pragma once

#include <cstddef>

namespace hearth::engine::tokenizer {

struct TextSpan {
  size_t begin = 0;
  size_t end = 0;
  bool operator==(const TextSpan&) const = default;
};

}  // namespace hearth::engine::tokenizer
