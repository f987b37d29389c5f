// libFuzzer target for the tail protocol. The input is laid out as
//   byte 0             how the stream is cut into reads (see next_chunk)
//   u16 LE n, n bytes  a TailRequest (protobuf wire format; parse failures are fine)
//   u16 LE m, m bytes  an Event
//   the rest           the byte stream a client reads: length-delimited TailMessages
// (a short input just ends early). Invariants: DelimitedReader takes any stream however it is
// cut and never buffers more than it was given; tail_matches takes any request and event; every
// message that parses goes out through serialize_delimited and reads back equal.
// Seeds are tests/fuzz/corpus/tail.
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "fuzz_check.h"
#include "output/tail.h"

namespace {

using clawfence::output::DelimitedReader;
namespace v1 = clawfence::v1;

constexpr char kTarget[] = "tail_fuzz";
// Small enough that the fuzzer reaches the over-the-limit refusal too.
constexpr size_t kMaxMessage = 4096;

// Takes a u16-prefixed part off the front of [p, end).
std::string take_part(const uint8_t*& p, const uint8_t* end) {
  if (end - p < 2) {
    p = end;
    return {};
  }
  size_t n = p[0] | static_cast<size_t>(p[1]) << 8;
  p += 2;
  n = std::min(n, static_cast<size_t>(end - p));
  std::string out(reinterpret_cast<const char*>(p), n);
  p += n;
  return out;
}

// Read sizes from the pattern byte: 0 means all at once; otherwise sizes cycle through
// 1..pattern, so small patterns cut the stream inside varints and messages.
size_t next_chunk(uint8_t pattern, size_t i, size_t left) {
  if (pattern == 0) return left;
  return std::min(left, 1 + (i * 7 + pattern) % pattern);
}

void round_trip(const v1::TailMessage& msg) {
  const std::string wire = clawfence::output::serialize_delimited(msg);
  DelimitedReader again(wire.size() + 16);
  again.append(wire.data(), wire.size());
  v1::TailMessage back;
  if (again.next(back) != DelimitedReader::Status::kMessage)
    clawfence::fuzz::fail(kTarget, "re-serialized message does not read back", msg.ShortDebugString());
  if (!google::protobuf::util::MessageDifferencer::Equals(msg, back))
    clawfence::fuzz::fail(kTarget, "message differs after a round trip", msg.ShortDebugString());
  if (again.buffered() != 0) clawfence::fuzz::fail(kTarget, "bytes left after one message", "");
}

}  // namespace

// Most mutated strings are not UTF-8, and protobuf logs an error for each one it refuses to
// parse: quiet, that is most of the time spent.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    const uint8_t pattern = data[0];
    const uint8_t* p = data + 1;
    const uint8_t* end = data + size;
    const std::string req_bytes = take_part(p, end);
    const std::string ev_bytes = take_part(p, end);

    v1::TailRequest req;
    v1::Event ev;
    const bool have_req = req.ParseFromString(req_bytes);
    const bool have_ev = ev.ParseFromString(ev_bytes);
    if (have_req && have_ev) (void)clawfence::output::tail_matches(req, ev);

    DelimitedReader reader(kMaxMessage);
    size_t given = 0;
    bool bad = false;
    for (size_t i = 0; p < end && !bad; ++i) {
      const size_t n = next_chunk(pattern, i, static_cast<size_t>(end - p));
      reader.append(reinterpret_cast<const char*>(p), n);
      p += n;
      given += n;
      if (reader.buffered() > given) clawfence::fuzz::fail(kTarget, "reader holds more than it was given", "");
      for (;;) {
        v1::TailMessage msg;
        const auto status = reader.next(msg);
        if (status == DelimitedReader::Status::kNeedMore) break;
        if (status == DelimitedReader::Status::kBad) {
          bad = true;
          break;
        }
        round_trip(msg);
        if (have_req && msg.has_event()) (void)clawfence::output::tail_matches(req, msg.event());
      }
    }
  } catch (const std::exception& e) {
    clawfence::fuzz::fail(kTarget, "uncaught exception", e.what());
  }
  return 0;
}
