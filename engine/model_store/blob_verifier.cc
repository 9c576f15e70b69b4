#include "engine/model_store/blob_verifier.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hearth::engine::model_store {
namespace {

using Json = nlohmann::json;

struct FileId {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

absl::StatusOr<FileId> Stat(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    const std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
  }
  return FileId{static_cast<uint64_t>(st.st_size),
                static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

Json LoadCache(const std::string& cache_path) {
  std::ifstream in(cache_path);
  if (!in) return Json::object();
  std::stringstream s;
  s << in.rdbuf();
  Json j = Json::parse(s.str(), nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : Json::object();
}

bool CacheSays(const std::string& cache_path, const std::string& path, std::string_view sha256,
               const FileId& id) {
  const Json cache = LoadCache(cache_path);
  auto blobs = cache.find("blobs");
  if (blobs == cache.end() || !blobs->is_object()) return false;
  auto e = blobs->find(path);
  if (e == blobs->end() || !e->is_object()) return false;
  return e->value("sha256", "") == sha256 && e->value("size", uint64_t{0}) == id.size &&
         e->value("mtime_ns", int64_t{0}) == id.mtime_ns;
}

void Record(const std::string& cache_path, const std::string& path, std::string_view sha256,
            const FileId& id) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(cache_path).parent_path(), ec);
  Json cache = LoadCache(cache_path);
  cache["version"] = 1;
  cache["blobs"][path] = {
      {"sha256", std::string(sha256)}, {"size", id.size}, {"mtime_ns", id.mtime_ns}};
  const std::string tmp = absl::StrCat(cache_path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp);
    out << cache.dump(1);
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, cache_path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

absl::StatusOr<VerifyMode> ParseVerifyMode(std::string_view text) {
  if (text == "once") return VerifyMode::kOnce;
  if (text == "always") return VerifyMode::kAlways;
  if (text == "never") return VerifyMode::kNever;
  return absl::InvalidArgumentError(absl::StrCat(
      "blob verification must be once, always or never, got '", std::string(text), "'"));
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    const std::string msg = absl::StrCat(path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    std::fclose(f);
    return absl::InternalError("OpenSSL SHA-256 initialisation failed");
  }
  std::vector<unsigned char> buf(4 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  }
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) return absl::InternalError(absl::StrCat("reading ", path, " failed"));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

std::string DefaultVerifyCachePath() {
  const char* dir = std::getenv("HEARTH_CACHE_DIR");
  if (dir != nullptr && *dir != '\0') return absl::StrCat(dir, "/verified-blobs.json");
  dir = std::getenv("XDG_CACHE_HOME");
  if (dir != nullptr && *dir != '\0') return absl::StrCat(dir, "/hearth/verified-blobs.json");
  dir = std::getenv("HOME");
  if (dir != nullptr && *dir != '\0')
    return absl::StrCat(dir, "/.cache/hearth/verified-blobs.json");
  return "";
}

absl::StatusOr<VerifyResult> VerifyBlob(const std::string& path, std::string_view sha256,
                                        uint64_t expected_size, VerifyMode mode,
                                        const std::string& cache_path) {
  auto id = Stat(path);
  if (!id.ok()) return id.status();
  VerifyResult result;
  result.bytes = id->size;
  if (id->size != expected_size) {
    return absl::DataLossError(absl::StrCat(path, " is ", id->size, " bytes, the manifest says ",
                                            expected_size, " (truncated or replaced)"));
  }
  if (mode == VerifyMode::kNever) return result;
  if (mode == VerifyMode::kOnce && !cache_path.empty() &&
      CacheSays(cache_path, path, sha256, *id)) {
    return result;
  }
  const auto start = std::chrono::steady_clock::now();
  auto got = Sha256File(path);
  if (!got.ok()) return got.status();
  result.hashed = true;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (*got != sha256) {
    return absl::DataLossError(absl::StrCat(path, " has sha256 ", *got, ", not ",
                                            std::string(sha256),
                                            " as its name and the manifest say (corrupt or "
                                            "partial download: pull the model again)"));
  }
  if (!cache_path.empty()) Record(cache_path, path, sha256, *id);
  return result;
}

}  // namespace hearth::engine::model_store
