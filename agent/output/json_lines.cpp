#include "output/json_lines.h"

#include "output/json_printer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace clawfence::output {

std::string to_json(const v1::Event& ev) {
  std::string out;
  print_json(ev, out);
  return out;
}

JsonLinesSink::JsonLinesSink(const std::string& path) {
  if (path.empty() || path == "-") {
    out_ = stdout;
    return;
  }
  if (path == "none") return;  // no JSON lines: write() drops every event unrendered
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

void JsonLinesSink::write(const v1::Event& ev, uint64_t process_generation) {
  if (!out_) return;
  line_.clear();
  if (process_generation != 0 && ev.has_process()) {
    // Most events repeat their process object unchanged: render it once per process state.
    const v1::Process& p = ev.process();
    if (rendered_.size() > 1024) rendered_.clear();  // bounded: a miss only renders again
    RenderedProcess& r = rendered_[p.pid()];
    if (r.generation != process_generation || r.tid != p.tid() || r.cgroup_id != p.cgroup_id() ||
        r.comm != p.comm() || r.cgroup != p.cgroup() || r.json.empty()) {
      r.generation = process_generation;
      r.tid = p.tid();
      r.cgroup_id = p.cgroup_id();
      r.comm = p.comm();
      r.cgroup = p.cgroup();
      r.json.clear();
      print_json(p, r.json);
    }
    static const auto* kProcessField = v1::Event::descriptor()->FindFieldByName("process");
    print_json(ev, line_, {kProcessField, &r.json});
  } else {
    print_json(ev, line_);
  }
  line_.push_back('\n');
  if (fwrite(line_.data(), 1, line_.size(), out_) != line_.size()) {
    ++failed_;
    clearerr(out_);
    return;
  }
  ++written_;
  ++unflushed_;
}

void JsonLinesSink::flush() {
  if (!out_) return;
  // Lines sit in stdio's buffer until here: a failed flush loses them (which of them reached the
  // file is not known; all are counted as lost).
  if (fflush(out_) != 0) {
    failed_ += unflushed_;
    written_ -= unflushed_;
    clearerr(out_);
  }
  unflushed_ = 0;
}

}  // namespace clawfence::output
