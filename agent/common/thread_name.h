// Names the calling thread (as `top -H`, `perf report --sort comm` and /proc/PID/task/*/comm
// show it). The kernel keeps 15 bytes.
#pragma once

#include <pthread.h>

namespace clawfence::common {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace clawfence::common
