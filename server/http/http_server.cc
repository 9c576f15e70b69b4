#include "server/http/http_server.h"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace hearth::server::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using ErrorCode = beast::error_code;

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

const char* Reason(int status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status)).data();
}

// What every connection shares: options, handler, the count, and whether wakes may still post.
struct Hub {
  HttpServerOptions options;
  Handler handler;
  std::optional<ssl::context> tls;
  std::atomic<int> connections{0};
  absl::Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
};

HttpResponse ErrorReply(const Hub& hub, int status, const std::string& path,
                        const std::string& message) {
  if (hub.options.error_response) return hub.options.error_response(status, path, message);
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = message + "\n";
  return r;
}

// One connection. Stream: beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(std::shared_ptr<Hub> hub, Args&&... args)
      : hub_(std::move(hub)),
        stream_(std::forward<Args>(args)...),
        timer_(stream_.get_executor()),
        request_timer_(stream_.get_executor()) {
    ++hub_->connections;
  }
  ~Session() {
    if (live_stream_ != nullptr && !stream_done_) {
      live_stream_->Cancel(ResponseStream::CancelReason::kDisconnected);
    }
    --hub_->connections;
  }

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::OnStart, this->shared_from_this()));
  }

  // From any thread: the server stops.
  void Shutdown() {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using Self = Session<Stream>;

  tcp::socket& Socket() { return beast::get_lowest_layer(stream_).socket(); }

  void OnStart() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(Chrono(hub_->options.header_timeout));
      stream_.async_handshake(ssl::stream_base::server, buffer_.data(),
                              [self = this->shared_from_this()](ErrorCode ec, size_t used) {
                                if (ec) return self->Close();
                                self->buffer_.consume(used);
                                self->ReadHead();
                              });
    } else {
      ReadHead();
    }
  }

  void ReadHead() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(hub_->options.max_header_bytes));
    parser_->body_limit(hub_->options.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(Chrono(hub_->options.header_timeout));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Self::OnHead, this->shared_from_this()));
  }

  void OnHead(ErrorCode ec, size_t) {
    if (ec) return OnReadError(ec);
    beast::get_lowest_layer(stream_).expires_after(Chrono(hub_->options.body_timeout));
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Self::OnBody, this->shared_from_this()));
  }

  void OnReadError(ErrorCode ec) {
    std::string path;
    if (parser_.has_value() && parser_->is_header_done()) {
      path = std::string(parser_->get().target());
    }
    if (ec == bhttp::error::header_limit) {
      return WriteErrorAndClose(
          431, path,
          absl::StrCat("request headers larger than ", hub_->options.max_header_bytes, " bytes"));
    }
    if (ec == bhttp::error::body_limit) {
      return WriteErrorAndClose(
          413, path,
          absl::StrCat("request body larger than ", hub_->options.max_body_bytes, " bytes"));
    }
    const bool parse_error =
        ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
    if (!parse_error) return Close();  // the peer closed or stalled, or the socket failed
    WriteErrorAndClose(400, path, absl::StrCat("malformed HTTP request: ", ec.message()));
  }

  void OnBody(ErrorCode ec, size_t) {
    if (ec) return OnReadError(ec);
    bhttp::request<bhttp::string_body> msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    HttpRequest request;
    request.method = std::string(msg.method_string());
    SetTarget(std::string_view(msg.target().data(), msg.target().size()), &request);
    request.authorization = std::string(msg[bhttp::field::authorization]);
    request.content_type = std::string(msg[bhttp::field::content_type]);
    request.body = std::move(msg.body());
    Reply reply;
    try {
      reply = hub_->handler(request);
    } catch (const std::exception& e) {
      // Handlers return errors as values; an exception here is a bug, and must cost this
      // request only, not the process.
      reply = ErrorReply(*hub_, 500, request.path, absl::StrCat("internal error: ", e.what()));
    }
    if (auto* response = std::get_if<HttpResponse>(&reply)) {
      WriteResponse(std::move(*response), /*close_after=*/!keep_alive_);
    } else {
      StartStream(std::move(std::get<std::shared_ptr<ResponseStream>>(reply)));
    }
  }

  // ---- whole responses ----

  void WriteErrorAndClose(int status, const std::string& path, const std::string& message) {
    WriteResponse(ErrorReply(*hub_, status, path, message), /*close_after=*/true);
  }

  void WriteResponse(HttpResponse r, bool close_after) {
    close_after_ = close_after;
    response_.emplace(static_cast<bhttp::status>(r.status), 11);
    response_->set(bhttp::field::server, "hearth");
    response_->set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) response_->set(name, value);
    response_->keep_alive(!close_after);
    response_->body() = std::move(r.body);
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(Chrono(hub_->options.write_timeout));
    bhttp::async_write(stream_, *response_,
                       [self = this->shared_from_this()](ErrorCode ec, size_t) {
                         self->response_.reset();
                         if (ec) return self->Close();
                         if (self->close_after_) return self->LingerClose();
                         self->ReadHead();
                       });
  }

  // ---- streams ----

  void StartStream(std::shared_ptr<ResponseStream> stream) {
    live_stream_ = std::move(stream);
    stream_done_ = false;
    head_sent_ = false;
    beast::get_lowest_layer(stream_).expires_never();
    if (hub_->options.request_timeout > absl::ZeroDuration()) {
      request_timer_.expires_after(Chrono(hub_->options.request_timeout));
      request_timer_.async_wait([weak = this->weak_from_this()](ErrorCode ec) {
        if (ec) return;  // cancelled: the stream ended first
        if (auto self = weak.lock()) self->OnRequestTimeout();
      });
    }
    Watch();
    std::weak_ptr<Self> weak = this->weak_from_this();
    std::shared_ptr<Hub> hub = hub_;
    live_stream_->SetWake([weak, hub] {
      absl::MutexLock lock(&hub->mu);
      if (!hub->alive) return;
      if (auto self = weak.lock()) self->Wake();
    });
    Pump();
  }

  // Any thread. Coalesces wakes: at most one pump is posted at a time.
  void Wake() {
    if (wake_pending_.exchange(true)) return;
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->wake_pending_ = false;
      self->Pump();
    });
  }

  void OnRequestTimeout() {
    if (live_stream_ == nullptr || stream_done_ || closed_) return;
    live_stream_->Cancel(ResponseStream::CancelReason::kTimeout);
    Pump();
  }

  // A read while streaming: fails when the client goes away; data (a pipelined request, or
  // the next one once the stream is done) is kept for the parser.
  void Watch() {
    if (watching_) return;
    watching_ = true;
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](ErrorCode ec, size_t n) {
                              self->watching_ = false;
                              self->OnWatch(ec, n);
                            });
  }

  void OnWatch(ErrorCode ec, size_t n) {
    if (closed_) return;
    if (ec) {
      if (live_stream_ != nullptr && !stream_done_) {
        live_stream_->Cancel(ResponseStream::CancelReason::kDisconnected);
        stream_done_ = true;
      }
      return Close();
    }
    buffer_.commit(n);
    if (live_stream_ == nullptr) {
      // The stream ended while we were waiting: this is the next request.
      timer_.cancel();
      ReadHead();
    }
    // Else a pipelined request during the stream: parsed after it; no more watching (writes
    // still notice a client that leaves).
  }

  void Pump() {
    if (closed_ || writing_ || live_stream_ == nullptr) return;
    Pulled p = live_stream_->Pull();
    std::string& out = out_;
    out.clear();
    if (p.head.has_value() && !head_sent_) {
      head_sent_ = true;
      const ResponseHead& h = *p.head;
      chunked_ = h.chunked;
      if (!h.chunked) {
        // A late whole response (non-streaming generation): needs the whole body now.
        close_after_ = !keep_alive_;
        absl::StrAppend(&out, "HTTP/1.1 ", h.status, " ", Reason(h.status),
                        "\r\nServer: hearth\r\nContent-Type: ", h.content_type,
                        "\r\nContent-Length: ", p.body.size(),
                        close_after_ ? "\r\nConnection: close" : "", "\r\n\r\n", p.body);
      } else {
        close_after_ = !keep_alive_;
        absl::StrAppend(&out, "HTTP/1.1 ", h.status, " ", Reason(h.status),
                        "\r\nServer: hearth\r\nContent-Type: ", h.content_type,
                        "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked",
                        close_after_ ? "\r\nConnection: close" : "", "\r\n\r\n");
      }
    }
    if (head_sent_ && chunked_) {
      if (!p.body.empty()) absl::StrAppend(&out, absl::Hex(p.body.size()), "\r\n", p.body, "\r\n");
      if (p.done) out += "0\r\n\r\n";
    }
    if (p.done) stream_done_ = true;
    if (out.empty()) {
      if (stream_done_) FinishStream();
      return;
    }
    writing_ = true;
    timer_.expires_after(Chrono(hub_->options.write_timeout));
    timer_.async_wait([weak = this->weak_from_this()](ErrorCode ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->Close();  // a write stuck this long: the client stalled
    });
    net::async_write(stream_, net::buffer(out_),
                     [self = this->shared_from_this()](ErrorCode ec, size_t) {
                       self->writing_ = false;
                       self->timer_.cancel();
                       if (ec) {
                         if (!self->stream_done_) {
                           self->live_stream_->Cancel(ResponseStream::CancelReason::kDisconnected);
                           self->stream_done_ = true;
                         }
                         return self->Close();
                       }
                       if (self->stream_done_) return self->FinishStream();
                       self->Pump();
                     });
  }

  void FinishStream() {
    request_timer_.cancel();
    live_stream_.reset();
    if (close_after_) return Close();
    if (watching_) {
      // The watch read doubles as the wait for the next request; bound the idle time.
      timer_.expires_after(Chrono(hub_->options.header_timeout));
      timer_.async_wait([weak = this->weak_from_this()](ErrorCode ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->Close();
      });
      return;
    }
    ReadHead();
  }

  // Closing with unread request bytes makes the kernel reset the connection, which can destroy
  // the error response before the client reads it: stop sending, then discard what the client
  // still sends for a moment (a "lingering close") before closing.
  void LingerClose() {
    ErrorCode ignored;
    Socket().shutdown(tcp::socket::shutdown_send, ignored);
    timer_.expires_after(std::chrono::seconds(2));
    timer_.async_wait([weak = this->weak_from_this()](ErrorCode ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->Close();
    });
    Drain();
  }

  void Drain() {
    if (closed_) return;
    discard_.resize(64 << 10);
    Socket().async_read_some(net::buffer(discard_),
                             [self = this->shared_from_this()](ErrorCode ec, size_t) {
                               if (ec) return self->Close();
                               self->Drain();
                             });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (live_stream_ != nullptr && !stream_done_) {
      live_stream_->Cancel(ResponseStream::CancelReason::kDisconnected);
      stream_done_ = true;
    }
    timer_.cancel();
    request_timer_.cancel();
    ErrorCode ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
  }

  const std::shared_ptr<Hub> hub_;
  Stream stream_;
  beast::flat_buffer buffer_;
  net::steady_timer timer_;          // write stall / keep-alive idle after a stream
  net::steady_timer request_timer_;  // request_timeout of a stream
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  bool keep_alive_ = true;
  bool close_after_ = false;
  bool closed_ = false;
  // Streaming state (strand only, except wake_pending_).
  std::shared_ptr<ResponseStream> live_stream_;
  bool stream_done_ = false;
  bool head_sent_ = false;
  bool chunked_ = true;
  bool writing_ = false;
  bool watching_ = false;
  std::string out_;
  std::string discard_;  // LingerClose's sink
  std::atomic<bool> wake_pending_{false};
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<Hub> hub;
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  int port = 0;
  absl::Mutex mu;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  // Live sessions, for Stop.
  std::vector<std::weak_ptr<PlainSession>> plain ABSL_GUARDED_BY(mu);
  std::vector<std::weak_ptr<TlsSession>> tls ABSL_GUARDED_BY(mu);

  void Accept() {
    acceptor->async_accept(net::make_strand(ioc), [this](ErrorCode ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) OnAccept(std::move(socket));
      Accept();
    });
  }

  void OnAccept(tcp::socket socket) {
    if (hub->connections.load() >= hub->options.max_connections) {
      if (!hub->tls.has_value()) {
        const HttpResponse r = ErrorReply(*hub, 503, "", "too many connections");
        const std::string text = absl::StrCat(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: ", r.content_type,
            "\r\nContent-Length: ", r.body.size(), "\r\nConnection: close\r\n\r\n", r.body);
        ErrorCode ignored;
        socket.non_blocking(true, ignored);
        socket.write_some(net::buffer(text), ignored);
      }
      ErrorCode ignored;
      socket.close(ignored);
      return;
    }
    absl::MutexLock lock(&mu);
    if (stopped) return;
    auto prune = [](auto& list) { std::erase_if(list, [](const auto& w) { return w.expired(); }); };
    if (hub->tls.has_value()) {
      auto s = std::make_shared<TlsSession>(hub, std::move(socket), *hub->tls);
      prune(tls);
      tls.push_back(s);
      s->Run();
    } else {
      auto s = std::make_shared<PlainSession>(hub, std::move(socket));
      prune(plain);
      plain.push_back(s);
      s->Run();
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

int HttpServer::connections() const { return impl_->hub->connections.load(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->hub = std::make_shared<Hub>();
  Hub& hub = *impl->hub;
  hub.options = std::move(options);
  hub.handler = std::move(handler);
  const HttpServerOptions& o = hub.options;
  if (o.tls.enabled()) {
    hub.tls.emplace(ssl::context::tls_server);
    ssl::context& ctx = *hub.tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ErrorCode ec;
    ctx.use_certificate_chain(net::buffer(o.tls.cert_chain_pem), ec);
    if (!ec) ctx.use_private_key(net::buffer(o.tls.private_key_pem), ssl::context::pem, ec);
    if (!ec && o.tls.mutual()) {
      ctx.add_certificate_authority(net::buffer(o.tls.client_ca_pem), ec);
      ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.name, " listener: TLS setup failed: ", ec.message()));
    }
  }
  ErrorCode ec;
  const net::ip::address address = net::ip::make_address(o.address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.name, " listener: bad address '", o.address, "': ", ec.message()));
  }
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(o.port));
  impl->acceptor.emplace(net::make_strand(impl->ioc));
  tcp::acceptor& acceptor = *impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(o.name, " listener: cannot listen on ", o.address,
                                               ":", o.port, ": ", ec.message()));
  }
  impl->port = acceptor.local_endpoint().port();
  impl->Accept();
  const int threads = std::max(1, o.num_threads);
  for (int i = 0; i < threads; ++i) {
    impl->threads.emplace_back([p = impl.get()] { p->ioc.run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  std::vector<std::weak_ptr<PlainSession>> plain;
  std::vector<std::weak_ptr<TlsSession>> tls;
  {
    absl::MutexLock lock(&impl.mu);
    if (impl.stopped) return;
    impl.stopped = true;
    plain.swap(impl.plain);
    tls.swap(impl.tls);
  }
  net::post(impl.acceptor->get_executor(), [&impl] {
    ErrorCode ignored;
    impl.acceptor->close(ignored);
  });
  for (auto& w : plain) {
    if (auto s = w.lock()) s->Shutdown();
  }
  for (auto& w : tls) {
    if (auto s = w.lock()) s->Shutdown();
  }
  // Give the closes a moment to run, then stop the loop; no wake posts after this.
  for (int i = 0; i < 200 && impl.hub->connections.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    absl::MutexLock lock(&impl.hub->mu);
    impl.hub->alive = false;
  }
  impl.ioc.stop();
  for (std::thread& t : impl.threads) t.join();
  impl.threads.clear();
}

}  // namespace hearth::server::http
