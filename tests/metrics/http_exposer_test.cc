// HttpExposer over a real socket with cpp-httplib's client: /metrics body and content type,
// /health and /ready (200 and 503), 404 elsewhere, port 0, bind failure, clean stop.
#include "metrics/http_exposer.h"

#include <httplib.h>

#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "metrics/registry.h"

namespace hearth::metrics {
namespace {

class HttpExposerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = registry_.AddCounter("hearth_test_requests_total", "Test.", {"code"});
    ASSERT_TRUE(c.ok());
    (*(*c)->WithLabels({"200"}))->Increment(5);
    HttpExposerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.health = [this] {
      return healthy_ ? absl::OkStatus() : absl::UnavailableError("engine loop stalled");
    };
    options.ready = [this] {
      return ready_ ? absl::OkStatus() : absl::UnavailableError("model loading");
    };
    auto exposer = HttpExposer::Start(&registry_, options);
    ASSERT_TRUE(exposer.ok()) << exposer.status();
    exposer_ = std::move(*exposer);
    ASSERT_GT(exposer_->port(), 0);
  }

  httplib::Client Client() {
    httplib::Client client("127.0.0.1", exposer_->port());
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
    return client;
  }

  Registry registry_;
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ready_{false};
  std::unique_ptr<HttpExposer> exposer_;
};

TEST_F(HttpExposerTest, ServesMetrics) {
  auto client = Client();
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body,
            "# HELP hearth_test_requests_total Test.\n"
            "# TYPE hearth_test_requests_total counter\n"
            "hearth_test_requests_total{code=\"200\"} 5\n");
}

TEST_F(HttpExposerTest, HealthAndReadyFollowCallbacks) {
  auto client = Client();
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  auto ready = client.Get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("model loading"), std::string::npos) << ready->body;

  healthy_ = false;
  ready_ = true;
  health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_NE(health->body.find("engine loop stalled"), std::string::npos) << health->body;
  ready = client.Get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST_F(HttpExposerTest, UnknownPathIs404) {
  auto client = Client();
  for (const char* path : {"/", "/metricsx", "/nope"}) {
    auto res = client.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
}

TEST_F(HttpExposerTest, CustomMetricsPathIsLiteral) {
  HttpExposerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.metrics_path = "/v1.metrics";  // '.' must not act as a regex wildcard
  auto exposer = HttpExposer::Start(&registry_, options);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  httplib::Client client("127.0.0.1", (*exposer)->port());
  client.set_connection_timeout(5);
  struct Case {
    const char* path;
    int status;
  };
  for (const Case& c : {Case{"/v1.metrics", 200}, Case{"/v1xmetrics", 404}, Case{"/metrics", 404},
                        Case{"/health", 200}}) {
    auto res = client.Get(c.path);
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, c.status) << c.path;
  }
}

TEST_F(HttpExposerTest, BadMetricsPathIsInvalidArgument) {
  for (const char* path : {"", "metrics", "/health", "/ready"}) {
    HttpExposerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.metrics_path = path;
    auto exposer = HttpExposer::Start(&registry_, options);
    ASSERT_FALSE(exposer.ok()) << path;
    EXPECT_EQ(exposer.status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
}

TEST_F(HttpExposerTest, BindFailureNamesTheAddress) {
  HttpExposerOptions options;
  options.address = "127.0.0.1";
  options.port = exposer_->port();
  auto second = HttpExposer::Start(&registry_, options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(exposer_->port())),
            std::string::npos)
      << second.status();
}

TEST_F(HttpExposerTest, NonLocalAddressFailsToBind) {
  HttpExposerOptions options;
  options.address = "192.0.2.1";  // TEST-NET-1: never a local address
  options.port = 0;
  auto exposer = HttpExposer::Start(&registry_, options);
  ASSERT_FALSE(exposer.ok());
  EXPECT_NE(exposer.status().message().find("192.0.2.1:0"), std::string::npos) << exposer.status();
}

TEST_F(HttpExposerTest, StopIsCleanAndIdempotent) {
  const int port = exposer_->port();
  exposer_->Stop();
  exposer_->Stop();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  EXPECT_FALSE(client.Get("/metrics"));
  exposer_.reset();
}

}  // namespace
}  // namespace hearth::metrics
