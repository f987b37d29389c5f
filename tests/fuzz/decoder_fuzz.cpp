// libFuzzer target for the ring-buffer record decoder: the bytes are one record as the kernel
// would hand it over. decode_record must accept or refuse anything without reading past `size`
// (ASan sees the input buffer's exact end), and every string it puts in the event must be valid
// UTF-8 (file names and argv are bytes; the decoder escapes what is not UTF-8). The decoder is
// fed the same DecodedRecord over and over, as the pipeline does, so state it keeps between
// records is exercised too. Seeds are tests/fuzz/corpus/decoder.
#include <cstddef>
#include <cstdint>
#include <exception>

#include "fuzz_check.h"
#include "sensor/decoder.h"

namespace {

constexpr char kTarget[] = "decoder_fuzz";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clawfence;
  static sensor::DecodedRecord out;
  static const sensor::BootClock clock(1000000000);
  try {
    const auto status = sensor::decode_record(data, size, clock, out);
    if (status != sensor::DecodeStatus::kOk) return 0;
    const std::string bad = fuzz::first_invalid_string(out.event);
    if (!bad.empty()) fuzz::fail(kTarget, "string field is not valid UTF-8", bad);
    if (!fuzz::valid_utf8(out.proc.comm)) fuzz::fail(kTarget, "comm is not valid UTF-8", out.proc.comm);
    // A decoded event must serialize: protobuf refuses (and logs) invalid UTF-8 in strings.
    std::string wire;
    if (!out.event.SerializeToString(&wire)) fuzz::fail(kTarget, "event does not serialize", "");
  } catch (const std::exception& e) {
    fuzz::fail(kTarget, "uncaught exception", e.what());
  }
  return 0;
}
