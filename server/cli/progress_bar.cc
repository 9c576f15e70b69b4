#include "server/cli/progress_bar.h"

#include <unistd.h>

#include <algorithm>

namespace hearth::server {

ProgressBar::ProgressBar(std::FILE* out) : ProgressBar(out, isatty(fileno(out)) != 0) {}

ProgressBar::ProgressBar(std::FILE* out, bool interactive) : out_(out), interactive_(interactive) {}

void ProgressBar::Update(double fraction, const std::string& label) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int percent = static_cast<int>(fraction * 100);
  if (interactive_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    // \r redraws; \033[K clears what a longer previous label left.
    std::fprintf(out_, "\r[%s] %3d%%  %s\033[K", bar.c_str(), percent, label.c_str());
    drawn_ = true;
  } else {
    const int decile = percent / 10;
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(out_, "%3d%%  %s\n", percent, label.c_str());
  }
  std::fflush(out_);
}

void ProgressBar::Done() {
  if (interactive_ && drawn_) std::fputc('\n', out_);
  drawn_ = false;
  std::fflush(out_);
}

}  // namespace hearth::server
