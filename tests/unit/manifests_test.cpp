// Deployment files: the Kubernetes manifests (deploy/kubernetes) and the container image
// (deploy/container/Dockerfile), read as an operator's cluster and container engine would read
// them, asserting the fields that decide what the agent may do on a node. Where kubectl or a
// running container engine exists, the kustomization is built and the image too.
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "policy/rules.h"
#include "shipped_rules.h"
#include "temp_dir.h"

namespace clawfence::testing {
namespace {
namespace fs = std::filesystem;

// ---- where things are ---------------------------------------------------------------------------

// $CLAWFENCE_ROOT (scripts/run-tests.sh sets it), else the repository the shipped rules are found in.
std::string repo_root() {
  if (const char* r = std::getenv("CLAWFENCE_ROOT"); r && *r) return r;
  const std::string rules = shipped_rules();
  if (rules.empty()) return "";
  return fs::absolute(fs::path(rules)).parent_path().parent_path().lexically_normal().string();
}

std::string kube_dir() { return repo_root() + "/deploy/kubernetes"; }

// The agent binary of this build: $CLAWFENCE_BUILD/clawfence, else beside tests/ in the build
// directory this test binary was built in.
std::string agent_binary() {
  if (const char* b = std::getenv("CLAWFENCE_BUILD"); b && *b) return std::string(b) + "/clawfence";
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "" : (self.parent_path().parent_path() / "clawfence").string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command, its stdout and stderr into *out; returns its exit status (-1: not run).
int run(const std::string& cmd, std::string* out) {
  out->clear();
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// ---- YAML ---------------------------------------------------------------------------------------

// Every document of a (multi-document) YAML file; empty documents are left out.
std::vector<YAML::Node> load_docs(const std::string& path) {
  std::vector<YAML::Node> docs;
  for (const auto& d : YAML::LoadAll(slurp(path)))
    if (d.IsDefined() && !d.IsNull()) docs.push_back(d);
  return docs;
}

std::string str(const YAML::Node& n) { return n.IsDefined() && n.IsScalar() ? n.as<std::string>() : ""; }

// n[k1][k2]..., undefined where a key on the way is missing (yaml-cpp throws when indexing on).
YAML::Node dig(const YAML::Node& from, std::initializer_list<const char*> keys) {
  YAML::Node n = from;
  for (const char* k : keys) {
    if (!n.IsDefined() || !n.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& parent = n;
    const YAML::Node child = parent[k];
    if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    n.reset(child);
  }
  return n;
}

std::set<std::string> str_set(const YAML::Node& seq) {
  std::set<std::string> out;
  if (seq.IsDefined() && seq.IsSequence())
    for (const auto& s : seq) out.insert(s.as<std::string>());
  return out;
}

// A file mode as Kubernetes reads it: YAML 1.1, where 0400 is octal (yaml-cpp keeps the text).
int file_mode(const YAML::Node& n) {
  const std::string s = str(n);
  if (s.empty()) return -1;
  if (s.rfind("0o", 0) == 0) return std::stoi(s.substr(2), nullptr, 8);
  return std::stoi(s, nullptr, s.size() > 1 && s[0] == '0' ? 8 : 10);
}

// The yaml files directly in `dir`.
std::set<std::string> yaml_files(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) out.insert(e.path().filename().string());
  }
  return out;
}

// The documents of the base kustomization's resources.
std::vector<YAML::Node> base_docs() {
  std::vector<YAML::Node> out;
  const YAML::Node k = YAML::LoadFile(kube_dir() + "/kustomization.yaml");
  for (const auto& r : k["resources"])
    for (auto& d : load_docs(kube_dir() + "/" + r.as<std::string>())) out.push_back(d);
  return out;
}

YAML::Node find_doc(const std::vector<YAML::Node>& docs, const std::string& kind, const std::string& name) {
  for (const auto& d : docs)
    if (str(d["kind"]) == kind && str(d["metadata"]["name"]) == name) return d;
  return YAML::Node(YAML::NodeType::Undefined);
}

// A `--flag=value` (or `--flag value`) argument's value; "" if absent.
std::string arg_value(const YAML::Node& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string a = args[i].as<std::string>();
    if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
    if (a == flag && i + 1 < args.size()) return args[i + 1].as<std::string>();
  }
  return "";
}

// True if `path` is `dir` or below it.
bool under(const std::string& path, const std::string& dir) {
  return path == dir || path.rfind(dir.back() == '/' ? dir : dir + "/", 0) == 0;
}

class ManifestsKubernetes : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(repo_root().empty()) << "repository not found: set CLAWFENCE_ROOT or run from the repository root";
    ASSERT_TRUE(fs::is_regular_file(kube_dir() + "/kustomization.yaml")) << kube_dir();
    docs_ = base_docs();
    ds_ = find_doc(docs_, "DaemonSet", "clawfence");
    ASSERT_TRUE(ds_.IsDefined()) << "no DaemonSet clawfence in the base kustomization";
    ASSERT_TRUE(pod()["containers"].IsSequence() && pod()["containers"].size() == 1);
  }
  const YAML::Node pod() const { return ds_["spec"]["template"]["spec"]; }
  const YAML::Node container() const { return pod()["containers"][0]; }
  // volume name -> the volume
  std::map<std::string, YAML::Node> volumes() const {
    std::map<std::string, YAML::Node> out;
    for (const auto& v : pod()["volumes"]) out.emplace(v["name"].as<std::string>(), v);
    return out;
  }
  // mount path -> the container's volumeMount
  std::map<std::string, YAML::Node> mounts() const {
    std::map<std::string, YAML::Node> out;
    for (const auto& m : container()["volumeMounts"]) out.emplace(m["mountPath"].as<std::string>(), m);
    return out;
  }
  std::string mount_of_volume(const std::string& volume) const {
    for (const auto& m : container()["volumeMounts"])
      if (str(m["name"]) == volume) return str(m["mountPath"]);
    return "";
  }

  std::vector<YAML::Node> docs_;
  YAML::Node ds_;
};

// ---- Kubernetes: files and kustomization ---------------------------------------------------------

TEST_F(ManifestsKubernetes, KustomizationListsEveryManifestOfItsDirectory) {
  const YAML::Node k = YAML::LoadFile(kube_dir() + "/kustomization.yaml");
  std::set<std::string> listed = str_set(k["resources"]);
  std::set<std::string> present = yaml_files(kube_dir());
  present.erase("kustomization.yaml");
  EXPECT_EQ(listed, present) << "every manifest in deploy/kubernetes must be a resource of its kustomization";

  // Components: every manifest beside a component's kustomization is one of its resources, except
  // the *.example.yaml files an operator fills in and applies by hand.
  size_t components = 0;
  for (const auto& e : fs::recursive_directory_iterator(kube_dir() + "/optional")) {
    if (e.path().filename() != "kustomization.yaml") continue;
    ++components;
    const YAML::Node c = YAML::LoadFile(e.path().string());
    EXPECT_EQ(str(c["kind"]), "Component") << e.path();
    std::set<std::string> files = yaml_files(e.path().parent_path().string());
    files.erase("kustomization.yaml");
    for (auto it = files.begin(); it != files.end();)
      it = it->size() > 13 && it->substr(it->size() - 13) == ".example.yaml" ? files.erase(it) : std::next(it);
    EXPECT_EQ(str_set(c["resources"]), files) << e.path();
  }
  EXPECT_EQ(components, 2u) << "optional/pagerduty and optional/pod-metadata";

  EXPECT_EQ(str(k["namespace"]), "clawfence");
  ASSERT_TRUE(k["labels"].IsSequence() && k["labels"].size() >= 1);
  EXPECT_EQ(str(k["labels"][0]["pairs"]["app.kubernetes.io/name"]), "clawfence");
  // The images entry must name the DaemonSet's image, or an override would silently not apply.
  const std::string image = str(container()["image"]);
  ASSERT_TRUE(k["images"].IsSequence() && k["images"].size() == 1);
  EXPECT_EQ(image, str(k["images"][0]["name"]) + ":" + str(k["images"][0]["newTag"]));
}

TEST_F(ManifestsKubernetes, EveryResourceIsLabelledAndInTheClawfenceNamespace) {
  std::set<std::string> kinds;
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(kube_dir())) {
    if (!e.is_regular_file() || e.path().extension() != ".yaml") continue;
    for (const auto& d : load_docs(e.path().string())) {
      const std::string kind = str(d["kind"]);
      ASSERT_FALSE(kind.empty()) << e.path() << ": a document without kind";
      if (kind == "Kustomization" || kind == "Component") continue;
      ++n;
      kinds.insert(kind);
      EXPECT_EQ(str(dig(d, {"metadata", "labels", "app.kubernetes.io/name"})), "clawfence") << e.path() << " " << kind;
      const bool cluster_scoped = kind == "Namespace" || kind == "ClusterRole" || kind == "ClusterRoleBinding";
      if (!cluster_scoped) {
        EXPECT_EQ(str(dig(d, {"metadata", "namespace"})), "clawfence") << e.path() << " " << kind;
      }
    }
  }
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(kinds, (std::set<std::string>{"Namespace", "ResourceQuota", "ServiceAccount", "ConfigMap", "DaemonSet",
                                          "Secret", "ClusterRole", "ClusterRoleBinding"}));
  // hostPID and hostPath need the privileged Pod Security level in the agent's namespace.
  const YAML::Node ns = find_doc(docs_, "Namespace", "clawfence");
  ASSERT_TRUE(ns.IsDefined());
  EXPECT_EQ(str(dig(ns, {"metadata", "labels", "pod-security.kubernetes.io/enforce"})), "privileged");
}

// ---- Kubernetes: the DaemonSet's privileges ----------------------------------------------------

TEST_F(ManifestsKubernetes, DaemonSetIsNotPrivilegedAndHoldsExactlyTheEbpfCapabilities) {
  EXPECT_TRUE(pod()["hostPID"].as<bool>(false));
  EXPECT_FALSE(pod()["hostNetwork"].as<bool>(false)) << "the cgroup hooks see pod traffic without it";
  EXPECT_FALSE(pod()["hostIPC"].as<bool>(false));
  EXPECT_FALSE(dig(pod(), {"securityContext", "fsGroup"}).IsDefined()) << "fsGroup makes the PagerDuty key 0440";

  const YAML::Node sc = container()["securityContext"];
  ASSERT_TRUE(sc.IsMap());
  EXPECT_FALSE(sc["privileged"].as<bool>(true));
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true));
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>(false));
  EXPECT_EQ(sc["runAsUser"].as<int>(-1), 0);
  EXPECT_EQ(str_set(sc["capabilities"]["drop"]), std::set<std::string>{"ALL"});
  EXPECT_EQ(str_set(sc["capabilities"]["add"]),
            (std::set<std::string>{"BPF", "PERFMON", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_RESOURCE", "KILL",
                                   "DAC_READ_SEARCH"}));
  EXPECT_EQ(sc["capabilities"]["add"].size(), 8u) << "no capability listed twice";
  EXPECT_EQ(str(sc["seccompProfile"]["type"]), "Unconfined");
  EXPECT_EQ(str(sc["appArmorProfile"]["type"]), "Unconfined");

  EXPECT_EQ(str(pod()["serviceAccountName"]), "clawfence");
  EXPECT_FALSE(pod()["automountServiceAccountToken"].as<bool>(true));
  const YAML::Node sa = find_doc(docs_, "ServiceAccount", "clawfence");
  ASSERT_TRUE(sa.IsDefined());
  EXPECT_FALSE(sa["automountServiceAccountToken"].as<bool>(true));
  for (const auto& d : docs_) {
    const std::string kind = str(d["kind"]);
    EXPECT_TRUE(kind.find("Role") == std::string::npos) << "the base grants no API access: " << kind;
  }
}

TEST_F(ManifestsKubernetes, DaemonSetMountsOnlyTheHostPathsItNeedsAndWritesFewOfThem) {
  struct Expect {
    std::string type;
    bool writable;
  };
  // host path -> (hostPath type, writable); each is mounted at the same path in the container.
  const std::map<std::string, Expect> expected = {
      {"/sys/fs/bpf", {"Directory", true}},           // pins outlive the pod
      {"/sys/kernel/btf", {"Directory", false}},
      {"/sys/kernel/tracing", {"Directory", false}},
      {"/sys/kernel/security", {"Directory", false}},
      {"/sys/fs/cgroup", {"Directory", false}},       // attaching needs only an fd on the directory
      {"/run/clawfence", {"DirectoryOrCreate", true}},
      {"/var/log/clawfence", {"DirectoryOrCreate", true}},
      {"/var/lib/clawfence", {"DirectoryOrCreate", true}},
  };
  const auto vols = volumes();
  const auto mts = mounts();
  std::set<std::string> host_paths;
  for (const auto& [name, v] : vols) {
    if (!v["hostPath"].IsDefined()) continue;
    const std::string host = str(v["hostPath"]["path"]);
    host_paths.insert(host);
    auto want = expected.find(host);
    if (want == expected.end()) {
      ADD_FAILURE() << "unexpected host path " << host;
      continue;
    }
    EXPECT_EQ(str(v["hostPath"]["type"]), want->second.type) << host;
    const std::string at = mount_of_volume(name);
    EXPECT_EQ(at, host) << "host path " << host << " mounted elsewhere";
    auto m = mts.find(at);
    ASSERT_NE(m, mts.end()) << host << " is a volume but not mounted";
    EXPECT_EQ(m->second["readOnly"].as<bool>(false), !want->second.writable) << host;
    EXPECT_FALSE(m->second["subPath"].IsDefined()) << host;
  }
  std::set<std::string> want_paths;
  for (const auto& [p, e] : expected) want_paths.insert(p);
  EXPECT_EQ(host_paths, want_paths) << "no /proc (hostPID gives the container's /proc the host's pids)";

  // Bidirectional needs a privileged container; the pins go into the host's own bpffs.
  for (const auto& [path, m] : mts) EXPECT_NE(str(m["mountPropagation"]), "Bidirectional") << path;
  EXPECT_EQ(str(mts.at("/sys/fs/bpf")["mountPropagation"]), "HostToContainer");
}

TEST_F(ManifestsKubernetes, DaemonSetArgsWriteOnlyWhereAWritableVolumeIs) {
  const YAML::Node args = container()["args"];
  ASSERT_TRUE(args.IsSequence() && args.size() > 1);
  EXPECT_EQ(args[0].as<std::string>(), "agent");
  EXPECT_FALSE(container()["command"].IsDefined()) << "the image's entrypoint is the binary";

  const auto mts = mounts();
  auto writable_dir_of = [&](const std::string& path) {
    for (const auto& [at, m] : mts)
      if (under(path, at) && !m["readOnly"].as<bool>(false)) return at;
    return std::string();
  };
  // With a read-only root file system, every path the agent writes must be in a writable mount.
  for (const std::string flag : {"--audit-dir", "--tail-socket", "--pagerduty-spool"}) {
    const std::string v = arg_value(args, flag);
    ASSERT_FALSE(v.empty()) << flag;
    EXPECT_FALSE(writable_dir_of(v).empty()) << flag << "=" << v << " is not in a writable volume";
  }
  EXPECT_EQ(writable_dir_of("/sys/fs/bpf/clawfence"), "/sys/fs/bpf") << "the default --pin-dir";
  EXPECT_EQ(writable_dir_of("/var/lib/clawfence/fingerprint.key"), "/var/lib/clawfence");
  EXPECT_EQ(arg_value(args, "--tail-socket"), "/run/clawfence/clawfence.sock");
  EXPECT_EQ(arg_value(args, "--audit-dir"), "/var/log/clawfence");

  // The rules are the ConfigMap, mounted as a directory so its updates arrive (never subPath).
  const std::string rules = arg_value(args, "--rules");
  EXPECT_EQ(rules, "/etc/clawfence/rules.d");
  ASSERT_TRUE(mts.count(rules));
  EXPECT_EQ(str(mts.at(rules)["name"]), "rules");
  EXPECT_FALSE(mts.at(rules)["subPath"].IsDefined());
  EXPECT_EQ(str(volumes().at("rules")["configMap"]["name"]), "clawfence-rules");

  // Records name the node, not the pod.
  bool node_name = false;
  for (const auto& e : container()["env"])
    if (str(e["name"]) == "CLAWFENCE_NODE_NAME")
      node_name = str(e["valueFrom"]["fieldRef"]["fieldPath"]) == "spec.nodeName";
  EXPECT_TRUE(node_name);
}

// ---- Kubernetes: health, metrics, scheduling --------------------------------------------------

TEST_F(ManifestsKubernetes, ProbesAndScrapeAnnotationsReachTheMetricsServer) {
  const YAML::Node args = container()["args"];
  const std::string addr = arg_value(args, "--metrics-addr");
  EXPECT_EQ(addr, "0.0.0.0:9464") << "the kubelet and Prometheus connect to the pod IP, not its loopback";
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    const YAML::Node get = container()[probe]["httpGet"];
    ASSERT_TRUE(get.IsMap()) << probe;
    EXPECT_EQ(str(get["path"]), "/healthz") << probe;
    EXPECT_EQ(get["port"].as<int>(0), 9464) << probe;
  }
  const YAML::Node ann = ds_["spec"]["template"]["metadata"]["annotations"];
  EXPECT_EQ(str(ann["prometheus.io/scrape"]), "true");
  EXPECT_EQ(str(ann["prometheus.io/port"]), "9464");
  EXPECT_EQ(str(ann["prometheus.io/path"]), "/metrics");
  bool port = false;
  for (const auto& p : container()["ports"]) port = port || p["containerPort"].as<int>(0) == 9464;
  EXPECT_TRUE(port);

  const YAML::Node tol = pod()["tolerations"];
  ASSERT_TRUE(tol.IsSequence());
  bool every_taint = false;
  for (const auto& t : tol)
    every_taint = every_taint || (str(t["operator"]) == "Exists" && !t["key"].IsDefined() && !t["effect"].IsDefined());
  EXPECT_TRUE(every_taint) << "a toleration {operator: Exists} with no key and no effect";
  EXPECT_EQ(str(pod()["priorityClassName"]), "system-node-critical");
  // Where critical pods need a quota naming their class in the namespace (GKE), there is one.
  const YAML::Node quota = find_doc(docs_, "ResourceQuota", "clawfence-critical-pods");
  ASSERT_TRUE(quota.IsDefined());
  const YAML::Node scope = dig(quota, {"spec", "scopeSelector", "matchExpressions"});
  ASSERT_TRUE(scope.IsDefined() && scope.IsSequence() && scope.size() == 1);
  EXPECT_EQ(str(scope[0]["scopeName"]), "PriorityClass");
  EXPECT_EQ(str(scope[0]["operator"]), "In");
  EXPECT_TRUE(str_set(scope[0]["values"]).count(str(pod()["priorityClassName"])));
  EXPECT_EQ(pod()["terminationGracePeriodSeconds"].as<int>(0), 30);
  EXPECT_EQ(str(ds_["spec"]["updateStrategy"]["type"]), "RollingUpdate");
  EXPECT_EQ(ds_["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"].as<int>(0), 1);

  const YAML::Node res = container()["resources"];
  for (const char* kind : {"requests", "limits"})
    for (const char* what : {"cpu", "memory"}) EXPECT_FALSE(str(res[kind][what]).empty()) << kind << "." << what;
}

// ---- Kubernetes: rules and secrets --------------------------------------------------------------

TEST_F(ManifestsKubernetes, RulesConfigMapHoldsTheShippedRulesByteForByte) {
  const YAML::Node cm = find_doc(docs_, "ConfigMap", "clawfence-rules");
  ASSERT_TRUE(cm.IsDefined());
  std::set<std::string> keys;
  for (const auto& kv : cm["data"]) keys.insert(kv.first.as<std::string>());
  const std::set<std::string> shipped = yaml_files(repo_root() + "/rules");
  ASSERT_FALSE(shipped.empty());
  EXPECT_EQ(keys, shipped) << "run deploy/kubernetes/update-rules-configmap.sh";
  for (const auto& f : shipped)
    EXPECT_TRUE(str(cm["data"][f]) == slurp(repo_root() + "/rules/" + f))
        << "deploy/kubernetes/configmap-rules.yaml differs from rules/" << f
        << ": run deploy/kubernetes/update-rules-configmap.sh";
}

TEST_F(ManifestsKubernetes, PagerDutyKeyIsAnOwnerOnlyFileFromAnOptionalSecret) {
  const auto vols = volumes();
  ASSERT_TRUE(vols.count("pagerduty"));
  const YAML::Node vol = vols.at("pagerduty");
  EXPECT_EQ(str(vol["secret"]["secretName"]), "clawfence-pagerduty");
  EXPECT_EQ(file_mode(vol["secret"]["defaultMode"]), 0400) << "the agent refuses a key file others can read";
  EXPECT_TRUE(vol["secret"]["optional"].as<bool>(false)) << "the pod starts before the Secret exists";
  const std::string at = mount_of_volume("pagerduty");
  EXPECT_EQ(at, "/etc/clawfence/pagerduty");
  EXPECT_TRUE(mounts().at(at)["readOnly"].as<bool>(false));

  // The component that switches PagerDuty on points the agent at the key in that mount.
  const YAML::Node comp = YAML::LoadFile(kube_dir() + "/optional/pagerduty/kustomization.yaml");
  ASSERT_TRUE(comp["patches"].IsSequence() && comp["patches"].size() == 1);
  EXPECT_EQ(str(comp["patches"][0]["target"]["kind"]), "DaemonSet");
  const YAML::Node ops = YAML::Load(str(comp["patches"][0]["patch"]));
  ASSERT_TRUE(ops.IsSequence() && ops.size() == 1);
  EXPECT_EQ(str(ops[0]["op"]), "add");
  EXPECT_EQ(str(ops[0]["path"]), "/spec/template/spec/containers/0/args/-");
  EXPECT_EQ(str(ops[0]["value"]), "--pagerduty-key-file=" + at + "/routing-key");

  // The example Secret has the name and key the volume uses, and is applied by hand only.
  const auto secret = load_docs(kube_dir() + "/optional/pagerduty/secret-pagerduty.example.yaml");
  ASSERT_EQ(secret.size(), 1u);
  EXPECT_EQ(str(secret[0]["kind"]), "Secret");
  EXPECT_EQ(str(secret[0]["metadata"]["name"]), "clawfence-pagerduty");
  EXPECT_TRUE(secret[0]["stringData"]["routing-key"].IsScalar());
  EXPECT_FALSE(find_doc(docs_, "Secret", "clawfence-pagerduty").IsDefined())
      << "a Secret in the kustomization would reset the real key to the placeholder on every apply";
}

TEST_F(ManifestsKubernetes, PodMetadataComponentGrantsOnlyReadingPods) {
  const std::string dir = kube_dir() + "/optional/pod-metadata";
  const auto rbac = load_docs(dir + "/rbac.yaml");
  const YAML::Node role = find_doc(rbac, "ClusterRole", "clawfence-pod-metadata");
  ASSERT_TRUE(role.IsDefined());
  ASSERT_EQ(role["rules"].size(), 1u);
  EXPECT_EQ(str_set(role["rules"][0]["apiGroups"]), std::set<std::string>{""});
  EXPECT_EQ(str_set(role["rules"][0]["resources"]), std::set<std::string>{"pods"});
  EXPECT_EQ(str_set(role["rules"][0]["verbs"]), (std::set<std::string>{"get", "list", "watch"}));
  const YAML::Node binding = find_doc(rbac, "ClusterRoleBinding", "clawfence-pod-metadata");
  ASSERT_TRUE(binding.IsDefined());
  EXPECT_EQ(str(binding["roleRef"]["name"]), "clawfence-pod-metadata");
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(str(binding["subjects"][0]["kind"]), "ServiceAccount");
  EXPECT_EQ(str(binding["subjects"][0]["name"]), "clawfence");
  EXPECT_EQ(str(binding["subjects"][0]["namespace"]), "clawfence");
}

// The kubelet's layout of a ConfigMap volume: the files are symlinks through `..data` into a
// timestamped directory, and an update swaps `..data`. The rules load once per file, and a load
// after the swap reads the new content.
TEST_F(ManifestsKubernetes, RulesDirectoryInTheKubeletLayoutLoadsEachFileOnce) {
  TempDir dir;
  const std::string shipped = slurp(shipped_rules());
  dir.write("..2025_01_01_00_00_00.1/openclaw.yaml", shipped);
  fs::create_directory_symlink("..2025_01_01_00_00_00.1", dir / "..data");
  fs::create_symlink("..data/openclaw.yaml", dir / "openclaw.yaml");

  const auto direct = policy::load_rules(shipped_rules());
  ASSERT_TRUE(direct.ok());
  auto res = policy::load_rules(dir.path());
  ASSERT_TRUE(res.ok()) << (res.errors.empty() ? "" : res.errors[0].to_string());
  EXPECT_EQ(res.rules.files.size(), 1u);
  EXPECT_EQ(res.rules.rule_count(), direct.rules.rule_count());

  // An update: new directory, `..data_tmp` renamed over `..data`, as the kubelet does it.
  dir.write("..2025_01_01_00_01_00.2/openclaw.yaml", "version: 1\nmode: monitor\n");
  fs::create_directory_symlink("..2025_01_01_00_01_00.2", dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  res = policy::load_rules(dir.path());
  ASSERT_TRUE(res.ok()) << (res.errors.empty() ? "" : res.errors[0].to_string());
  EXPECT_EQ(res.rules.files.size(), 1u);
  EXPECT_EQ(res.rules.rule_count(), 0u);
}

// ---- kubectl ------------------------------------------------------------------------------------

TEST_F(ManifestsKubernetes, KubectlBuildsTheBaseAndTheComponents) {
  std::string out;
  if (run("timeout 20 kubectl version --client", &out) != 0) GTEST_SKIP() << "no kubectl here: skipped";
  ASSERT_EQ(run("timeout 60 kubectl kustomize " + sh_quote(kube_dir()), &out), 0) << out;
  std::vector<YAML::Node> built = YAML::LoadAll(out);
  std::set<std::string> kinds;
  for (const auto& d : built) kinds.insert(str(d["kind"]));
  EXPECT_EQ(kinds, (std::set<std::string>{"Namespace", "ResourceQuota", "ServiceAccount", "ConfigMap", "DaemonSet"}));
  const YAML::Node ds = find_doc(built, "DaemonSet", "clawfence");
  ASSERT_TRUE(ds.IsDefined());
  EXPECT_EQ(str(ds["spec"]["template"]["spec"]["containers"][0]["image"]), "ghcr.io/clawfence/clawfence:0.1.0");
  for (const auto& v : ds["spec"]["template"]["spec"]["volumes"])
    if (str(v["name"]) == "pagerduty") {
      EXPECT_EQ(file_mode(v["secret"]["defaultMode"]), 0400);
    }

  // An overlay with both components, as an operator would write it (kustomize wants relative paths).
  TempDir overlay;
  const std::string rel = fs::relative(kube_dir(), overlay.path()).string();
  overlay.write("kustomization.yaml", "resources: [" + rel + "]\ncomponents: [" + rel + "/optional/pagerduty, " + rel +
                                          "/optional/pod-metadata]\n");
  ASSERT_EQ(run("timeout 60 kubectl kustomize " + sh_quote(overlay.path()), &out), 0) << out;
  built = YAML::LoadAll(out);
  const YAML::Node with = find_doc(built, "DaemonSet", "clawfence");
  ASSERT_TRUE(with.IsDefined());
  const YAML::Node spec = with["spec"]["template"]["spec"];
  EXPECT_EQ(arg_value(spec["containers"][0]["args"], "--pagerduty-key-file"), "/etc/clawfence/pagerduty/routing-key");
  EXPECT_TRUE(spec["automountServiceAccountToken"].as<bool>(false));
  EXPECT_TRUE(find_doc(built, "ClusterRole", "clawfence-pod-metadata").IsDefined());
  EXPECT_TRUE(find_doc(built, "ClusterRoleBinding", "clawfence-pod-metadata").IsDefined());
}

// ---- Dockerfile ---------------------------------------------------------------------------------

struct Instruction {
  std::string op;    // FROM, RUN, COPY, ... (upper case)
  std::string args;  // the rest, continuation lines joined
};

// The Dockerfile's instructions by stage (a stage starts at its FROM); comments dropped.
std::vector<std::vector<Instruction>> dockerfile_stages(const std::string& path) {
  std::vector<std::vector<Instruction>> stages;
  std::istringstream in(slurp(path));
  std::string line, joined;
  auto flush = [&] {
    std::istringstream text(joined);
    joined.clear();
    Instruction ins;
    if (!(text >> ins.op)) return;
    std::getline(text >> std::ws, ins.args);
    std::transform(ins.op.begin(), ins.op.end(), ins.op.begin(), ::toupper);
    if (ins.op == "FROM") stages.emplace_back();
    if (!stages.empty()) stages.back().push_back(ins);
  };
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t");
    if (b != std::string::npos && line[b] == '#') continue;  // comments, also inside continuations
    if (!line.empty() && line.back() == '\\') {
      joined += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    joined += line;
    flush();
  }
  flush();
  return stages;
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The packages of the `apt-get install` commands in a stage's RUN instructions.
std::set<std::string> apt_packages(const std::vector<Instruction>& stage) {
  std::set<std::string> out;
  for (const auto& ins : stage) {
    if (ins.op != "RUN") continue;
    const auto w = words(ins.args);
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] != "apt-get" || w[i + 1] != "install") continue;
      for (size_t j = i + 2; j < w.size() && w[j] != "&&" && w[j] != ";"; ++j)
        if (w[j][0] != '-') out.insert(w[j]);
    }
  }
  return out;
}

std::string dockerfile() { return repo_root() + "/deploy/container/Dockerfile"; }

TEST(ManifestsDockerfile, TwoDebian12StagesAndARuntimeWithoutToolchain) {
  ASSERT_TRUE(fs::is_regular_file(dockerfile())) << dockerfile();
  const auto stages = dockerfile_stages(dockerfile());
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(words(stages[0][0].args), (std::vector<std::string>{"debian:12", "AS", "build"}));
  EXPECT_EQ(words(stages[1][0].args), (std::vector<std::string>{"debian:12-slim"}));

  // Build stage: the project's own package list, the BTF override reaching make, the binary built.
  const auto& build = stages[0];
  auto build_has = [&](const std::string& op, const std::string& text) {
    return std::any_of(build.begin(), build.end(),
                       [&](const Instruction& i) { return i.op == op && i.args.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(build_has("ARG", "VMLINUX_BTF"));
  EXPECT_TRUE(build_has("RUN", "scripts/install-deps.sh"));
  EXPECT_TRUE(build_has("RUN", "VMLINUX_BTF=\"$VMLINUX_BTF\" build/clawfence"));

  // Runtime stage: no compiler, no build tool, no headers, no install-deps.sh.
  const auto& runtime = stages[1];
  const std::set<std::string> toolchain = {"clang", "llvm", "gcc", "g++", "cpp", "make", "build-essential",
                                           "bpftool", "protobuf-compiler", "pkg-config"};
  for (const auto& ins : runtime) {
    if (ins.op != "RUN") continue;
    EXPECT_EQ(ins.args.find("install-deps.sh"), std::string::npos);
    for (const auto& w : words(ins.args)) {
      EXPECT_FALSE(toolchain.count(w)) << "runtime stage installs " << w;
      EXPECT_FALSE(w.size() > 4 && w.substr(w.size() - 4) == "-dev") << "runtime stage installs " << w;
    }
  }
  EXPECT_TRUE(apt_packages(runtime).count("ca-certificates")) << "PagerDuty is reached over verified TLS";

  // The binary and the rules come from the build stage; the entrypoint is the binary.
  std::map<std::string, std::string> copied;  // destination -> source
  std::vector<std::string> entrypoint, cmd;
  for (const auto& ins : runtime) {
    if (ins.op == "COPY") {
      const auto w = words(ins.args);
      if (w.size() == 3 && w[0] == "--from=build") copied[w[2]] = w[1];
    } else if (ins.op == "ENTRYPOINT" || ins.op == "CMD") {
      const YAML::Node arr = YAML::Load(ins.args);  // the exec form is a JSON array
      ASSERT_TRUE(arr.IsSequence()) << ins.op << " must use the exec form";
      for (const auto& a : arr) (ins.op == "CMD" ? cmd : entrypoint).push_back(a.as<std::string>());
    }
  }
  EXPECT_EQ(copied["/usr/local/bin/clawfence"], "/src/build/clawfence");
  EXPECT_EQ(copied["/etc/clawfence/rules.d/"], "/src/rules/");
  EXPECT_EQ(entrypoint, std::vector<std::string>{"/usr/local/bin/clawfence"});
  EXPECT_EQ(cmd, (std::vector<std::string>{"agent", "--rules", "/etc/clawfence/rules.d"}));

  // The build context leaves out the host's build tree.
  const std::string ignore = slurp(repo_root() + "/.dockerignore");
  EXPECT_NE(ignore.find("\nbuild/\n"), std::string::npos);
  EXPECT_NE(ignore.find("\n.git\n"), std::string::npos);
}

// The libraries the agent binary names as DT_NEEDED.
std::vector<std::string> needed_libraries(const std::string& path, std::string* err) {
  std::vector<std::string> out;
  if (elf_version(EV_CURRENT) == EV_NONE) {
    *err = "libelf is too old";
    return out;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "cannot open " + path;
    return out;
  }
  Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
  for (Elf_Scn* scn = e ? elf_nextscn(e, nullptr) : nullptr; scn; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; ++i) {
      GElf_Dyn dyn;
      if (!gelf_getdyn(data, static_cast<int>(i), &dyn) || dyn.d_tag != DT_NEEDED) continue;
      if (const char* name = elf_strptr(e, sh.sh_link, dyn.d_un.d_val)) out.push_back(name);
    }
  }
  if (!e) *err = std::string("not an ELF file: ") + path;
  if (e) elf_end(e);
  close(fd);
  return out;
}

// The Debian package that ships a library (by its file name), "" if dpkg does not know it.
std::string package_of(const std::string& soname) {
  std::string out;
  if (run("dpkg -S " + sh_quote("*/" + soname), &out) != 0) return "";
  // "libbpf1:amd64: /lib/x86_64-linux-gnu/libbpf.so.1" (one line per path shipping it)
  const size_t end = out.find_first_of(":,");
  return end == std::string::npos ? "" : out.substr(0, end);
}

TEST(ManifestsDockerfile, RuntimeStageInstallsThePackageOfEveryLibraryTheAgentLinks) {
  const std::string bin = agent_binary();
  if (bin.empty() || !fs::is_regular_file(bin)) GTEST_SKIP() << "no built agent at '" << bin << "': skipped";
  std::string out;
  if (run("dpkg --version", &out) != 0) GTEST_SKIP() << "no dpkg here (not Debian): skipped";
  std::string err;
  const auto needed = needed_libraries(bin, &err);
  ASSERT_TRUE(err.empty()) << err;
  ASSERT_FALSE(needed.empty()) << bin << " links nothing dynamically?";

  const auto stages = dockerfile_stages(dockerfile());
  ASSERT_EQ(stages.size(), 2u);
  std::set<std::string> installed = apt_packages(stages[1]);
  installed.insert({"libc6", "libgcc-s1"});  // in debian:12-slim already
  for (const auto& lib : needed) {
    const std::string pkg = package_of(lib);
    ASSERT_FALSE(pkg.empty()) << lib << ": no Debian package ships it";
    EXPECT_TRUE(installed.count(pkg)) << bin << " needs " << lib << " from " << pkg
                                      << ", which deploy/container/Dockerfile's runtime stage does not install";
  }
}

// ---- the image, where a container engine runs -----------------------------------------------------

TEST(ManifestsContainerImage, BuildsAndPrintsTheVersion) {
  std::string out;
  std::string engine;
  for (const char* e : {"docker", "podman"}) {
    if (run(std::string("timeout 20 ") + e + " info", &out) == 0) {
      engine = e;
      break;
    }
  }
  if (engine.empty()) GTEST_SKIP() << "no container engine running here: skipped";
  // A full build from scratch: minutes. The tag is this process's, removed at the end.
  const std::string tag = "clawfence-manifests-test:" + std::to_string(getpid());
  const int rc = run("timeout 3600 " + engine + " build -f " + sh_quote(dockerfile()) + " -t " + tag + " " +
                         sh_quote(repo_root()),
                     &out);
  ASSERT_EQ(rc, 0) << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  const int vrc = run("timeout 60 " + engine + " run --rm " + tag + " version", &out);
  std::string ignored;
  run(engine + " rmi -f " + tag, &ignored);
  ASSERT_EQ(vrc, 0) << out;
  EXPECT_EQ(out.rfind("clawfence 0.1.0", 0), 0u) << out;
}

}  // namespace
}  // namespace clawfence::testing
