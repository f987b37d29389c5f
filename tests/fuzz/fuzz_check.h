// Invariant checks shared by the fuzz targets: a broken one aborts with a message, so libFuzzer
// keeps the input as a finding.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace clawfence::fuzz {

[[noreturn]] inline void fail(const char* target, const std::string& what, const std::string& detail) {
  std::fprintf(stderr, "%s: %s: %s\n", target, what.c_str(), detail.c_str());
  std::abort();
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Written
// out here rather than taken from the agent, so the check does not share the checked code's bugs.
inline bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return false;
    i += len;
  }
  return true;
}

// Every `string` field of `msg`, at any depth (repeated and map entries included), is valid
// UTF-8. `bytes` fields may hold anything. Returns the path of the first bad field, or "".
inline std::string first_invalid_string(const google::protobuf::Message& msg, const std::string& at = "") {
  using google::protobuf::FieldDescriptor;
  const auto* refl = msg.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const auto* f : fields) {
    const std::string path = at.empty() ? f->name() : at + "." + f->name();
    const int count = f->is_repeated() ? refl->FieldSize(msg, f) : 1;
    for (int i = 0; i < count; ++i) {
      if (f->type() == FieldDescriptor::TYPE_STRING) {
        const std::string v = f->is_repeated() ? refl->GetRepeatedString(msg, f, i) : refl->GetString(msg, f);
        if (!valid_utf8(v)) return path;
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const auto& sub = f->is_repeated() ? refl->GetRepeatedMessage(msg, f, i) : refl->GetMessage(msg, f);
        std::string bad = first_invalid_string(sub, path);
        if (!bad.empty()) return bad;
      }
    }
  }
  return "";
}

}  // namespace clawfence::fuzz
