// Times in the schema: google.protobuf.Timestamp <-> nanoseconds since the Unix epoch.
#pragma once

#include <google/protobuf/timestamp.pb.h>
#include <time.h>

#include <cstdint>

namespace clawfence::v1 {

inline void set_timestamp(int64_t unix_ns, google::protobuf::Timestamp* ts) {
  ts->set_seconds(unix_ns / 1'000'000'000);
  ts->set_nanos(static_cast<int32_t>(unix_ns % 1'000'000'000));
}

// Saturates: a Timestamp read from a peer can hold any seconds.
inline int64_t timestamp_ns(const google::protobuf::Timestamp& ts) {
  const __int128 ns = static_cast<__int128>(ts.seconds()) * 1'000'000'000 + ts.nanos();
  if (ns > INT64_MAX) return INT64_MAX;
  if (ns < INT64_MIN) return INT64_MIN;
  return static_cast<int64_t>(ns);
}

inline int64_t unix_now_ns() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1'000'000'000ll + t.tv_nsec;
}

}  // namespace clawfence::v1
