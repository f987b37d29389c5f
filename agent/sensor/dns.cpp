#include "sensor/dns.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>

#include "sensor/decoder.h"

namespace clawfence::sensor {
namespace {

constexpr uint16_t kTypeA = 1, kTypeCname = 5, kTypeAaaa = 28;

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}

  bool u16(size_t& off, uint16_t* v) const {
    if (off + 2 > n_) return false;
    *v = static_cast<uint16_t>(d_[off] << 8 | d_[off + 1]);
    off += 2;
    return true;
  }
  bool u32(size_t& off, uint32_t* v) const {
    uint16_t hi, lo;
    if (!u16(off, &hi) || !u16(off, &lo)) return false;
    *v = static_cast<uint32_t>(hi) << 16 | lo;
    return true;
  }

  // A (possibly compressed) name at `off`; advances `off` past it in the message.
  bool name(size_t& off, std::string* out) const {
    out->clear();
    size_t pos = off;
    bool jumped = false;
    for (int hops = 0; hops < 64; ++hops) {
      if (pos >= n_) return false;
      uint8_t len = d_[pos];
      if (len == 0) {
        if (!jumped) off = pos + 1;
        return true;
      }
      if ((len & 0xc0) == 0xc0) {
        if (pos + 1 >= n_) return false;
        size_t target = static_cast<size_t>(len & 0x3f) << 8 | d_[pos + 1];
        if (!jumped) off = pos + 2;
        jumped = true;
        if (target >= pos) return false;  // pointers go backwards: no loops
        pos = target;
        continue;
      }
      if ((len & 0xc0) != 0 || pos + 1 + len > n_) return false;
      if (!out->empty()) out->push_back('.');
      for (size_t i = 0; i < len; ++i) {
        char c = static_cast<char>(d_[pos + 1 + i]);
        out->push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
      if (out->size() > 253) return false;
      pos += 1 + len;
    }
    return false;
  }

  const uint8_t* at(size_t off) const { return d_ + off; }

 private:
  const uint8_t* d_;
  size_t n_;
};

const char* type_name(uint16_t t) {
  switch (t) {
    case kTypeA: return "A";
    case kTypeAaaa: return "AAAA";
    case kTypeCname: return "CNAME";
    case 2: return "NS";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 33: return "SRV";
    case 65: return "HTTPS";
    default: return "";
  }
}

const char* rcode_name(unsigned rc) {
  static const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  return rc < 6 ? kNames[rc] : "OTHER";
}

}  // namespace

bool parse_dns_response(const uint8_t* data, size_t len, v1::Dns* out) {
  Reader r(data, len);
  size_t off = 0;
  uint16_t id, flags, qd, an, ns, ar;
  if (!r.u16(off, &id) || !r.u16(off, &flags) || !r.u16(off, &qd) || !r.u16(off, &an) || !r.u16(off, &ns) ||
      !r.u16(off, &ar))
    return false;
  if (!(flags & 0x8000)) return false;  // a query, not a response
  out->set_rcode(rcode_name(flags & 0xf));
  for (uint16_t i = 0; i < qd; ++i) {
    std::string q;
    uint16_t qtype, qclass;
    if (!r.name(off, &q) || !r.u16(off, &qtype) || !r.u16(off, &qclass)) return false;
    if (i == 0) {
      // Labels are bytes; the schema's strings must be UTF-8 (a tail client refuses the event).
      out->set_query(sanitize_utf8(std::move(q)));
      const char* tn = type_name(qtype);
      out->set_query_type(*tn ? tn : std::to_string(qtype));
    }
  }
  for (uint16_t i = 0; i < an; ++i) {
    std::string owner;
    uint16_t type, klass, rdlen;
    uint32_t ttl;
    if (!r.name(off, &owner) || !r.u16(off, &type) || !r.u16(off, &klass) || !r.u32(off, &ttl) ||
        !r.u16(off, &rdlen))
      return false;
    if (off + rdlen > len) return false;
    size_t rdata = off;
    off += rdlen;
    std::string value;
    if (type == kTypeA && rdlen == 4) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, r.at(rdata), buf, sizeof(buf));
      value = buf;
    } else if (type == kTypeAaaa && rdlen == 16) {
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, r.at(rdata), buf, sizeof(buf));
      value = buf;
    } else if (type == kTypeCname) {
      // The name must be the rdata, exactly: read past it, it would be the next record's bytes.
      size_t p = rdata;
      if (rdlen == 0 || !r.name(p, &value) || p != rdata + rdlen) return false;
    } else {
      continue;  // other records are not needed to map addresses to names
    }
    auto* rec = out->add_answers();
    rec->set_name(sanitize_utf8(std::move(owner)));
    rec->set_type(type_name(type));
    rec->set_value(sanitize_utf8(std::move(value)));
    rec->set_ttl(ttl);
  }
  // Addresses of the query name: follow its CNAME chain (bounded) through the answers.
  std::string name = out->query();
  for (int hops = 0; hops < 16 && !name.empty(); ++hops) {
    std::string next;
    for (const auto& a : out->answers()) {
      if (a.name() != name) continue;
      if (a.type() == "CNAME")
        next = a.value();
      else
        out->add_addresses(a.value());
    }
    name = next;
  }
  return true;
}

}  // namespace clawfence::sensor
