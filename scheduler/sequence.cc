#include "scheduler/sequence.h"

namespace hearth::scheduler {

std::string_view SequenceStatusName(SequenceStatus s) {
  switch (s) {
    case SequenceStatus::kWaiting:
      return "waiting";
    case SequenceStatus::kRunning:
      return "running";
    case SequenceStatus::kSwapped:
      return "swapped";
    case SequenceStatus::kFinished:
      return "finished";
  }
  return "unknown";
}

std::string_view FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace hearth::scheduler
