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

}  // namespace hearth::scheduler
