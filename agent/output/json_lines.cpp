#include "output/json_lines.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace clawfence::output {

std::string to_json(const v1::Event& ev) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(ev, &out, opts);
  if (!status.ok()) return "";
  return out;
}

JsonLinesSink::JsonLinesSink(const std::string& path) {
  if (path.empty() || path == "-") {
    out_ = stdout;
    return;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot open output " + path + ": " + std::strerror(errno));
  out_ = fdopen(fd, "a");
  if (!out_) {
    ::close(fd);
    throw std::runtime_error("cannot open output " + path + ": " + std::strerror(errno));
  }
  owned_ = true;
}

JsonLinesSink::~JsonLinesSink() {
  flush();
  if (owned_ && out_) fclose(out_);
}

void JsonLinesSink::write(const v1::Event& ev) {
  line_ = to_json(ev);
  if (line_.empty()) {
    ++failed_;
    return;
  }
  line_.push_back('\n');
  if (fwrite(line_.data(), 1, line_.size(), out_) != line_.size()) {
    ++failed_;
    return;
  }
  ++written_;
}

void JsonLinesSink::flush() {
  if (out_) fflush(out_);
}

}  // namespace clawfence::output
