#include "engine/sampler/stop_checker.h"

#include <algorithm>

#include "common/status_macros.h"

namespace hearth::sampler {

absl::StatusOr<StopChecker> StopChecker::Create(const SamplingParams& params,
                                                absl::Span<const int32_t> eos_token_ids,
                                                int64_t prompt_tokens,
                                                std::optional<int64_t> max_model_len) {
  RETURN_IF_ERROR(params.Validate());
  if (prompt_tokens < 0 || (max_model_len.has_value() && *max_model_len < 1)) {
    return absl::InvalidArgumentError("stop checker: need prompt_tokens >= 0, max_model_len >= 1");
  }
  StopChecker checker;
  checker.params_ = params;
  if (!params.ignore_eos) checker.eos_ids_.assign(eos_token_ids.begin(), eos_token_ids.end());
  checker.prompt_tokens_ = prompt_tokens;
  checker.max_model_len_ = max_model_len;
  for (const std::string& s : params.stop) {
    checker.max_stop_len_ = std::max(checker.max_stop_len_, s.size());
  }
  return checker;
}

std::optional<StopChecker::Match> StopChecker::FindStop(std::string_view window,
                                                        size_t new_from) const {
  std::optional<Match> best;
  for (size_t i = 0; i < params_.stop.size(); ++i) {
    const std::string& s = params_.stop[i];
    // Only matches that end inside the new text: older ones were already seen.
    const size_t from = new_from + 1 >= s.size() ? new_from + 1 - s.size() : 0;
    const size_t pos = window.find(s, from);
    if (pos == std::string_view::npos) continue;
    const Match m{pos, pos + s.size(), i};
    if (!best.has_value() || m.end < best->end || (m.end == best->end && m.start < best->start)) {
      best = m;
    }
  }
  return best;
}

size_t StopChecker::PartialSuffix(std::string_view window) const {
  const size_t longest = std::min(window.size(), max_stop_len_ > 0 ? max_stop_len_ - 1 : 0);
  for (size_t len = longest; len > 0; --len) {
    const std::string_view suffix = window.substr(window.size() - len);
    for (const std::string& s : params_.stop) {
      if (s.size() > len && std::string_view(s).substr(0, len) == suffix) return len;
    }
  }
  return 0;
}

StopUpdate StopChecker::Finish(std::string text, FinishInfo info) {
  finish_ = info;
  tail_.clear();
  held_ = 0;
  return StopUpdate{std::move(text), std::move(info)};
}

StopUpdate StopChecker::Append(int32_t token, std::string_view text_delta) {
  if (finish_.has_value()) return StopUpdate{std::string(), finish_};
  ++num_output_tokens_;

  // window = [already seen tail | new delta]; its bytes from emit_from on are not emitted yet.
  std::string window = tail_;
  window.append(text_delta);
  const size_t base = tail_.size();
  const size_t emit_from = base - held_;
  auto pending = [&](size_t end) {
    return end > emit_from ? window.substr(emit_from, end - emit_from) : std::string();
  };

  if (num_output_tokens_ >= params_.min_tokens) {
    const bool eos = std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end();
    const bool stop_token =
        !eos && std::find(params_.stop_token_ids.begin(), params_.stop_token_ids.end(), token) !=
                    params_.stop_token_ids.end();
    if (eos || stop_token) {
      const size_t end = params_.include_stop_str_in_output ? window.size() : base;
      return Finish(pending(end), FinishInfo{eos ? StopCause::kEos : StopCause::kStopToken, token,
                                             std::string()});
    }
    if (const std::optional<Match> m = FindStop(window, base); m.has_value()) {
      const size_t end = params_.include_stop_str_in_output ? m->end : m->start;
      return Finish(pending(end), FinishInfo{StopCause::kStopString, -1, params_.stop[m->index]});
    }
  }
  if (params_.max_tokens.has_value() && num_output_tokens_ >= *params_.max_tokens) {
    return Finish(pending(window.size()), FinishInfo{StopCause::kMaxTokens, -1, std::string()});
  }
  if (max_model_len_.has_value() && prompt_tokens_ + num_output_tokens_ >= *max_model_len_) {
    return Finish(pending(window.size()), FinishInfo{StopCause::kContextLength, -1, std::string()});
  }

  size_t hold = params_.include_stop_str_in_output ? 0 : PartialSuffix(window);
  hold = std::min(hold, window.size() - emit_from);
  StopUpdate update{pending(window.size() - hold), std::nullopt};
  held_ = hold;
  const size_t keep = std::min(window.size(), max_stop_len_ > 0 ? max_stop_len_ - 1 : 0);
  tail_.assign(window, window.size() - keep, keep);
  return update;
}

}  // namespace hearth::sampler
