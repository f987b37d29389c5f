// The fast JSON printer must produce exactly what protobuf's MessageToJsonString produces
// (preserve_proto_field_names), for every shape of event the schema allows.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <random>

#include "output/json_printer.h"
#include "proto/clawfence.pb.h"
#include "sensor/decoder.h"

namespace clawfence::output {
namespace {

std::string reference(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out, o).ok());
  return out;
}

std::string mine(const google::protobuf::Message& m) {
  std::string out;
  print_json(m, out);
  return out;
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += char(0xe0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  } else {
    s += char(0xf0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3f));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

TEST(JsonPrinter, EveryCodePointIsEscapedAsProtobufDoes) {
  v1::Ancestor a;
  for (uint32_t cp = 1; cp < 0x110000; ++cp) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    a.set_comm("x" + utf8(cp) + "y");
    ASSERT_EQ(mine(a), reference(a)) << "code point " << std::hex << cp;
  }
}

std::string random_string(std::mt19937& rng) {
  static const uint32_t kInteresting[] = {'a', '/', ' ', '"', '\\', '<', '>', '&', '\n', '\t', 0x1, 0x7f,
                                          0xe9, 0xad, 0x2028, 0xfeff, 0x4e2d, 0x1f600, 0xe0041, '\''};
  std::string s;
  int n = rng() % 12;
  for (int i = 0; i < n; ++i) s += utf8(kInteresting[rng() % (sizeof(kInteresting) / sizeof(kInteresting[0]))]);
  return s;
}

v1::Event random_event(std::mt19937& rng) {
  v1::Event ev;
  ev.mutable_time()->set_seconds(1700000000 + rng() % 100000000);
  static const int32_t kNanos[] = {0, 1, 120000000, 123456000, 999999999, 5000};
  ev.mutable_time()->set_nanos(kNanos[rng() % 6]);
  ev.set_kind(static_cast<v1::Event::Kind>(rng() % 8));
  auto* p = ev.mutable_process();
  p->set_pid(rng());
  if (rng() % 2) p->set_tid(rng());
  p->set_comm(random_string(rng));
  p->set_exe(random_string(rng));
  for (int i = rng() % 4; i > 0; --i) p->add_argv(random_string(rng));
  p->set_cgroup_id((uint64_t(rng()) << 32) | rng());
  for (int i = rng() % 3; i > 0; --i) {
    auto* a = p->add_lineage();
    a->set_pid(rng() % 3);
    a->set_comm(random_string(rng));
  }
  switch (rng() % 7) {
    case 0: {
      auto* f = ev.mutable_file();
      f->set_op(static_cast<v1::FileOp::Op>(rng() % 4));
      f->set_path(random_string(rng));
      if (rng() % 2) f->set_result(static_cast<int32_t>(rng() % 7) - 3);
      if (rng() % 2) f->add_flags("O_CREAT");
      f->set_resolved(rng() % 2);
      break;
    }
    case 1: {
      auto* n = ev.mutable_net();
      n->set_op(v1::NetOp::CONNECT);
      n->set_address("::ffff:1.2.3.4");
      n->set_port(rng() % 65536);
      if (rng() % 2) n->set_result(0);
      break;
    }
    case 2:
      if (rng() % 2) ev.mutable_exit()->set_code(0);
      else ev.mutable_exit()->set_signal("SIGKILL");
      break;
    case 3: {
      auto* g = ev.mutable_gap();
      g->set_lost(~0ull);
      g->set_lost_total(rng());
      break;
    }
    case 4:
      ev.mutable_fork();  // set but empty: printed as {}
      break;
    case 5:
      ev.mutable_exec()->add_argv("");
      break;
    default:
      break;
  }
  return ev;
}

TEST(JsonPrinter, RandomEventsMatchProtobufByteForByte) {
  std::mt19937 rng(42);
  for (int i = 0; i < 5000; ++i) {
    v1::Event ev = random_event(rng);
    ASSERT_EQ(mine(ev), reference(ev)) << ev.DebugString();
  }
}

TEST(JsonPrinter, EmptyAndNegativeValues) {
  v1::Event ev;
  EXPECT_EQ(mine(ev), reference(ev));
  ev.mutable_net()->set_result(-2147483647 - 1);
  EXPECT_EQ(mine(ev), reference(ev));
  v1::Event unknown_enum;
  unknown_enum.set_kind(static_cast<v1::Event::Kind>(99));
  EXPECT_EQ(mine(unknown_enum), reference(unknown_enum));
}

TEST(JsonPrinter, RenderedFieldIsSplicedInFieldOrder) {
  std::mt19937 rng(7);
  const auto* field = v1::Event::descriptor()->FindFieldByName("process");
  for (int i = 0; i < 500; ++i) {
    v1::Event ev = random_event(rng);
    std::string process_json;
    print_json(ev.process(), process_json);
    std::string spliced;
    print_json(ev, spliced, {field, &process_json});
    ASSERT_EQ(spliced, reference(ev));
  }
}

// Map fields (Pod.labels). protobuf 3.21 prints a map's entries in its hash order, seeded per
// map instance, so every fresh map below is a new order to match.
TEST(JsonPrinter, PodLabelsMatchProtobufByteForByte) {
  v1::Process p;
  p.set_pid(4242);
  p.set_comm("node");
  auto* pod = p.mutable_pod();
  pod->set_uid("526120d8-1661-46ed-87be-f7f63847bc8a");
  pod->set_container_id("adf04e8d003f0537a04041a5241a7310061586cc8719c346dc3eea4d1bef5e7c");
  pod->set_qos("burstable");
  pod->set_runtime("containerd");
  pod->set_cgroup_driver("systemd");
  pod->set_namespace_("openclaw");
  pod->set_name("gateway-7d9f-x2x");
  pod->set_container_name("gateway");
  pod->set_image("ghcr.io/openclaw/gateway:1.4");
  auto& labels = *pod->mutable_labels();
  labels["app.kubernetes.io/name"] = "openclaw-gateway";
  labels["pod-template-hash"] = "7d9f";
  labels["quote\"key"] = "back\\slash";
  labels["<tag>&"] = "new\nline\ttab";
  labels["caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"] = "\xe2\x80\xa8 sep";
  labels[""] = "empty key";
  labels["empty value"] = "";
  std::string json = mine(p);
  EXPECT_EQ(json, reference(p));
  EXPECT_NE(json.find("\"labels\":{"), std::string::npos) << json;
  EXPECT_NE(json.find("\"quote\\\"key\":\"back\\\\slash\""), std::string::npos) << json;

  v1::Event ev;
  ev.set_kind(v1::Event::EXEC);
  *ev.mutable_process() = p;
  EXPECT_EQ(mine(ev), reference(ev));
}

TEST(JsonPrinter, ManyLabelMapsMatchProtobuf) {
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    v1::Event ev = random_event(rng);
    auto* pod = ev.mutable_process()->mutable_pod();
    if (rng() % 2) pod->set_uid("fbd47bb0-b010-4b27-a676-a44fb1b299a6");
    for (int n = rng() % 20; n > 0; --n) (*pod->mutable_labels())[random_string(rng)] = random_string(rng);
    ASSERT_EQ(mine(ev), reference(ev)) << ev.DebugString();
  }
}

TEST(JsonPrinter, EmptyMapIsLeftOut) {
  v1::Process p;
  p.mutable_pod()->set_uid("fbd47bb0-b010-4b27-a676-a44fb1b299a6");
  EXPECT_EQ(mine(p), reference(p));
  EXPECT_EQ(mine(p), R"({"pod":{"uid":"fbd47bb0-b010-4b27-a676-a44fb1b299a6"}})");
  (*p.mutable_pod()->mutable_labels())["a"] = "b";
  p.mutable_pod()->mutable_labels()->clear();
  EXPECT_EQ(mine(p), reference(p));
  EXPECT_EQ(mine(p).find("labels"), std::string::npos);
  v1::Process only_empty_pod;
  only_empty_pod.mutable_pod();  // set but empty: {}
  EXPECT_EQ(mine(only_empty_pod), reference(only_empty_pod));
}

TEST(JsonPrinter, RenderedProcessWithPodIsSplicedInFieldOrder) {
  std::mt19937 rng(5);
  const auto* field = v1::Event::descriptor()->FindFieldByName("process");
  for (int i = 0; i < 300; ++i) {
    v1::Event ev = random_event(rng);
    auto& labels = *ev.mutable_process()->mutable_pod()->mutable_labels();
    for (int n = rng() % 6; n > 0; --n) labels[random_string(rng)] = "v";
    std::string process_json;
    print_json(ev.process(), process_json);
    std::string spliced;
    print_json(ev, spliced, {field, &process_json});
    ASSERT_EQ(spliced, reference(ev));
  }
}

// Key types the schema does not use yet (integers, bool) and message values, on a message built
// at run time: keys are strings in the mapping, 64-bit ones quoted once.
TEST(JsonPrinter, MapKeysOfEveryScalarTypeMatchProtobuf) {
  using google::protobuf::FileDescriptorProto;
  FileDescriptorProto file;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "maps.proto" package: "t" syntax: "proto3"
    message_type {
      name: "Sub"
      field { name: "s" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    }
    message_type {
      name: "Maps"
      field { name: "i32" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".t.Maps.I32Entry" }
      field { name: "u32" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".t.Maps.U32Entry" }
      field { name: "i64" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".t.Maps.I64Entry" }
      field { name: "u64" number: 4 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".t.Maps.U64Entry" }
      field { name: "b" number: 5 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".t.Maps.BEntry" }
      field { name: "sub" number: 6 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".t.Maps.SubEntry" }
      nested_type { name: "I32Entry" options { map_entry: true }
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_SINT32 }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING } }
      nested_type { name: "U32Entry" options { map_entry: true }
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_FIXED32 }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT32 } }
      nested_type { name: "I64Entry" options { map_entry: true }
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_INT64 }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 } }
      nested_type { name: "U64Entry" options { map_entry: true }
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT64 }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_BOOL } }
      nested_type { name: "BEntry" options { map_entry: true }
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_BOOL }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING } }
      nested_type { name: "SubEntry" options { map_entry: true }
        field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
        field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".t.Sub" } }
    }
  )pb", &file));
  google::protobuf::DescriptorPool pool;
  const auto* fd = pool.BuildFile(file);
  ASSERT_NE(fd, nullptr);
  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> m(factory.GetPrototype(fd->FindMessageTypeByName("Maps"))->New());
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    i32 { key: -2147483648 value: "min" } i32 { key: 0 value: "" } i32 { key: 7 value: "<7>" }
    u32 { key: 4294967295 value: 1 } u32 { key: 3 value: 0 }
    i64 { key: -9223372036854775808 value: 9223372036854775807 } i64 { key: 12 value: -1 }
    u64 { key: 18446744073709551615 value: true } u64 { key: 1 value: false }
    b { key: true value: "yes" } b { key: false value: "no" }
    sub { key: "set" value { s: "x" } } sub { key: "empty" value {} }
  )pb", m.get()));
  EXPECT_EQ(mine(*m), reference(*m));
  EXPECT_NE(mine(*m).find(R"("i64":{"-9223372036854775808":"9223372036854775807")"), std::string::npos) << mine(*m);
}

TEST(SanitizeUtf8, InvalidBytesBecomeVisibleEscapes) {
  EXPECT_EQ(sensor::sanitize_utf8("plain/ascii"), "plain/ascii");
  EXPECT_EQ(sensor::sanitize_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(sensor::sanitize_utf8("id_rsa\xff"), "id_rsa\\xff");
  EXPECT_EQ(sensor::sanitize_utf8("\xc3"), "\\xc3");                // cut sequence
  EXPECT_EQ(sensor::sanitize_utf8("\xc0\xaf"), "\\xc0\\xaf");       // overlong '/'
  EXPECT_EQ(sensor::sanitize_utf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(sensor::sanitize_utf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace clawfence::output
