// JSON lines sink: one event per line, from the protobuf schema through protobuf's JSON
// mapping (snake_case field names as in clawfence.proto).
#pragma once

#include <cstdio>
#include <string>

#include "proto/clawfence.pb.h"

namespace clawfence::output {

// The JSON text of one event, without a newline.
std::string to_json(const v1::Event& ev);

class JsonLinesSink {
 public:
  // Writes to stdout when path is "" or "-"; otherwise appends to the file (created 0600).
  explicit JsonLinesSink(const std::string& path);
  ~JsonLinesSink();
  JsonLinesSink(const JsonLinesSink&) = delete;
  JsonLinesSink& operator=(const JsonLinesSink&) = delete;

  void write(const v1::Event& ev);
  void flush();
  uint64_t written() const { return written_; }
  uint64_t failed() const { return failed_; }

 private:
  FILE* out_ = nullptr;
  bool owned_ = false;
  std::string line_;
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace clawfence::output
