// API keys: the `api_keys` list and/or the `api_keys_file` (one key per line; blank lines and
// lines starting with '#' ignored), checked by every listener (gRPC `authorization` metadata,
// HTTP `Authorization: Bearer KEY`). Reload() rereads the file (on SIGHUP); when it fails the
// keys in force stay.
//
// Only SHA-256 digests of the keys are kept, and a presented key is compared with every one of
// them with CRYPTO_memcmp and no early exit, so the time taken says nothing about how much of a
// key matched (nor which key).
//
// Thread-safety: all methods are thread-safe (Reload takes a writer lock, checks a reader lock).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace hearth::server::security {

class ApiKeys {
 public:
  // InvalidArgument naming `api_keys_file` when the file cannot be read; naming `api_keys` for
  // an empty key or one with whitespace inside.
  static absl::StatusOr<std::unique_ptr<ApiKeys>> Create(std::vector<std::string> keys,
                                                         std::string file);

  // True when keys are required: a list was given or a file is configured (an empty file then
  // refuses every call: failing closed).
  bool required() const { return required_; }
  // Number of keys in force.
  int size() const;
  // Rereads the file (no-op without one). On error the keys in force stay.
  absl::Status Reload();

  // OK when keys are not required or `key` is one of them.
  bool Matches(absl::string_view key) const;
  // Checks an `Authorization` header / metadata value ("Bearer KEY", scheme case-insensitive).
  // Unauthenticated with a message saying what was wrong (missing, not Bearer, wrong key).
  absl::Status CheckAuthorization(absl::string_view header) const;

 private:
  using Digest = std::array<uint8_t, 32>;
  ApiKeys(std::vector<std::string> keys, std::string file)
      : inline_keys_(std::move(keys)),
        file_(std::move(file)),
        required_(!inline_keys_.empty() || !file_.empty()) {}
  static Digest Hash(absl::string_view key);

  const std::vector<std::string> inline_keys_;
  const std::string file_;
  const bool required_;
  mutable absl::Mutex mu_;
  std::vector<Digest> digests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::server::security
