// `hearth health`: is the local `hearth serve` ready? For container HEALTHCHECKs and scripts.
// Takes serve's arguments (and reads $HEARTH_CONFIG and HEARTH_* like serve), so it probes the
// port serve listens on: GET /ready on the metrics endpoint (metrics.port), or, with metrics
// disabled, grpc.health.v1 Check on listen_address. Exit 0 ready, 1 not ready or unreachable
// (one line on stderr says why), 2 a bad command line or configuration.
#pragma once

namespace hearth::server {

int RunHealth(int argc, char** argv);

}  // namespace hearth::server
