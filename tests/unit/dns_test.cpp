// parse_dns_response on hand-built answers: names that are not UTF-8 on the wire.
#include "sensor/dns.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace clawfence::sensor {
namespace {

// Found by tests/fuzz/decoder_fuzz: a label byte that is not UTF-8 went into Dns.query as it
// was, so the event's strings were not valid UTF-8 (a tail client's parse refuses such an event
// and protobuf drops the field from serialized output with an error).
TEST(DnsParse, NonUtf8LabelsAreEscapedAndStillFollowed) {
  const std::vector<uint8_t> answer = {
      0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,          // header: response, 1 question, 2 answers
      1, 0xff, 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,              // question: "\xff.com" A IN
      0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 0xfe, 0xc0, 14,  // CNAME -> "\xfe.com"
      0xc0, 35, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1,  // "\xfe.com" A 10.0.0.1
  };
  v1::Dns dns;
  ASSERT_TRUE(parse_dns_response(answer.data(), answer.size(), &dns));
  EXPECT_EQ(dns.query(), "\\xff.com");
  ASSERT_EQ(dns.answers_size(), 2);
  EXPECT_EQ(dns.answers(0).name(), "\\xff.com");
  EXPECT_EQ(dns.answers(0).value(), "\\xfe.com");
  EXPECT_EQ(dns.answers(1).name(), "\\xfe.com");
  ASSERT_EQ(dns.addresses_size(), 1);
  EXPECT_EQ(dns.addresses(0), "10.0.0.1");
}

TEST(DnsParse, Utf8LabelsAreKept) {
  const std::vector<uint8_t> answer = {
      0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
      2, 0xc3, 0xa9, 2, 'f', 'r', 0, 0, 1, 0, 1,  // "é.fr" A IN (UTF-8 bytes in a label)
      0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7,
  };
  v1::Dns dns;
  ASSERT_TRUE(parse_dns_response(answer.data(), answer.size(), &dns));
  EXPECT_EQ(dns.query(), "\xc3\xa9.fr");
  ASSERT_EQ(dns.addresses_size(), 1);
  EXPECT_EQ(dns.addresses(0), "192.0.2.7");
}

// Found by tests/fuzz/dns_fuzz: a CNAME whose rdata was empty (or shorter than its name) had
// its name read from the bytes after it, the next record's, so a datagram yielded more answers
// than it could hold. Such an answer is malformed: the response teaches nothing.
TEST(DnsParse, ACnameNameMustFillItsRdataExactly) {
  const std::vector<uint8_t> empty = {
      0x12, 0x34, 0x81, 0x80, 0, 0, 0, 2, 0, 0, 0, 0,  // no question, 2 answers
      0, 0, 5, 0, 1, 0, 0, 0, 60, 0, 0,                // root CNAME, rdlength 0
      0, 0, 5, 0, 1, 0, 0, 0, 60, 0, 0,
  };
  v1::Dns dns;
  EXPECT_FALSE(parse_dns_response(empty.data(), empty.size(), &dns));
  EXPECT_EQ(dns.answers_size(), 0);

  const std::vector<uint8_t> longer = {
      0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
      1, 'a', 0, 0, 1, 0, 1,                                 // "a" A IN
      0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 3, 1, 'b', 0, 0,  // rdlength 3, the name takes 3: ok
  };
  v1::Dns ok;
  EXPECT_TRUE(parse_dns_response(longer.data(), longer.size(), &ok));
  ASSERT_EQ(ok.answers_size(), 1);
  EXPECT_EQ(ok.answers(0).value(), "b");
  std::vector<uint8_t> short_rdata = longer;
  short_rdata[30] = 2;  // rdlength 2: the name runs past it
  short_rdata.pop_back();
  v1::Dns bad;
  EXPECT_FALSE(parse_dns_response(short_rdata.data(), short_rdata.size(), &bad));
}

}  // namespace
}  // namespace clawfence::sensor
