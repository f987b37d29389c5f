// Pod identity end to end: a cgroup tree under a test cgroup laid out as a kubelet lays out a
// node (the systemd driver with containerd and with CRI-O, the cgroupfs driver), an OpenClaw-like
// workload started in a "pod", and rules that target pods by UID and by container ID.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>

#include <sstream>
#include <mutex>
#include <thread>

#include "harness.h"

namespace clawfence::testing {
namespace {

using std::chrono::seconds;

struct FakePod {
  std::string uid;           // as the API shows it
  std::string container_id;  // 64 hex
  std::string cgroup;        // the container's cgroup, relative to the test cgroup
};

// mkdir -p below `root`; returns the full path.
std::string make_cgroups(const std::string& root, const std::string& rel) {
  std::string path = root;
  std::istringstream parts(rel);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    path += "/" + part;
    mkdir(path.c_str(), 0755);
  }
  return path;
}

// rmdir from the deepest component up to (not including) `root`.
void remove_cgroups(const std::string& root, const std::string& rel) {
  for (std::string path = root + rel; path.size() > root.size(); path = path.substr(0, path.rfind('/')))
    rmdir(path.c_str());
}

std::string underscored(std::string uid) {
  for (char& c : uid)
    if (c == '-') c = '_';
  return uid;
}

// The node's kubelet, as far as its pod list (GET /pods) goes, on 127.0.0.1; the list can change
// while the agent runs.
class FakeKubelet {
 public:
  explicit FakeKubelet(std::string pods) : pods_(std::move(pods)) {
    server_.Get("/pods", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mu_);
      res.set_content(pods_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeKubelet() {
    server_.stop();
    thread_.join();
  }
  void set_pods(std::string pods) {
    std::lock_guard<std::mutex> l(mu_);
    pods_ = std::move(pods);
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/pods"; }

 private:
  std::mutex mu_;
  std::string pods_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
};

class Kubernetes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (loads eBPF programs): skipped";
    bin_ = build_dir() + "/clawfence";
    dir_ = make_temp_dir("k8s");
    ASSERT_FALSE(dir_.empty());
    out_ = dir_ + "/events.jsonl";
  }
  void TearDown() override {
    if (!dir_.empty()) remove_tree(dir_);
  }
  std::string bin_, dir_, out_;
};

TEST_F(Kubernetes, RecordsCarryThePodAndRulesTargetPods) {
  TestCgroup cg("k8s");
  const FakePod a{"3f1d0c2a-8b7e-4c11-9a5d-0e2f6b7c8d9e",
                  "5b3c1e9a7d2f4b6c8e0a1c3e5f7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b", ""};
  const FakePod b{"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                  "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00", ""};
  const FakePod c{"7e6d5c4b-3a29-4180-97a6-b5c4d3e2f1a0",
                  "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef", ""};
  // a: systemd driver, containerd, burstable; b: cgroupfs driver, besteffort; c: systemd, CRI-O,
  // guaranteed, not a target
  const std::string a_cg = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + underscored(a.uid) +
                           ".slice/cri-containerd-" + a.container_id + ".scope";
  const std::string b_cg = "/kubepods/besteffort/pod" + b.uid + "/" + b.container_id;
  const std::string c_cg = "/kubepods.slice/kubepods-pod" + underscored(c.uid) + ".slice/crio-" + c.container_id + ".scope";
  for (const auto& p : {a_cg, b_cg, c_cg}) make_cgroups(cg.path(), p);

  // pod a is in the kubelet's list
  const std::string pods =
      R"({"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"openclaw-0","namespace":"agents","uid":")" +
      a.uid + R"(","labels":{"app":"openclaw","team":"ml"}},"spec":{"nodeName":"node-1","containers":[{"name":"gateway",)"
      R"("image":"ghcr.io/openclaw/openclaw:1.2"}]},"status":{"containerStatuses":[{"name":"gateway","image":)"
      R"("ghcr.io/openclaw/openclaw:1.2","containerID":"containerd://)" + a.container_id + R"("}]}}]})";
  FakeKubelet kubelet(pods);
  ASSERT_GT(kubelet.port(), 0);

  const std::string rules = dir_ + "/rules.yaml";
  write_file(rules, "version: 1\nmode: monitor\ntargets:\n"
                    "  - name: openclaw-pod\n    match:\n      - pod_uid: [\"" + a.uid + "\"]\n"
                    "  - name: by-container\n    match:\n      - container_id: [\"" + b.container_id.substr(0, 12) + "\"]\n");
  const std::string log = dir_ + "/agent.log";
  std::vector<std::string> argv = {bin_, "agent", "--rules", rules, "--cgroup", cg.path(), "--pin", "never", "-o", out_};
  for (auto& f : private_outputs(dir_)) argv.push_back(f);
  argv.push_back("--pod-metadata-url=" + kubelet.url());
  const std::string a2_id(64, 'a');  // a second container of pod a, started after the agent
  {
    Child agent(argv, "", log);
    ASSERT_TRUE(eventually([&] { return read_file(log).find("watching:") != std::string::npos; }, seconds(20)))
        << read_file(log);

    // an OpenClaw-like gateway with its shell tool, in pod a
    const std::string work = dir_ + "/oc";
    for (const auto& d : {work, work + "/workspace"}) mkdir(d.c_str(), 0755);
    write_file(work + "/openclaw.json", "{}\n");
    write_file(work + "/workspace/notes.txt", "notes\n");
    EXPECT_EQ(run({"node", repo_root() + "/tests/workloads/fake-openclaw.js", work}, seconds(30), cg.path() + a_cg), 0);
    // a container started in pod a after the agent: its cgroup is made under the pod's slice now
    const std::string a2_cg = a_cg.substr(0, a_cg.rfind('/')) + "/cri-containerd-" + a2_id + ".scope";
    make_cgroups(cg.path(), a2_cg);
    const std::string ma2 = dir_ + "/marker-a2";
    write_file(ma2, "a2\n");
    EXPECT_EQ(run({"sh", "-c", "cat " + ma2 + " > /dev/null"}, seconds(10), cg.path() + a2_cg), 0);
    const std::string mb = dir_ + "/marker-b", mc = dir_ + "/marker-c";
    write_file(mb, "b\n");
    write_file(mc, "c\n");
    EXPECT_EQ(run({"sh", "-c", "cat " + mb + " > /dev/null"}, seconds(10), cg.path() + b_cg), 0);
    EXPECT_EQ(run({"sh", "-c", "cat " + mc + " > /dev/null"}, seconds(10), cg.path() + c_cg), 0);
    agent.signal(SIGINT);
    ASSERT_EQ(agent.wait(seconds(20)), 0) << read_file(log);
  }
  rmdir((cg.path() + a_cg.substr(0, a_cg.rfind('/')) + "/cri-containerd-" + a2_id + ".scope").c_str());
  for (const auto& p : {a_cg, b_cg, c_cg}) remove_cgroups(cg.path(), p);

  auto evs = read_events(out_);
  // Pod a: every record of the gateway's tree names the pod, its container and its QoS class.
  const v1::Event* tool = find_open(evs, dir_ + "/oc/workspace/notes.txt");
  ASSERT_NE(tool, nullptr) << describe(evs, 100);
  EXPECT_EQ(tool->process().target(), "openclaw-pod");
  EXPECT_EQ(tool->process().pod().uid(), a.uid);
  EXPECT_EQ(tool->process().pod().container_id(), a.container_id);
  EXPECT_EQ(tool->process().pod().qos(), "burstable");
  EXPECT_EQ(tool->process().pod().runtime(), "containerd");
  EXPECT_EQ(tool->process().pod().cgroup_driver(), "systemd");
  // and what the kubelet says of it
  EXPECT_EQ(tool->process().pod().namespace_(), "agents");
  EXPECT_EQ(tool->process().pod().name(), "openclaw-0");
  EXPECT_EQ(tool->process().pod().labels().at("app"), "openclaw");
  EXPECT_EQ(tool->process().pod().container_name(), "gateway");
  EXPECT_EQ(tool->process().pod().image(), "ghcr.io/openclaw/openclaw:1.2");
  size_t in_a = 0;
  for (const auto& e : evs) {
    if (e.process().target() != "openclaw-pod") continue;
    ++in_a;
    EXPECT_EQ(e.process().pod().uid(), a.uid) << e.DebugString();
  }
  EXPECT_GT(in_a, 10u);
  const v1::Event* in_a2 = find_open(evs, dir_ + "/marker-a2");
  ASSERT_NE(in_a2, nullptr) << "a container started later in a target pod is watched\n" << describe(evs, 100);
  EXPECT_EQ(in_a2->process().target(), "openclaw-pod");
  EXPECT_EQ(in_a2->process().pod().container_id(), a2_id);
  // Pod b, targeted by a 12-digit container ID prefix, under the cgroupfs driver.
  const v1::Event* in_b = find_open(evs, dir_ + "/marker-b");
  ASSERT_NE(in_b, nullptr) << describe(evs, 100);
  EXPECT_EQ(in_b->process().target(), "by-container");
  EXPECT_EQ(in_b->process().pod().uid(), b.uid);
  EXPECT_EQ(in_b->process().pod().container_id(), b.container_id);
  EXPECT_EQ(in_b->process().pod().qos(), "besteffort");
  EXPECT_EQ(in_b->process().pod().cgroup_driver(), "cgroupfs");
  EXPECT_TRUE(in_b->process().pod().name().empty()) << "pod b is not in the kubelet's list";
  // Pod c is no target: nothing of it is reported.
  EXPECT_EQ(find_open(evs, dir_ + "/marker-c"), nullptr);
  for (const auto& e : evs) EXPECT_NE(e.process().pod().uid(), c.uid) << e.DebugString();
}

}  // namespace
}  // namespace clawfence::testing

namespace clawfence::testing {
namespace {

// Targets by namespace and labels follow the kubelet's pod list: a pod listed after the agent
// started becomes a target, and the process already running in it is picked up; a pod of another
// namespace is not watched.
TEST_F(Kubernetes, TargetsByNamespaceAndLabelsFollowThePodList) {
  TestCgroup cg("k8s-sel");
  const std::string d_uid = "11111111-2222-4333-8444-555555555555", e_uid = "66666666-7777-4888-9999-aaaaaaaaaaaa";
  const std::string d_id(64, 'd'), e_id(64, 'e');
  const std::string d_cg = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + underscored(d_uid) +
                           ".slice/cri-containerd-" + d_id + ".scope";
  const std::string e_cg = "/kubepods/burstable/pod" + e_uid + "/" + e_id;
  for (const auto& p : {d_cg, e_cg}) make_cgroups(cg.path(), p);
  auto pod_json = [](const std::string& uid, const std::string& ns, const std::string& id) {
    return R"({"metadata":{"name":"p-)" + uid.substr(0, 4) + R"(","namespace":")" + ns + R"(","uid":")" + uid +
           R"(","labels":{"app":"openclaw"}},"spec":{"containers":[{"name":"gw","image":"openclaw:1"}]},)"
           R"("status":{"containerStatuses":[{"name":"gw","image":"openclaw:1","containerID":"containerd://)" + id +
           R"("}]}})";
  };
  FakeKubelet kubelet(R"({"kind":"PodList","items":[)" + pod_json(e_uid, "other", e_id) + "]}");
  ASSERT_GT(kubelet.port(), 0);

  const std::string rules = dir_ + "/rules.yaml";
  write_file(rules, "version: 1\nmode: monitor\ntargets:\n  - name: agents-openclaw\n    match:\n"
                    "      - pod: {namespace: [agents], labels: {app: openclaw}}\n");
  const std::string log = dir_ + "/agent.log", go = dir_ + "/go", md = dir_ + "/marker-d", me = dir_ + "/marker-e";
  write_file(md, "d\n");
  write_file(me, "e\n");
  std::vector<std::string> argv = {bin_, "agent", "--rules", rules, "--cgroup", cg.path(), "--pin", "never", "-o", out_,
                                   "--pod-metadata-url=" + kubelet.url(),
                                   "--pod-metadata-refresh=1"};
  for (auto& f : private_outputs(dir_)) argv.push_back(f);
  {
    Child agent(argv, "", log);
    ASSERT_TRUE(eventually([&] { return read_file(log).find("watching:") != std::string::npos; }, seconds(20)))
        << read_file(log);
    // already running in pod d before the kubelet lists it
    Child waiting({"sh", "-c", "while [ ! -e " + go + " ]; do sleep 0.05; done; cat " + md + " > /dev/null"}, "", "",
                  cg.path() + d_cg);
    kubelet.set_pods(R"({"kind":"PodList","items":[)" + pod_json(e_uid, "other", e_id) + "," +
                     pod_json(d_uid, "agents", d_id) + "]}");
    // the shell, and the sleep it may be in at that moment
    ASSERT_TRUE(eventually([&] { return read_file(log).find(" more running processes that matched") != std::string::npos; },
                           seconds(20)))
        << read_file(log);
    write_file(go, "");
    EXPECT_EQ(waiting.wait(seconds(10)), 0);
    EXPECT_EQ(run({"sh", "-c", "cat " + me + " > /dev/null"}, seconds(10), cg.path() + e_cg), 0);
    agent.signal(SIGINT);
    ASSERT_EQ(agent.wait(seconds(20)), 0) << read_file(log);
  }
  for (const auto& p : {d_cg, e_cg}) remove_cgroups(cg.path(), p);
  auto evs = read_events(out_);
  const v1::Event* in_d = find_open(evs, md);
  ASSERT_NE(in_d, nullptr) << describe(evs) << read_file(log);
  EXPECT_EQ(in_d->process().target(), "agents-openclaw");
  EXPECT_EQ(in_d->process().pod().namespace_(), "agents");
  EXPECT_EQ(in_d->process().pod().uid(), d_uid);
  EXPECT_EQ(find_open(evs, me), nullptr) << "pod e is in another namespace";
}

}  // namespace
}  // namespace clawfence::testing
