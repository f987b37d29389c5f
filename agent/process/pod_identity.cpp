#include "process/pod_identity.h"

#include <optional>
#include <string>
#include <vector>

namespace clawfence::process {
namespace {

constexpr std::string_view kGuaranteed = "guaranteed";
constexpr std::string_view kBurstable = "burstable";
constexpr std::string_view kBestEffort = "besteffort";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `s` if it is `n` hex digits, lower-cased.
std::optional<std::string> hex_of_length(std::string_view s, size_t n) {
  if (s.size() != n) return std::nullopt;
  std::string out(s);
  for (char& c : out) {
    if (!is_hex(c)) return std::nullopt;
    c = lower(c);
  }
  return out;
}

// A pod UID as the cgroup name writes it, with `sep` where the UUID has dashes ('_' in systemd
// slice names, '-' in cgroupfs directories), returned lower-case with dashes. API pods have a
// UUID (8-4-4-4-12). Static pods have 32 hex digits: the kubelet hashes the manifest to make the
// UID (pkg/kubelet/config/common.go, applyDefaults).
std::optional<std::string> parse_uid(std::string_view s, char sep) {
  if (s.size() == 32) return hex_of_length(s, 32);
  if (s.size() != 36) return std::nullopt;
  std::string out(s);
  for (size_t i = 0; i < out.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (out[i] != sep) return std::nullopt;
      out[i] = '-';
    } else if (!is_hex(out[i])) {
      return std::nullopt;
    } else {
      out[i] = lower(out[i]);
    }
  }
  return out;
}

struct PodCgroup {
  std::string uid;
  std::string_view qos;
};

// The QoS class of a pod whose kubelet cgroup name is {..., "kubepods", [qos], "pod<uid>"}
// (pkg/kubelet/cm/qos_container_manager_linux.go puts burstable and besteffort pods under a
// cgroup of that name, guaranteed ones directly under kubepods; pod_container_manager_linux.go
// names the pod "pod" + UID). `parent` is the component before the pod, `grandparent` the one
// before that.
std::optional<std::string_view> qos_of(std::string_view parent, std::string_view grandparent) {
  if (parent == "kubepods") return kGuaranteed;
  if (grandparent != "kubepods") return std::nullopt;
  if (parent == kBurstable) return kBurstable;
  if (parent == kBestEffort) return kBestEffort;
  return std::nullopt;
}

// systemd driver: the kubelet joins its cgroup name with '-' after turning each part's dashes
// into underscores, and systemd nests the slice under its '-' prefixes
// (pkg/kubelet/cm/cgroup_manager_linux.go, CgroupName.ToSystemd and escapeSystemdCgroupName):
// {"kubepods","burstable","pod<uid>"} is kubepods-burstable-pod<uid_>.slice. A --cgroup-root
// adds leading parts (kind: kubelet-kubepods-…).
std::optional<PodCgroup> parse_pod_slice(std::string_view name) {
  constexpr std::string_view kSlice = ".slice";
  if (!ends_with(name, kSlice)) return std::nullopt;
  std::string_view stem = name.substr(0, name.size() - kSlice.size());
  size_t pod = stem.rfind("-pod");
  if (pod == std::string_view::npos) return std::nullopt;
  auto uid = parse_uid(stem.substr(pod + 4), '_');
  if (!uid) return std::nullopt;

  std::string_view parents = stem.substr(0, pod);  // "kubepods-burstable", "kubepods", …
  size_t dash = parents.rfind('-');
  std::string_view parent = dash == std::string_view::npos ? parents : parents.substr(dash + 1);
  std::string_view grandparent;
  if (dash != std::string_view::npos) {
    std::string_view rest = parents.substr(0, dash);
    size_t d2 = rest.rfind('-');
    grandparent = d2 == std::string_view::npos ? rest : rest.substr(d2 + 1);
  }
  auto qos = qos_of(parent, grandparent);
  if (!qos) return std::nullopt;
  return PodCgroup{std::move(*uid), *qos};
}

// cgroupfs driver: the kubelet's cgroup name joined with '/' (CgroupName.ToCgroupfs):
// …/kubepods/burstable/pod<uid>.
std::optional<PodCgroup> parse_pod_dir(const std::vector<std::string_view>& parts, size_t i) {
  if (i == 0 || !starts_with(parts[i], "pod")) return std::nullopt;
  auto uid = parse_uid(parts[i].substr(3), '-');
  if (!uid) return std::nullopt;
  auto qos = qos_of(parts[i - 1], i >= 2 ? parts[i - 2] : std::string_view());
  if (!qos) return std::nullopt;
  return PodCgroup{std::move(*uid), *qos};
}

struct Container {
  std::string id;            // empty when the cgroup is not a container's (conmon)
  std::string_view runtime;  // empty when the name does not say
};

// How runtimes name a container's cgroup inside the pod's. With the systemd driver the runtime
// hands runc "slice:prefix:id" and runc's systemd driver makes the unit "<prefix>-<id>.scope"
// (runc libcontainer/cgroups/systemd, getUnitName); with cgroupfs it is a directory.
struct ContainerName {
  std::string_view prefix;
  std::string_view suffix;
  std::string_view runtime;
  bool is_container;  // false: a runtime helper beside the container
};
constexpr ContainerName kContainerNames[] = {
    // containerd's CRI plugin: prefix "cri-containerd" (getCgroupsPath); cgroupfs: the bare ID.
    {"cri-containerd-", ".scope", "containerd", true},
    // CRI-O (internal/config/cgmgr): conmon gets its own scope or directory, "crio-conmon-<id>",
    // in the pod when conmon_cgroup = "pod"; the container is "crio-<id>" (".scope" with
    // systemd). With systemd, a sandbox without an infra container still gets a plain
    // "crio-<id>" directory.
    {"crio-conmon-", ".scope", "cri-o", false},
    {"crio-conmon-", "", "cri-o", false},
    {"crio-", ".scope", "cri-o", true},
    {"crio-", "", "cri-o", true},
    // cri-dockerd: docker's systemd driver uses the prefix "docker"; cgroupfs: the bare ID.
    {"docker-", ".scope", "docker", true},
    // cgroupfs with containerd or cri-dockerd: the bare ID, which does not say which.
    {"", "", "", true},
};

constexpr size_t kContainerIdLength = 64;

std::optional<Container> parse_container(std::string_view name) {
  for (const ContainerName& form : kContainerNames) {
    if (!starts_with(name, form.prefix) || !ends_with(name, form.suffix)) continue;
    if (name.size() < form.prefix.size() + form.suffix.size()) continue;
    auto id = hex_of_length(name.substr(form.prefix.size(), name.size() - form.prefix.size() - form.suffix.size()),
                            kContainerIdLength);
    if (!id) continue;
    return Container{form.is_container ? std::move(*id) : std::string(), form.runtime};
  }
  return std::nullopt;
}

// The literal "slice:prefix:id" directory (see the header): the pod slice and the container in
// one component. The prefixes are the ones runtimes pass (containerd "cri-containerd", CRI-O
// "crio", docker "docker").
std::optional<PodCgroup> parse_colon_form(std::string_view name, std::optional<Container>* container) {
  size_t first = name.find(':');
  if (first == std::string_view::npos) return std::nullopt;
  size_t second = name.find(':', first + 1);
  if (second == std::string_view::npos || name.find(':', second + 1) != std::string_view::npos) return std::nullopt;
  auto pod = parse_pod_slice(name.substr(0, first));
  if (!pod) return std::nullopt;
  std::string_view prefix = name.substr(first + 1, second - first - 1);
  std::string_view runtime = prefix == "cri-containerd" ? "containerd"
                             : prefix == "crio"         ? "cri-o"
                             : prefix == "docker"       ? "docker"
                                                        : "";
  auto id = hex_of_length(name.substr(second + 1), kContainerIdLength);
  if (id && !runtime.empty()) *container = Container{std::move(*id), runtime};
  return pod;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

}  // namespace

bool pod_from_cgroup(std::string_view cgroup_path, v1::Pod* out) {
  const std::vector<std::string_view> parts = split_path(cgroup_path);
  // Outermost pod first: with nested kubelets it is the one this node's kubelet knows.
  for (size_t i = 0; i < parts.size(); ++i) {
    std::optional<PodCgroup> pod;
    std::optional<Container> container;
    std::string_view driver;
    std::string_view child = i + 1 < parts.size() ? parts[i + 1] : std::string_view();
    if ((pod = parse_pod_slice(parts[i]))) {
      driver = "systemd";
      container = parse_container(child);
    } else if ((pod = parse_pod_dir(parts, i))) {
      driver = "cgroupfs";
      container = parse_container(child);
    } else if ((pod = parse_colon_form(parts[i], &container))) {
      driver = "systemd";  // the name is the systemd driver's, whoever made the directory
    } else {
      continue;
    }
    out->set_uid(pod->uid);
    out->set_qos(std::string(pod->qos));
    out->set_cgroup_driver(std::string(driver));
    out->set_container_id(container ? container->id : std::string());
    out->set_runtime(container ? std::string(container->runtime) : std::string());
    return true;
  }
  return false;
}

}  // namespace clawfence::process
