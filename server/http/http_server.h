// HttpServer: the HTTP/1.1 listener of the OpenAI / Ollama APIs and of the metrics port, on
// Boost.Beast over Asio (Debian's libboost1.74-dev).
//
// Why this shape: every connection is a small state machine on an event loop (a strand of one
// io_context run by `num_threads` threads), so 256 streaming connections cost 256 sockets and a
// few KB each, not 256 threads, and a client that sends its request one byte at a time holds
// only its own connection. Per connection:
//
//   [TLS handshake] ─▶ read head (max_header_bytes, within header_timeout; 431 / close)
//        ▲               └▶ read body (max_body_bytes, within body_timeout; 413 / close)
//        │                    └▶ handler(request) ─▶ HttpResponse: write it (write_timeout)
//        │                                        └▶ ResponseStream: pull / write as it wakes,
//        │                                           a read watches for the client leaving
//        └───────────── keep-alive (the next head within header_timeout) ◀──┘
//
// A stream is cancelled (ResponseStream::Cancel) when its client disconnects (the watch read
// fails or a write fails), when request_timeout passes, or when the server stops. Connections
// beyond max_connections get a canned 503 and are closed at once.
//
// Thread-safety: Start / port / connections / Stop from any thread. The handler runs on the
// server's threads (many at once for different connections).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/http/http_message.h"
#include "server/security/tls_files.h"

namespace hearth::server::http {

struct HttpServerOptions {
  std::string name = "http";  // for messages ("http", "metrics")
  std::string address = "0.0.0.0";
  int port = 8000;  // 0: any free port
  int max_connections = 1024;
  size_t max_header_bytes = 16 << 10;
  size_t max_body_bytes = 8 << 20;
  absl::Duration header_timeout = absl::Seconds(10);  // also the keep-alive idle time
  absl::Duration body_timeout = absl::Seconds(60);
  absl::Duration write_timeout = absl::Seconds(60);       // one write blocked this long: close
  absl::Duration request_timeout = absl::ZeroDuration();  // streams; zero: none
  int num_threads = 2;
  security::TlsFiles tls;  // TLS when tls.enabled(); mutual when tls.mutual()
  // The body of errors the server itself answers (malformed HTTP 400, 413, 431, 503 when full):
  // given the status, the request path (when known) and a message. Unset: plain text.
  std::function<HttpResponse(int status, const std::string& path, const std::string& message)>
      error_response;
};

class HttpServer {
 public:
  // Binds and starts serving. Unavailable naming address:port when it cannot be bound;
  // InvalidArgument when the TLS material is rejected.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options,
                                                           Handler handler);
  ~HttpServer();  // Stop()s.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  int connections() const;  // open connections now
  // Stops accepting, closes every connection (open streams are cancelled as disconnected) and
  // joins the threads. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server::http
