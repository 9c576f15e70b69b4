#include "server/security/tls_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace hearth::server::security {
namespace {

absl::Status Bad(const char* key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("config key '", key, "': ", why));
}

absl::StatusOr<std::string> ReadFile(const char* key, const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad() || text.str().empty()) return Bad(key, absl::StrCat("cannot read ", path));
  return text.str();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> Bio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

absl::StatusOr<TlsFiles> LoadTlsFiles(const std::string& cert_file, const std::string& key_file,
                                      const std::string& client_ca_file) {
  TlsFiles out;
  if (cert_file.empty() && key_file.empty()) {
    if (!client_ca_file.empty()) {
      return Bad("tls.client_ca_file", "needs tls.cert_file and tls.key_file");
    }
    return out;
  }
  if (cert_file.empty()) return Bad("tls.cert_file", "must be set with tls.key_file");
  if (key_file.empty()) return Bad("tls.key_file", "must be set with tls.cert_file");
  ASSIGN_OR_RETURN(out.cert_chain_pem, ReadFile("tls.cert_file", cert_file));
  ASSIGN_OR_RETURN(out.private_key_pem, ReadFile("tls.key_file", key_file));
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(Bio(out.cert_chain_pem).get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return Bad("tls.cert_file", absl::StrCat(cert_file, " holds no PEM certificate"));
  }
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(Bio(out.private_key_pem).get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return Bad("tls.key_file",
               absl::StrCat(key_file, " holds no PEM private key (or it is encrypted)"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Bad("tls.key_file",
               absl::StrCat(key_file, " does not match the certificate in ", cert_file));
  }
  if (!client_ca_file.empty()) {
    ASSIGN_OR_RETURN(out.client_ca_pem, ReadFile("tls.client_ca_file", client_ca_file));
    std::unique_ptr<X509, X509Free> ca(
        PEM_read_bio_X509(Bio(out.client_ca_pem).get(), nullptr, nullptr, nullptr));
    if (ca == nullptr) {
      return Bad("tls.client_ca_file", absl::StrCat(client_ca_file, " holds no PEM certificate"));
    }
  }
  ERR_clear_error();
  return out;
}

}  // namespace hearth::server::security
