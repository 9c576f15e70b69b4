// The HTTP types the server (http_server.h) and the API handlers share, independent of the
// HTTP library: a parsed request, a whole response, and a streamed one.
//
// Thread-safety: HttpRequest / HttpResponse are plain values; ResponseStream's contract below.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace hearth::server::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target without the query string
  std::string query;   // after '?', undecoded
  std::string body;
  std::string authorization;  // the Authorization header ("" when absent)
  std::string content_type;
};

// Sets request->path and request->query from a request target: the path is everything before
// the first '?', the query (undecoded) everything after it.
inline void SetTarget(std::string_view target, HttpRequest* request) {
  const size_t q = target.find('?');
  request->path = std::string(target.substr(0, q));
  request->query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
}

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// The head of a streamed (or late) response.
struct ResponseHead {
  int status = 200;
  std::string content_type;
  // true: chunked transfer, body pieces sent as they come (SSE, NDJSON); false: the whole body
  // arrives with done and goes out with a Content-Length (a non-streaming generation).
  bool chunked = true;
};

// What one Pull hands the connection.
struct Pulled {
  std::optional<ResponseHead> head;  // set by the first Pull that knows it; never again
  std::string body;                  // bytes to write now (may be empty)
  bool done = false;                 // nothing follows
};

// A response produced over time by the engine (generation). The connection pulls from it on
// its own strand whenever the stream has woken it and no write is in flight, so the engine
// never waits for the network and a slow client only makes its own pieces bigger.
//
// Thread-safety: SetWake and Cancel and Pull are called on the connection's strand, one at a
// time; the wake function may be called from any thread, any number of times.
class ResponseStream {
 public:
  enum class CancelReason { kDisconnected, kTimeout, kShutdown };
  virtual ~ResponseStream() = default;
  // Gives the stream the function to call when something new can be pulled. Called once,
  // before the first Pull; the wake may come before SetWake returns (it is then pulled at once).
  virtual void SetWake(std::function<void()> wake) = 0;
  // Takes what is ready. After done, Pull is not called again.
  virtual Pulled Pull() = 0;
  // The client went away, the request timed out or the server is stopping: abort the work.
  // For kTimeout / kShutdown the connection keeps pulling until done (the stream may end with
  // an error piece); for kDisconnected nothing more is pulled.
  virtual void Cancel(CancelReason reason) = 0;
};

// A handler's answer: a response now, or a stream.
using Reply = std::variant<HttpResponse, std::shared_ptr<ResponseStream>>;

// Runs on a server thread for every request; must not block (generation answers a stream).
using Handler = std::function<Reply(HttpRequest&)>;

}  // namespace hearth::server::http
