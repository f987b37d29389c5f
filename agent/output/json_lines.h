// JSON lines sink: one event per line, from the protobuf schema through protobuf's JSON
// mapping (snake_case field names as in clawfence.proto).
#pragma once

#include <cstdio>
#include <string>
#include <unordered_map>

#include "proto/clawfence.pb.h"

namespace clawfence::output {

// The JSON text of one event, without a newline.
std::string to_json(const v1::Event& ev);

class JsonLinesSink {
 public:
  // Writes to stdout when path is "" or "-", nowhere when it is "none"; otherwise appends to the
  // file (created 0600).
  explicit JsonLinesSink(const std::string& path);
  ~JsonLinesSink();
  JsonLinesSink(const JsonLinesSink&) = delete;
  JsonLinesSink& operator=(const JsonLinesSink&) = delete;

  // `process_generation` (DecodedRecord) lets the sink reuse the rendered process object of
  // the previous event of the same process; 0 renders it anew.
  void write(const v1::Event& ev, uint64_t process_generation = 0);
  void flush();
  uint64_t written() const { return written_; }  // lines that reached the file (as of the last flush)
  uint64_t failed() const { return failed_; }    // lines lost: a failed write or flush

 private:
  FILE* out_ = nullptr;
  bool owned_ = false;
  std::string line_;
  struct RenderedProcess {
    uint64_t generation = 0;
    uint32_t tid = 0;
    uint64_t cgroup_id = 0;
    std::string comm;
    std::string cgroup;
    std::string json;
  };
  std::unordered_map<uint32_t, RenderedProcess> rendered_;
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
  uint64_t unflushed_ = 0;  // written to stdio's buffer since the last flush
};

}  // namespace clawfence::output
