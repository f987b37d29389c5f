// Pod metadata from a pod list served on 127.0.0.1 the way the kubelet's /pods serves it: what
// resolves, what selectors match, refreshes, failures that keep the last list, and the token.
#include "process/pod_metadata.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "temp_dir.h"

namespace clawfence::process {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using clawfence::testing::TempDir;

#define UID_WEB "526120d8-1661-46ed-87be-f7f63847bc8a"
#define UID_GW "fbd47bb0-b010-4b27-a676-a44fb1b299a6"
#define UID_MIRROR "0b8e8f1e-6c3a-4d55-9a6e-3f1c2c9d7a10"  // the API server's UID of the mirror pod
#define HASH_STATIC "4ffdde315afaef4f06ce8c3758390498"      // what the static pod's cgroups carry
#define CTR_NGINX "adf04e8d003f0537a04041a5241a7310061586cc8719c346dc3eea4d1bef5e7c"
#define CTR_SHIPPER "2c76c7596a71eff5d25a84a9b564cd2c1bf087002fafaf869db25b8a822e814d"
#define CTR_INIT "9d1c0f5e3b7a4c2d8e6f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"
#define CTR_GW "40c77770537abe3f690500709e76928b00dab6285564ad1ba727b13d9921f60e"
#define CTR_APISERVER "8f14e45fceea167a5a36dedd4bea2543c0b5b1e7fa3d2a0c2d3b1e6f9a7c8d01"

constexpr const char* kToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl";

// A kubelet /pods answer trimmed from a real node: three pods (a Deployment's pod under
// containerd with an init container and a sidecar, a StatefulSet's pod under CRI-O, and a static
// pod's mirror), with many fields the reader does not know.
const char* kPodList = R"json({
  "kind": "PodList",
  "apiVersion": "v1",
  "metadata": {"resourceVersion": "48213"},
  "items": [
    {
      "metadata": {
        "name": "web-7c5ddbdf54-x8kq2",
        "generateName": "web-7c5ddbdf54-",
        "namespace": "shop",
        "uid": ")json" UID_WEB R"json(",
        "resourceVersion": "48190",
        "creationTimestamp": "2024-03-02T10:11:12Z",
        "labels": {"app": "web", "pod-template-hash": "7c5ddbdf54", "tier": "frontend"},
        "annotations": {"kubernetes.io/config.seen": "2024-03-02T10:11:12.5Z", "kubernetes.io/config.source": "api"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c5ddbdf54",
                             "uid": "11111111-2222-3333-4444-555555555555", "controller": true, "blockOwnerDeletion": true}],
        "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:metadata": {}}}]
      },
      "spec": {
        "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
        "initContainers": [{"name": "migrate", "image": "registry.example.com/shop/migrate:3.1", "resources": {}}],
        "containers": [
          {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}],
           "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
           "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}},
          {"name": "log-shipper", "image": "cr.fluentbit.io/fluent/fluent-bit:2.2.0", "args": ["-c", "/etc/fb.conf"]}
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "nodeName": "node-1",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0,
        "enableServiceLinks": true
      },
      "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2024-03-02T10:11:20Z"}],
        "hostIP": "10.0.0.11",
        "podIP": "10.244.1.7",
        "podIPs": [{"ip": "10.244.1.7"}],
        "startTime": "2024-03-02T10:11:12Z",
        "qosClass": "Burstable",
        "initContainerStatuses": [
          {"name": "migrate", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "ready": true, "restartCount": 0,
           "image": "registry.example.com/shop/migrate:3.1", "imageID": "registry.example.com/shop/migrate@sha256:aa11",
           "containerID": "containerd://)json" CTR_INIT R"json("}
        ],
        "containerStatuses": [
          {"name": "log-shipper", "state": {"running": {"startedAt": "2024-03-02T10:11:19Z"}}, "lastState": {},
           "ready": true, "restartCount": 0, "image": "cr.fluentbit.io/fluent/fluent-bit:2.2.0",
           "imageID": "cr.fluentbit.io/fluent/fluent-bit@sha256:bb22", "containerID": "containerd://)json" CTR_SHIPPER R"json(",
           "started": true},
          {"name": "nginx", "state": {"running": {"startedAt": "2024-03-02T10:11:18Z"}}, "lastState": {},
           "ready": true, "restartCount": 1, "image": "docker.io/library/nginx:1.25",
           "imageID": "docker.io/library/nginx@sha256:cc33", "containerID": "containerd://)json" CTR_NGINX R"json(",
           "started": true}
        ]
      }
    },
    {
      "metadata": {
        "name": "openclaw-gateway-0",
        "namespace": "agents",
        "uid": ")json" UID_GW R"json(",
        "labels": {"app.kubernetes.io/name": "openclaw", "app.kubernetes.io/component": "gateway",
                   "statefulset.kubernetes.io/pod-name": "openclaw-gateway-0"}
      },
      "spec": {
        "containers": [{"name": "gateway", "image": "ghcr.io/openclaw/gateway:2.4.1"}],
        "nodeName": "node-1",
        "hostNetwork": false
      },
      "status": {
        "phase": "Running",
        "containerStatuses": [
          {"name": "gateway", "ready": true, "restartCount": 0, "image": "ghcr.io/openclaw/gateway:2.4.1",
           "imageID": "ghcr.io/openclaw/gateway@sha256:dd44", "containerID": "cri-o://)json" CTR_GW R"json("}
        ]
      }
    },
    {
      "metadata": {
        "name": "kube-apiserver-node-1",
        "namespace": "kube-system",
        "uid": ")json" UID_MIRROR R"json(",
        "labels": {"component": "kube-apiserver", "tier": "control-plane"},
        "annotations": {"kubernetes.io/config.hash": ")json" HASH_STATIC R"json(",
                        "kubernetes.io/config.mirror": ")json" HASH_STATIC R"json(",
                        "kubernetes.io/config.source": "file",
                        "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": "10.0.0.11:6443"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "66666666-7777-8888-9999-000000000000"}]
      },
      "spec": {
        "containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.29.2",
                        "command": ["kube-apiserver", "--advertise-address=10.0.0.11"]}],
        "nodeName": "node-1",
        "hostNetwork": true,
        "priorityClassName": "system-node-critical"
      },
      "status": {
        "phase": "Running",
        "containerStatuses": [
          {"name": "kube-apiserver", "ready": true, "restartCount": 0, "image": "registry.k8s.io/kube-apiserver:v1.29.2",
           "imageID": "registry.k8s.io/kube-apiserver@sha256:ee55", "containerID": "containerd://)json" CTR_APISERVER R"json("}
        ]
      }
    }
  ]
})json";

// The same node a little later: the CRI-O pod is gone, a new pod came.
#define UID_NEW "c0ffee00-1234-4abc-8def-0123456789ab"
const char* kPodListLater = R"json({
  "kind": "PodList", "apiVersion": "v1", "metadata": {},
  "items": [
    {"metadata": {"name": "batch-job-q7z", "namespace": "jobs", "uid": ")json" UID_NEW R"json(", "labels": {"job-name": "batch-job"}},
     "spec": {"containers": [{"name": "work", "image": "busybox:1.36"}]},
     "status": {"containerStatuses": [{"name": "work", "image": "docker.io/library/busybox:1.36", "containerID": "containerd://)json" CTR_GW R"json("}]}}
  ]
})json";

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// A kubelet-like /pods endpoint on 127.0.0.1, on a port the kernel picks.
class FakeKubelet {
 public:
  FakeKubelet() {
    server_.Get("/pods", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      authorizations_.push_back(req.get_header_value("Authorization"));
      res.status = status_;
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
  }
  ~FakeKubelet() { stop(); }

  void stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  void serve(std::string body, int status = 200) {
    std::lock_guard<std::mutex> lock(mu_);
    body_ = std::move(body);
    status_ = status;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return authorizations_;
  }
  size_t requests() const { return authorizations().size(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/pods"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string body_ = kPodList;
  int status_ = 200;
  std::vector<std::string> authorizations_;
};

// Captures everything logged through spdlog's default logger while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()), level_(spdlog::get_level()) {
    auto capture = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    capture->set_level(spdlog::level::trace);
    spdlog::set_default_logger(capture);
  }
  ~LogCapture() {
    spdlog::set_default_logger(previous_);
    spdlog::set_level(level_);
  }
  std::string text() const { return out_.str(); }
  size_t count(const std::string& needle) const {
    const std::string t = text();
    size_t n = 0;
    for (size_t at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1)) ++n;
    return n;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
  spdlog::level::level_enum level_;
};

class PodMetadataTest : public ::testing::Test {
 protected:
  PodSourceOptions options() const {
    PodSourceOptions o;
    o.url = kubelet_.url();
    o.token_file = tmp_.write("token", std::string(kToken) + "\n");
    o.ca_file = tmp_ / "no-ca.crt";
    o.refresh = 30ms;
    o.timeout = 1000ms;
    return o;
  }
  std::unique_ptr<PodMetadata> start(const PodSourceOptions& o) {
    std::string err;
    auto pm = PodMetadata::start(o, &err);
    EXPECT_NE(pm, nullptr) << err;
    return pm;
  }

  TempDir tmp_;
  FakeKubelet kubelet_;
};

v1::Pod pod(const std::string& uid, const std::string& container_id = "") {
  v1::Pod p;
  p.set_uid(uid);
  p.set_container_id(container_id);
  p.set_qos("burstable");
  return p;
}

// ---- parsing ---------------------------------------------------------------------------------

TEST(PodMetadataParse, ReadsTheSubsetOfARealPodList) {
  v1::KubePodList list;
  std::string err;
  ASSERT_TRUE(parse_pod_list(kPodList, &list, &err)) << err;
  ASSERT_EQ(list.items_size(), 3);
  const v1::KubePod& web = list.items(0);
  EXPECT_EQ(web.metadata().namespace_(), "shop");
  EXPECT_EQ(web.metadata().labels().at("tier"), "frontend");
  EXPECT_EQ(web.spec().node_name(), "node-1");
  ASSERT_EQ(web.spec().init_containers_size(), 1);
  ASSERT_EQ(web.status().container_statuses_size(), 2);
  // The …ID names differ from protobuf's default camelCase: json_name must be honoured.
  EXPECT_EQ(web.status().container_statuses(1).container_id(), "containerd://" CTR_NGINX);
  EXPECT_EQ(web.status().container_statuses(1).image_id(), "docker.io/library/nginx@sha256:cc33");
  EXPECT_EQ(list.items(2).metadata().annotations().at("kubernetes.io/config.mirror"), HASH_STATIC);
}

TEST(PodMetadataParse, RefusesWhatIsNotAPodList) {
  v1::KubePodList list;
  std::string err;
  EXPECT_FALSE(parse_pod_list("{\"items\": [", &list, &err));
  EXPECT_NE(err.find("not a pod list"), std::string::npos) << err;
  err.clear();
  // Valid JSON of another kind (an API Status, a wrong endpoint) must not read as an empty list.
  EXPECT_FALSE(parse_pod_list(R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":403})", &list, &err));
  EXPECT_NE(err.find("Status"), std::string::npos) << err;
  EXPECT_FALSE(parse_pod_list("{}", &list, &err));
  EXPECT_TRUE(parse_pod_list(R"({"kind":"PodList","items":[]})", &list, &err)) << err;
}

TEST(PodMetadataParse, StripsTheRuntimeScheme) {
  EXPECT_EQ(strip_container_scheme("containerd://" CTR_NGINX), CTR_NGINX);
  EXPECT_EQ(strip_container_scheme("cri-o://" CTR_GW), CTR_GW);
  EXPECT_EQ(strip_container_scheme("docker://ABCDEF"), "abcdef");
  EXPECT_EQ(strip_container_scheme(""), "");
}

// ---- resolve ---------------------------------------------------------------------------------

TEST_F(PodMetadataTest, ResolvesAContainerdContainer) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  // The first fetch is synchronous: the list is there when start() returns.
  EXPECT_EQ(pm->stats().pods, 3u);
  EXPECT_EQ(pm->generation(), 1u);

  v1::Pod p = pod(UID_WEB, CTR_NGINX);
  ASSERT_TRUE(pm->resolve(&p));
  EXPECT_EQ(p.namespace_(), "shop");
  EXPECT_EQ(p.name(), "web-7c5ddbdf54-x8kq2");
  EXPECT_EQ(p.labels().size(), 3u);
  EXPECT_EQ(p.labels().at("app"), "web");
  EXPECT_EQ(p.container_name(), "nginx");
  EXPECT_EQ(p.image(), "nginx:1.25");  // as the spec names it, not the runtime's docker.io/library/…
  EXPECT_EQ(p.uid(), UID_WEB);
  EXPECT_EQ(p.qos(), "burstable");     // what the cgroup path gave is left alone

  v1::Pod sidecar = pod(UID_WEB, CTR_SHIPPER);
  ASSERT_TRUE(pm->resolve(&sidecar));
  EXPECT_EQ(sidecar.container_name(), "log-shipper");
  EXPECT_EQ(sidecar.image(), "cr.fluentbit.io/fluent/fluent-bit:2.2.0");

  v1::Pod init = pod(UID_WEB, CTR_INIT);
  ASSERT_TRUE(pm->resolve(&init));
  EXPECT_EQ(init.container_name(), "migrate");
}

TEST_F(PodMetadataTest, ResolvesACrioContainer) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  v1::Pod p = pod(UID_GW, CTR_GW);
  ASSERT_TRUE(pm->resolve(&p));
  EXPECT_EQ(p.namespace_(), "agents");
  EXPECT_EQ(p.name(), "openclaw-gateway-0");
  EXPECT_EQ(p.labels().at("app.kubernetes.io/name"), "openclaw");
  EXPECT_EQ(p.container_name(), "gateway");
  EXPECT_EQ(p.image(), "ghcr.io/openclaw/gateway:2.4.1");
}

TEST_F(PodMetadataTest, ResolvesAStaticPodByTheHashItsCgroupsCarry) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  for (const char* uid : {HASH_STATIC, UID_MIRROR}) {
    v1::Pod p = pod(uid, CTR_APISERVER);
    ASSERT_TRUE(pm->resolve(&p)) << uid;
    EXPECT_EQ(p.namespace_(), "kube-system");
    EXPECT_EQ(p.name(), "kube-apiserver-node-1");
    EXPECT_EQ(p.container_name(), "kube-apiserver");
    EXPECT_EQ(p.image(), "registry.k8s.io/kube-apiserver:v1.29.2");
  }
}

TEST_F(PodMetadataTest, UnknownUidIsFalseAndLeavesThePodAlone) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  v1::Pod p = pod("00000000-0000-4000-8000-000000000000", CTR_NGINX);
  const std::string before = p.SerializeAsString();
  EXPECT_FALSE(pm->resolve(&p));
  EXPECT_EQ(p.SerializeAsString(), before);
}

TEST_F(PodMetadataTest, KnownPodWithAnUnlistedContainerResolvesThePodOnly) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  // The sandbox (pause) container is in no status; an empty id is conmon or the pod cgroup.
  for (const std::string& id : {std::string(64, 'e'), std::string()}) {
    v1::Pod p = pod(UID_GW, id);
    ASSERT_TRUE(pm->resolve(&p));
    EXPECT_EQ(p.name(), "openclaw-gateway-0");
    EXPECT_EQ(p.container_name(), "");
    EXPECT_EQ(p.image(), "");
  }
}

// ---- the token -------------------------------------------------------------------------------

TEST_F(PodMetadataTest, SendsTheBearerTokenReadAtEveryFetch) {
  PodSourceOptions o = options();
  auto pm = start(o);
  ASSERT_TRUE(pm);
  ASSERT_FALSE(kubelet_.authorizations().empty());
  EXPECT_EQ(kubelet_.authorizations().front(), std::string("Bearer ") + kToken);

  // Bound service-account tokens rotate: the next fetch sends the new one.
  tmp_.write("token", "rotated-token-2");
  ASSERT_TRUE(eventually([&] { return kubelet_.authorizations().back() == "Bearer rotated-token-2"; }));
}

TEST_F(PodMetadataTest, SendsNoAuthorizationWithoutATokenFile) {
  PodSourceOptions o = options();
  o.token_file = tmp_ / "absent-token";
  auto pm = start(o);
  ASSERT_TRUE(pm);
  EXPECT_EQ(pm->stats().pods, 3u);
  ASSERT_FALSE(kubelet_.authorizations().empty());
  EXPECT_EQ(kubelet_.authorizations().front(), "");
}

TEST_F(PodMetadataTest, TokenNeverAppearsInLogs) {
  LogCapture log;
  {
    PodSourceOptions o = options();
    kubelet_.serve("{\"kind\":\"Status\",\"message\":\"Unauthorized\"}", 401);
    auto pm = start(o);
    ASSERT_TRUE(pm);
    EXPECT_EQ(pm->stats().failures, 1u);
    kubelet_.serve("{ not json");
    ASSERT_TRUE(eventually([&] { return pm->stats().failures >= 3; }));
    kubelet_.serve(kPodList);
    ASSERT_TRUE(eventually([&] { return pm->stats().pods == 3; }));
    kubelet_.stop();
    ASSERT_TRUE(eventually([&] { return pm->stats().failures >= 5; }));
  }
  {
    // A token file with two lines is refused, and its content is not quoted.
    PodSourceOptions o = options();
    tmp_.write("token", std::string(kToken) + "\nX-Injected: " + kToken + "\n");
    o.refresh = 10s;
    auto pm = start(o);
    ASSERT_TRUE(pm);
    EXPECT_EQ(pm->stats().failures, 1u);
  }
  const std::string text = log.text();
  EXPECT_NE(text.find("HTTP 401"), std::string::npos) << text;
  EXPECT_NE(text.find("more than one line"), std::string::npos) << text;
  EXPECT_EQ(text.find(kToken), std::string::npos) << text;
  EXPECT_EQ(text.find("c2VjcmV0"), std::string::npos) << text;  // nor a part of it
}

// ---- selectors -------------------------------------------------------------------------------

TEST_F(PodMetadataTest, MatchesByNamespaceNameLabelAndImage) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  using V = std::vector<std::string>;
  auto m = [&](PodSelector s) { return pm->match(s); };

  EXPECT_EQ(m({}), (V{HASH_STATIC, UID_WEB, UID_GW}));  // empty: every pod, static pod by its hash
  EXPECT_EQ(m({{"kube-*"}, {}, {}, {}}), (V{HASH_STATIC}));
  EXPECT_EQ(m({{"shop", "agents"}, {}, {}, {}}), (V{UID_WEB, UID_GW}));
  EXPECT_EQ(m({{"sho"}, {}, {}, {}}), V{});  // a glob matches the whole name
  EXPECT_EQ(m({{}, {"openclaw-*"}, {}, {}}), (V{UID_GW}));
  EXPECT_EQ(m({{}, {"web-*-x8kq?"}, {}, {}}), (V{UID_WEB}));
  EXPECT_EQ(m({{}, {}, {}, {{"tier", "frontend"}}}), (V{UID_WEB}));
  EXPECT_EQ(m({{}, {}, {}, {{"tier", "control-plane"}, {"component", "kube-apiserver"}}}), (V{HASH_STATIC}));
  EXPECT_EQ(m({{}, {}, {}, {{"tier", "control-plane"}, {"component", "etcd"}}}), V{});  // all must hold
  EXPECT_EQ(m({{}, {}, {}, {{"tier", ""}}}), V{});
  // '*' crosses '/', and an image matches as the spec or as the runtime names it.
  EXPECT_EQ(m({{}, {}, {"ghcr.io/openclaw/*"}, {}}), (V{UID_GW}));
  EXPECT_EQ(m({{}, {}, {"*fluent-bit:*"}, {}}), (V{UID_WEB}));
  EXPECT_EQ(m({{}, {}, {"docker.io/library/nginx:*"}, {}}), (V{UID_WEB}));
  EXPECT_EQ(m({{}, {}, {"registry.k8s.io/*"}, {}}), (V{HASH_STATIC}));
  // Parts combine with and.
  EXPECT_EQ(m({{"shop"}, {}, {"ghcr.io/*"}, {}}), V{});
  EXPECT_EQ(m({{"agents"}, {"openclaw-*"}, {"ghcr.io/*"}, {{"app.kubernetes.io/component", "gateway"}}}), (V{UID_GW}));
}

// ---- refresh and failures --------------------------------------------------------------------

TEST_F(PodMetadataTest, RefreshPicksUpAChangedList) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  ASSERT_EQ(pm->generation(), 1u);

  // The same pods again, even after many fetches, change nothing.
  const size_t seen = kubelet_.requests();
  ASSERT_TRUE(eventually([&] { return kubelet_.requests() >= seen + 3; }));
  EXPECT_EQ(pm->generation(), 1u);

  kubelet_.serve(kPodListLater);
  ASSERT_TRUE(eventually([&] { return pm->generation() == 2u; }));
  EXPECT_EQ(pm->stats().pods, 1u);
  v1::Pod gone = pod(UID_GW, CTR_GW);
  EXPECT_FALSE(pm->resolve(&gone));
  v1::Pod job = pod(UID_NEW, CTR_GW);
  ASSERT_TRUE(pm->resolve(&job));
  EXPECT_EQ(job.namespace_(), "jobs");
  EXPECT_EQ(job.container_name(), "work");
  EXPECT_EQ(pm->match({{"jobs"}, {}, {}, {}}), std::vector<std::string>{UID_NEW});
}

TEST_F(PodMetadataTest, OrderAndUnreadFieldsDoNotBumpTheGeneration) {
  auto pm = start(options());
  ASSERT_TRUE(pm);
  // The items reversed and an annotation (config.seen) changed: nothing read here differs.
  v1::KubePodList list;
  std::string err;
  ASSERT_TRUE(parse_pod_list(kPodList, &list, &err));
  std::string body = "{\"kind\":\"PodList\",\"items\":[";
  const std::string text = kPodList;
  // Rebuild from the fixture's own item texts so unknown fields stay in.
  const size_t first = text.find("    {\n      \"metadata\"");
  const size_t second = text.find("    {\n      \"metadata\"", first + 1);
  const size_t third = text.find("    {\n      \"metadata\"", second + 1);
  const size_t end = text.rfind("  ]");
  ASSERT_TRUE(first != std::string::npos && second != std::string::npos && third != std::string::npos);
  auto item = [&](size_t b, size_t e) {
    std::string s = text.substr(b, e - b);
    while (!s.empty() && (s.back() == '\n' || s.back() == ',' || s.back() == ' ')) s.pop_back();
    return s;
  };
  std::string web = item(first, second);
  const std::string seen = "2024-03-02T10:11:12.5Z";
  web.replace(web.find(seen), seen.size(), "2024-03-09T00:00:00Z");
  body += item(third, end) + "," + item(second, third) + "," + web + "]}";
  ASSERT_TRUE(parse_pod_list(body, &list, &err)) << err;
  kubelet_.serve(body);
  const size_t before = kubelet_.requests();
  ASSERT_TRUE(eventually([&] { return kubelet_.requests() >= before + 3 && pm->stats().fetches >= before + 3; }));
  EXPECT_EQ(pm->generation(), 1u);
  EXPECT_EQ(pm->stats().failures, 0u);
}

TEST_F(PodMetadataTest, ServerDownKeepsTheLastListAndCountsFailures) {
  LogCapture log;
  auto pm = start(options());
  ASSERT_TRUE(pm);
  kubelet_.stop();
  ASSERT_TRUE(eventually([&] { return pm->stats().failures >= 4; }));
  EXPECT_EQ(pm->stats().pods, 3u);
  EXPECT_EQ(pm->generation(), 1u);
  v1::Pod p = pod(UID_WEB, CTR_NGINX);
  EXPECT_TRUE(pm->resolve(&p));
  EXPECT_EQ(p.container_name(), "nginx");
  // Failing every 30 ms, yet logged once: at most one line a minute.
  EXPECT_EQ(log.count("pod metadata: fetching"), 1u) << log.text();
  EXPECT_GT(pm->stats().fetches, pm->stats().failures);
}

TEST_F(PodMetadataTest, BadJsonIsAFailureAndKeepsTheLastList) {
  LogCapture log;
  auto pm = start(options());
  ASSERT_TRUE(pm);
  // Cut short after a secret in a container's env: the error must not quote it.
  kubelet_.serve(R"({"kind": "PodList", "items": [{"spec": {"containers": [{"env": [{"name": "DB_PASSWORD", "value": "hunter2-secret"}]}, )");
  ASSERT_TRUE(eventually([&] { return pm->stats().failures >= 2; }));
  EXPECT_NE(log.text().find("not a pod list"), std::string::npos) << log.text();
  EXPECT_EQ(log.text().find("hunter2"), std::string::npos) << log.text();
  kubelet_.serve("{\"kind\":\"Status\",\"code\":500}");
  const uint64_t failures = pm->stats().failures;
  ASSERT_TRUE(eventually([&] { return pm->stats().failures >= failures + 2; }));
  EXPECT_EQ(pm->stats().pods, 3u);
  EXPECT_EQ(pm->generation(), 1u);
  v1::Pod p = pod(UID_GW, CTR_GW);
  EXPECT_TRUE(pm->resolve(&p));
}

TEST_F(PodMetadataTest, StartsWhileTheSourceFailsAndCatchesUp) {
  kubelet_.serve("{}", 503);
  LogCapture log;
  auto pm = start(options());
  ASSERT_TRUE(pm);
  EXPECT_EQ(pm->stats().failures, 1u);
  EXPECT_EQ(pm->generation(), 0u);
  v1::Pod p = pod(UID_WEB, CTR_NGINX);
  EXPECT_FALSE(pm->resolve(&p));
  EXPECT_TRUE(pm->match({}).empty());
  kubelet_.serve(kPodList);
  ASSERT_TRUE(eventually([&] { return pm->generation() == 1u; }));
  EXPECT_TRUE(pm->resolve(&p));
  EXPECT_NE(log.text().find("HTTP 503"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("answers again"), std::string::npos) << log.text();
}

TEST_F(PodMetadataTest, StopsPromptlyWithAFetchInFlight) {
  // The first request is answered, later ones hang: the destructor must not wait for the timeout.
  httplib::Server hang;
  std::atomic<int> requests{0};
  std::atomic<bool> release{false};
  hang.Get("/pods", [&](const httplib::Request&, httplib::Response& res) {
    if (requests++ > 0) {
      for (int i = 0; i < 1000 && !release; ++i) std::this_thread::sleep_for(5ms);
    }
    res.set_content(kPodList, "application/json");
  });
  const int port = hang.bind_to_any_port("127.0.0.1");
  std::thread t([&] { hang.listen_after_bind(); });
  for (int i = 0; i < 500 && !hang.is_running(); ++i) std::this_thread::sleep_for(2ms);

  PodSourceOptions o = options();
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/pods";
  o.refresh = 10ms;
  o.timeout = 4000ms;
  {
    auto pm = start(o);
    ASSERT_TRUE(pm);
    EXPECT_EQ(pm->stats().pods, 3u);
    ASSERT_TRUE(eventually([&] { return requests >= 2; }));
    const auto t0 = Clock::now();
    pm.reset();
    EXPECT_LT(Clock::now() - t0, 1500ms);
  }
  release = true;
  hang.stop();
  t.join();
}

// ---- TLS -------------------------------------------------------------------------------------

// A self-signed certificate for 127.0.0.1, made here so no key material is checked in.
struct SelfSigned {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  SelfSigned() {
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    if (!key || !cert) return;
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("kubelet-test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                                     std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());
  }
  ~SelfSigned() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  std::string pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  }
};

class PodMetadataTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cert_.key && cert_.cert);
    server_ = std::make_unique<httplib::SSLServer>(cert_.cert, cert_.key);
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/pods", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      authorizations_.push_back(req.get_header_value("Authorization"));
      res.set_content(kPodList, "application/json");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) std::this_thread::sleep_for(2ms);
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  PodSourceOptions options() const {
    PodSourceOptions o;
    o.url = "https://127.0.0.1:" + std::to_string(port_) + "/pods";
    o.token_file = tmp_.write("token", kToken);
    o.ca_file = tmp_.write("ca.crt", cert_.pem());
    o.refresh = 10s;
    o.timeout = 2000ms;
    return o;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return authorizations_;
  }

  TempDir tmp_;
  SelfSigned cert_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> authorizations_;
};

TEST_F(PodMetadataTlsTest, VerifiesTheServerAgainstTheServiceAccountCa) {
  std::string err;
  auto pm = PodMetadata::start(options(), &err);
  ASSERT_NE(pm, nullptr) << err;
  EXPECT_EQ(pm->stats().failures, 0u);
  EXPECT_EQ(pm->stats().pods, 3u);
  ASSERT_EQ(authorizations().size(), 1u);
  EXPECT_EQ(authorizations().front(), std::string("Bearer ") + kToken);
}

TEST_F(PodMetadataTlsTest, RefusesAnUnverifiedServerAndSendsItNoToken) {
  LogCapture log;
  PodSourceOptions o = options();
  o.ca_file = tmp_ / "absent-ca.crt";  // the system's CAs do not know the self-signed certificate
  std::string err;
  auto pm = PodMetadata::start(o, &err);
  ASSERT_NE(pm, nullptr) << err;
  EXPECT_EQ(pm->stats().failures, 1u);
  EXPECT_EQ(pm->stats().pods, 0u);
  EXPECT_TRUE(authorizations().empty());  // the handshake failed before any header went out
  EXPECT_NE(log.text().find("certificate"), std::string::npos) << log.text();
}

TEST_F(PodMetadataTlsTest, InsecureKubeletTlsIsAnExplicitLoggedOptIn) {
  LogCapture log;
  PodSourceOptions o = options();
  o.ca_file = tmp_ / "absent-ca.crt";
  o.insecure_kubelet_tls = true;
  std::string err;
  auto pm = PodMetadata::start(o, &err);
  ASSERT_NE(pm, nullptr) << err;
  EXPECT_EQ(pm->stats().failures, 0u);
  EXPECT_EQ(pm->stats().pods, 3u);
  EXPECT_NE(log.text().find("NOT verified"), std::string::npos) << log.text();
}

// ---- options ---------------------------------------------------------------------------------

TEST(PodMetadataOptions, RefusesPlainHttpToAnotherHost) {
  for (const char* url : {"http://10.0.0.11:10255/pods", "http://kubernetes.default.svc/api/v1/pods",
                          "http://node-1.example:10255/pods"}) {
    PodSourceOptions o;
    o.url = url;
    std::string err;
    EXPECT_EQ(PodMetadata::start(o, &err), nullptr) << url;
    EXPECT_NE(err.find("plain http is only allowed to a loopback host"), std::string::npos) << err;
  }
}

TEST(PodMetadataOptions, RefusesOtherSchemesCredentialsAndNonsense) {
  const struct {
    const char* url;
    const char* says;
  } cases[] = {
      {"ftp://127.0.0.1/pods", "scheme must be https"},
      {"https://user:secret@127.0.0.1:10250/pods", "must not carry credentials"},
      {"not a url", "not a valid URL"},
      {"", "no pod list URL"},
  };
  for (const auto& c : cases) {
    PodSourceOptions o;
    o.url = c.url;
    std::string err;
    EXPECT_EQ(PodMetadata::start(o, &err), nullptr) << c.url;
    EXPECT_NE(err.find(c.says), std::string::npos) << c.url << ": " << err;
    EXPECT_EQ(err.find("secret"), std::string::npos) << err;
  }
}

TEST(PodMetadataOptions, HttpsToAnUnreachableHostStartsAndCountsTheFailure) {
  TempDir tmp;
  PodSourceOptions o;
  // A port nothing listens on: bind one, read its number, close it.
  int port = 0;
  {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
  }
  o.url = "https://127.0.0.1:" + std::to_string(port) + "/pods";
  o.token_file = tmp / "absent";
  o.ca_file = tmp / "absent.crt";
  o.refresh = 10s;
  o.timeout = 500ms;
  std::string err;
  auto pm = PodMetadata::start(o, &err);
  ASSERT_NE(pm, nullptr) << err;
  EXPECT_EQ(pm->stats().fetches, 1u);
  EXPECT_EQ(pm->stats().failures, 1u);
  EXPECT_EQ(pm->generation(), 0u);
}

}  // namespace
}  // namespace clawfence::process
