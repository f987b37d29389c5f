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

inline int64_t timestamp_ns(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

inline int64_t unix_now_ns() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1'000'000'000ll + t.tv_nsec;
}

}  // namespace clawfence::v1
