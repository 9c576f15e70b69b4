#include "server/security/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace hearth::server::security {
namespace {

absl::Status CheckKey(const std::string& origin, absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(origin, ": empty key"));
  for (char c : key) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || absl::ascii_iscntrl(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": a key must not contain whitespace or control characters"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config key 'api_keys_file': cannot read ", path));
  }
  std::vector<std::string> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    RETURN_IF_ERROR(CheckKey(absl::StrCat("api_keys_file ", path, ":", line_number), line));
    keys.emplace_back(line);
  }
  return keys;
}

}  // namespace

ApiKeys::Digest ApiKeys::Hash(absl::string_view key) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  return d;
}

absl::StatusOr<std::unique_ptr<ApiKeys>> ApiKeys::Create(std::vector<std::string> keys,
                                                         std::string file) {
  for (size_t i = 0; i < keys.size(); ++i) {
    RETURN_IF_ERROR(CheckKey(absl::StrCat("config key 'api_keys' [", i, "]"), keys[i]));
  }
  std::unique_ptr<ApiKeys> out(new ApiKeys(std::move(keys), std::move(file)));
  RETURN_IF_ERROR(out->Reload());
  return out;
}

absl::Status ApiKeys::Reload() {
  std::vector<Digest> digests;
  for (const std::string& k : inline_keys_) digests.push_back(Hash(k));
  if (!file_.empty()) {
    ASSIGN_OR_RETURN(std::vector<std::string> from_file, ReadKeyFile(file_));
    for (const std::string& k : from_file) digests.push_back(Hash(k));
  }
  absl::MutexLock lock(&mu_);
  digests_ = std::move(digests);
  return absl::OkStatus();
}

int ApiKeys::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int>(digests_.size());
}

bool ApiKeys::Matches(absl::string_view key) const {
  if (!required_) return true;
  const Digest presented = Hash(key);
  int matches = 0;
  absl::ReaderMutexLock lock(&mu_);
  for (const Digest& d : digests_) {
    matches |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0;
  }
  return matches != 0;
}

absl::Status ApiKeys::CheckAuthorization(absl::string_view header) const {
  if (!required_) return absl::OkStatus();
  header = absl::StripAsciiWhitespace(header);
  if (header.empty()) {
    return absl::UnauthenticatedError("missing API key: send 'Authorization: Bearer KEY'");
  }
  if (header.size() < 7 || !absl::StartsWithIgnoreCase(header, "bearer ")) {
    return absl::UnauthenticatedError("the Authorization header must be 'Bearer KEY'");
  }
  if (!Matches(absl::StripAsciiWhitespace(header.substr(7)))) {
    return absl::UnauthenticatedError("invalid API key");
  }
  return absl::OkStatus();
}

}  // namespace hearth::server::security
