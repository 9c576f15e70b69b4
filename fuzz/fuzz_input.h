// Splitting a fuzzer's input into the pieces a target needs, without libFuzzer's
// FuzzedDataProvider (the GCC replay build must not need clang's headers).
//
//   FuzzInput in(data, size);
//   const uint8_t mode = in.Byte();            // 0 once the input is used up
//   std::string_view text = in.Rest();
//   for (std::string_view part : Split(text, '\x1e')) ...
//
// Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace hearth::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  // Up to n bytes.
  std::string_view Take(size_t n) {
    const std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  std::string_view Rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// `text` cut at every `separator` (kept out of the parts); at least one part.
inline std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == separator) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// Aborts with `what` when `ok` is false: a broken invariant is a finding like a crash.
void Check(bool ok, const char* what);

}  // namespace hearth::fuzz
