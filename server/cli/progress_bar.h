// A progress bar on stderr for long CLI jobs (`hearth quantize`, `hearth synth-model`).
//
// On a terminal it redraws one line ("[#######.....]  58%  161/272  blk.17.ffn_up.weight
// Q4_K"); otherwise (a log, a pipe, a test) it prints a plain line at each 10% so logs stay
// readable.
//
// Thread-safety: not thread-safe; call from one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace hearth::server {

class ProgressBar {
 public:
  // `out` is where to draw (stderr); `interactive` as isatty(out) when not given.
  explicit ProgressBar(std::FILE* out = stderr);
  ProgressBar(std::FILE* out, bool interactive);

  // `fraction` in [0, 1]; `label` follows the bar ("161/272  blk.17.ffn_up.weight Q4_K").
  void Update(double fraction, const std::string& label);
  // Ends the bar's line (a terminal) so later output starts on a fresh line.
  void Done();

 private:
  std::FILE* out_;
  bool interactive_;
  int last_decile_ = -1;
  bool drawn_ = false;
};

}  // namespace hearth::server
