// TLS material for every listener (gRPC, HTTP API, metrics): the `tls.cert_file` chain, the
// `tls.key_file` private key and, for mutual TLS, the `tls.client_ca_file` that client
// certificates must chain to. Read and checked once at start (the key must match the
// certificate), so a bad file stops start-up with a message naming the key.
//
// Thread-safety: plain values.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace hearth::server::security {

struct TlsFiles {
  std::string cert_chain_pem;  // empty: TLS off
  std::string private_key_pem;
  std::string client_ca_pem;  // empty: client certificates not requested

  bool enabled() const { return !cert_chain_pem.empty(); }
  bool mutual() const { return !client_ca_pem.empty(); }
};

// All three paths empty: TLS off. InvalidArgument naming the key: only one of cert/key given,
// a client CA without a certificate, an unreadable file, PEM that does not parse, a key that
// does not match the certificate.
absl::StatusOr<TlsFiles> LoadTlsFiles(const std::string& cert_file, const std::string& key_file,
                                      const std::string& client_ca_file);

}  // namespace hearth::server::security
