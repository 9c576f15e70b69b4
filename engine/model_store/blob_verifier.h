// Checks that a content-addressed blob (Ollama's blobs/sha256-<hex>) holds what its name says.
//
// Hashing costs a full read of the file: with OpenSSL's SHA-256 (SHA-NI on current x86) about
// 1.5-2 GB/s from the page cache, so ~3 s for a 4.7 GB 8B Q4_K_M blob, and disk speed when
// cold (~10 s at 500 MB/s). `once` (the default) therefore hashes a blob the first time and
// records (path, size, mtime, sha256) in a small cache file; later starts trust a blob whose
// size and mtime still match, at the cost of a stat(). `always` hashes every time; `never` only
// checks the size against the manifest.
//
// Cache file: $HEARTH_CACHE_DIR/verified-blobs.json, else $XDG_CACHE_HOME/hearth/..., else
// ~/.cache/hearth/... A cache that cannot be read or written is ignored (hashing then happens
// on every start), never an error.
//
// Thread-safety: functions are thread-safe; concurrent writers of one cache file may drop each
// other's new entries (atomic rename: never a torn file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hearth::engine::model_store {

enum class VerifyMode { kOnce, kAlways, kNever };

// "once", "always", "never"; InvalidArgument listing them.
absl::StatusOr<VerifyMode> ParseVerifyMode(std::string_view text);

// Lower-case hex SHA-256 of the file's bytes. NotFound / Internal with the path and errno.
absl::StatusOr<std::string> Sha256File(const std::string& path);

// The default cache file (see above); "" when no directory can be determined.
std::string DefaultVerifyCachePath();

struct VerifyResult {
  bool hashed = false;  // false: trusted from the cache, or mode never
  double seconds = 0;   // spent hashing
  uint64_t bytes = 0;   // file size
};

// Checks `path` against `sha256` (64 hex) and `expected_size` (the manifest's). Errors:
// NotFound (missing blob), DataLoss (size or sha256 mismatch; the message gives both values).
// `cache_path` "" disables the cache.
absl::StatusOr<VerifyResult> VerifyBlob(const std::string& path, std::string_view sha256,
                                        uint64_t expected_size, VerifyMode mode,
                                        const std::string& cache_path);

}  // namespace hearth::engine::model_store
