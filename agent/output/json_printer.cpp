#include "output/json_printer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <ctime>
#include <vector>

namespace clawfence::output {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Code points protobuf's JSON escaping writes as \uXXXX (besides '"' and '\\'): control and
// format characters, and '<' '>' so the output is safe inside HTML.
bool needs_unicode_escape(uint32_t cp) {
  return cp < 0x20 || cp == '<' || cp == '>' || (cp >= 0x7f && cp <= 0x9f) || cp == 0xad ||
         (cp >= 0x600 && cp <= 0x603) || cp == 0x6dd || cp == 0x70f || cp == 0x17b4 || cp == 0x17b5 ||
         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
         (cp >= 0x206a && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
         (cp >= 0x1d173 && cp <= 0x1d17a) || cp == 0xe0001 || (cp >= 0xe0020 && cp <= 0xe007f);
}

void append_u16(uint32_t unit, std::string& out) {
  char buf[8];
  snprintf(buf, sizeof(buf), "\\u%04x", unit);
  out += buf;
}

void append_string(const std::string& s, std::string& out) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f) {  // printable ASCII: the common case
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c == '<' || c == '>') {
        append_u16(c, out);
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence (input is valid UTF-8).
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c >> 5) == 0x6) {
      cp = c & 0x1f, len = 2;
    } else if ((c >> 4) == 0xe) {
      cp = c & 0x0f, len = 3;
    } else {
      cp = c & 0x07, len = 4;
    }
    if (i + len > n) break;
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3f);
    if (!needs_unicode_escape(cp)) {
      out.append(s, i, len);
    } else if (cp == '\b' || cp == '\t' || cp == '\n' || cp == '\f' || cp == '\r') {
      out.push_back('\\');
      out.push_back(cp == '\b' ? 'b' : cp == '\t' ? 't' : cp == '\n' ? 'n' : cp == '\f' ? 'f' : 'r');
    } else if (cp >= 0x10000) {
      uint32_t v = cp - 0x10000;
      append_u16(0xd800 + (v >> 10), out);
      append_u16(0xdc00 + (v & 0x3ff), out);
    } else {
      append_u16(cp, out);
    }
    i += len;
  }
  out.push_back('"');
}

template <typename T>
void append_int(T v, std::string& out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

void append_timestamp(const google::protobuf::Timestamp& ts, std::string& out) {
  // Events come in bursts within the same second: format the date and time once per second.
  thread_local int64_t cached_secs = INT64_MIN;
  thread_local char cached[32];
  thread_local size_t cached_len = 0;
  if (ts.seconds() != cached_secs) {
    time_t secs = static_cast<time_t>(ts.seconds());
    struct tm tm {};
    gmtime_r(&secs, &tm);
    cached_len = strftime(cached, sizeof(cached), "\"%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = ts.seconds();
  }
  out.append(cached, cached_len);
  char buf[16];
  int32_t nanos = ts.nanos();
  if (nanos != 0) {
    // 3, 6 or 9 digits: as few as represent the value exactly
    if (nanos % 1000000 == 0)
      snprintf(buf, sizeof(buf), ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
      snprintf(buf, sizeof(buf), ".%06d", nanos / 1000);
    else
      snprintf(buf, sizeof(buf), ".%09d", nanos);
    out += buf;
  }
  out += "Z\"";
}

void append_message(const Message& msg, std::string& out, RenderedField rendered = {});

void append_value(const Message& msg, const Reflection* r, const FieldDescriptor* f, int index,
                  std::string& out) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      append_int(rep ? r->GetRepeatedInt32(msg, f, index) : r->GetInt32(msg, f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      append_int(rep ? r->GetRepeatedUInt32(msg, f, index) : r->GetUInt32(msg, f), out);
      break;
    case FieldDescriptor::CPPTYPE_INT64:  // 64-bit integers are strings in the JSON mapping
      out.push_back('"');
      append_int(rep ? r->GetRepeatedInt64(msg, f, index) : r->GetInt64(msg, f), out);
      out.push_back('"');
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out.push_back('"');
      append_int(rep ? r->GetRepeatedUInt64(msg, f, index) : r->GetUInt64(msg, f), out);
      out.push_back('"');
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(msg, f, index) : r->GetBool(msg, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(msg, f, index, &scratch)
                                 : r->GetStringReference(msg, f, &scratch);
      append_string(s, out);
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(msg, f, index) : r->GetEnumValue(msg, f);
      const auto* ev = f->enum_type()->FindValueByNumber(v);
      if (ev) {
        append_string(ev->name(), out);
      } else {
        append_int(v, out);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      append_message(rep ? r->GetRepeatedMessage(msg, f, index) : r->GetMessage(msg, f), out);
      break;
    default:  // float, double: not in the schema; the printer is only used for it
      out += "null";
      break;
  }
}

// A map key as a JSON object key: the mapping writes every key type as a string.
void append_map_key(const Message& entry, const Reflection* r, const FieldDescriptor* key, std::string& out) {
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      out += r->GetBool(entry, key) ? "\"true\"" : "\"false\"";
      break;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
      out.push_back('"');
      append_value(entry, r, key, -1, out);
      out.push_back('"');
      break;
    default:  // strings, and 64-bit integers (already strings in the mapping)
      append_value(entry, r, key, -1, out);
      break;
  }
}

// A map field is an object keyed by the map key. MessageToJsonString (3.21) prints the entries
// in the order the message serializes them, which is the map's own iteration order: a hash
// order seeded per map instance, neither sorted nor insertion order. (Sorted only under
// deterministic serialization as the process default, which protobuf keeps private and this
// agent never sets.) Reflection's repeated view of a map lists the entries in that same
// iteration order, so walking it reproduces protobuf byte for byte. The exception: a generated
// message whose map was filled through that repeated view (Reflection::AddMessage, as
// TextFormat parsing does) keeps the fill order in the view while protobuf serializes the
// map's order; same entries, maybe in another order. The agent fills maps through their own API.
void append_map(const Message& msg, const Reflection* r, const FieldDescriptor* f, std::string& out) {
  const FieldDescriptor* key = f->message_type()->map_key();
  const FieldDescriptor* value = f->message_type()->map_value();
  out.push_back('{');
  const int n = r->FieldSize(msg, f);
  for (int i = 0; i < n; ++i) {
    if (i) out.push_back(',');
    const Message& entry = r->GetRepeatedMessage(msg, f, i);
    const Reflection* er = entry.GetReflection();
    append_map_key(entry, er, key, out);
    out.push_back(':');
    append_value(entry, er, value, -1, out);
  }
  out.push_back('}');
}

void append_message(const Message& msg, std::string& out, RenderedField rendered) {
  const Descriptor* d = msg.GetDescriptor();
  if (d == google::protobuf::Timestamp::descriptor()) {
    append_timestamp(static_cast<const google::protobuf::Timestamp&>(msg), out);
    return;
  }
  const Reflection* r = msg.GetReflection();
  // ListFields: set fields in field-number order, proto3 defaults left out, as the mapping says
  thread_local std::vector<std::vector<const FieldDescriptor*>> pool;
  thread_local size_t depth = 0;
  if (pool.size() <= depth) pool.resize(depth + 1);
  std::vector<const FieldDescriptor*>& fields = pool[depth];
  fields.clear();
  r->ListFields(msg, &fields);
  if (rendered.field) {
    // keep field-number order: put the rendered field where ListFields would have it
    auto pos = std::lower_bound(fields.begin(), fields.end(), rendered.field,
                                [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->number() < b->number(); });
    if (pos == fields.end() || *pos != rendered.field) fields.insert(pos, rendered.field);
  }
  ++depth;
  out.push_back('{');
  bool first = true;
  for (const FieldDescriptor* f : fields) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out += f->name();
    out += "\":";
    if (f == rendered.field) {
      out += *rendered.json;
    } else if (f->is_map()) {
      append_map(msg, r, f, out);
    } else if (f->is_repeated()) {
      out.push_back('[');
      int n = r->FieldSize(msg, f);
      for (int i = 0; i < n; ++i) {
        if (i) out.push_back(',');
        append_value(msg, r, f, i, out);
      }
      out.push_back(']');
    } else {
      append_value(msg, r, f, -1, out);
    }
  }
  out.push_back('}');
  --depth;
}

}  // namespace

void print_json(const google::protobuf::Message& msg, std::string& out, RenderedField rendered) {
  append_message(msg, out, rendered);
}

}  // namespace clawfence::output
