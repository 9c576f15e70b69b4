#include "metrics/http_exposer.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "metrics/text_format.h"

namespace hearth::metrics {
namespace {

void ServeCheck(const std::function<absl::Status()>& check, httplib::Response& res) {
  absl::Status status = check ? check() : absl::OkStatus();
  if (status.ok()) {
    res.status = 200;
    res.set_content("ok\n", "text/plain; charset=utf-8");
  } else {
    res.status = 503;
    res.set_content(absl::StrCat(status.ToString(), "\n"), "text/plain; charset=utf-8");
  }
}

}  // namespace

struct HttpExposer::Impl {
  const Registry* registry = nullptr;
  HttpExposerOptions options;
  httplib::Server server;
  int port = 0;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  absl::Mutex stop_mu;
  bool stopped ABSL_GUARDED_BY(stop_mu) = false;
};

HttpExposer::HttpExposer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpExposer::~HttpExposer() { Stop(); }

int HttpExposer::port() const { return impl_->port; }

absl::StatusOr<std::unique_ptr<HttpExposer>> HttpExposer::Start(const Registry* registry,
                                                                HttpExposerOptions options) {
  if (registry == nullptr) return absl::InvalidArgumentError("HttpExposer: null registry");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HttpExposer: bad port ", options.port));
  }
  if (options.metrics_path.empty() || options.metrics_path[0] != '/' ||
      options.metrics_path == "/health" || options.metrics_path == "/ready") {
    return absl::InvalidArgumentError(
        absl::StrCat("HttpExposer: bad metrics path \"", options.metrics_path, "\""));
  }
  auto impl = std::make_unique<Impl>();
  impl->registry = registry;
  impl->options = std::move(options);
  Impl* p = impl.get();
  const int num_threads = p->options.num_threads > 0 ? p->options.num_threads : 1;
  // httplib's default also sets SO_REUSEPORT, which would let a second server bind a port that
  // is in use; keep only SO_REUSEADDR (fast restart after TIME_WAIT).
  p->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  p->server.new_task_queue = [num_threads] { return new httplib::ThreadPool(num_threads); };
  // Get() takes a regex: match the path literally.
  std::string path_regex;
  for (char c : p->options.metrics_path) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-') {
      path_regex += '\\';
    }
    path_regex += c;
  }
  p->server.Get(path_regex, [p](const httplib::Request&, httplib::Response& res) {
    res.set_content(p->registry->Render(), kTextContentType);
  });
  p->server.Get("/health", [p](const httplib::Request&, httplib::Response& res) {
    ServeCheck(p->options.health, res);
  });
  p->server.Get("/ready", [p](const httplib::Request&, httplib::Response& res) {
    ServeCheck(p->options.ready, res);
  });

  const std::string& address = p->options.address;
  if (p->options.port == 0) {
    p->port = p->server.bind_to_any_port(address);
  } else {
    p->port = p->server.bind_to_port(address, p->options.port) ? p->options.port : -1;
  }
  if (p->port <= 0) {
    return absl::UnavailableError(absl::StrCat("HttpExposer: cannot bind ", address, ":",
                                               p->options.port, " (in use or bad address)"));
  }
  p->thread = std::thread([p] {
    p->server.listen_after_bind();
    p->listen_returned = true;
  });
  // Server::stop() is a no-op until the accept loop runs: wait for it, so a Stop() right after
  // Start() cannot leave the loop running (and the join hanging).
  while (!p->server.is_running() && !p->listen_returned) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return std::unique_ptr<HttpExposer>(new HttpExposer(std::move(impl)));
}

void HttpExposer::Stop() {
  {
    absl::MutexLock lock(&impl_->stop_mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace hearth::metrics
