// Pod metadata: the namespace, name, labels, container name and image of the pods on this node,
// read from a pod list (the kubelet's /pods, or the API server's /api/v1/pods filtered to the
// node), so records can carry them and targets can name pods by them. Off unless configured:
// the cgroup path alone gives the pod UID and container ID (process/pod_identity.h).
//
// Decisions:
//   - One refresh thread polls the list (no watch): a node holds at most a few hundred pods and
//     the kubelet's list is local, so a poll every few seconds is cheap and has no resume state.
//   - start() fetches once before it returns, so resolve() answers from the first record on when
//     the source is up; a failing first fetch does not fail start() (the kubelet may still be
//     starting) — it is counted and retried at every refresh.
//   - TLS is verified (against ca_file when it exists, else the system's CAs); skipping the
//     verification is an explicit option, logged at start, for kubelets with self-signed serving
//     certificates. Plain http is refused except to a loopback host: the kubelet's read-only
//     port (10255) listens on the node, and loopback traffic never leaves it.
//   - The bearer token is read from token_file at every fetch (bound tokens rotate) and sent
//     only when the file exists; the token never appears in a log line or an error.
//   - Environment proxies are not used: the kubelet and the API server's service address are
//     inside the node and the cluster.
//   - A failed fetch keeps the last good list; failures are counted and logged at most once a
//     minute.
//   - A static pod's cgroup path carries the hash of its manifest as UID, while the API server
//     lists its mirror pod under another UID with the hash in the kubernetes.io/config.mirror
//     annotation: both UIDs resolve, and match() returns the hash, the UID the cgroups carry.
//   - Pod.image is the image as the pod spec names it (what operators write in manifests);
//     image globs in a selector match that or the image as the runtime resolved it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proto/clawfence.pb.h"

namespace clawfence::process {

struct PodSourceOptions {
  // e.g. "https://127.0.0.1:10250/pods" (kubelet, needs a token), "http://127.0.0.1:10255/pods"
  // (the kubelet's read-only port), or
  // "https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName=<node>" (API server)
  std::string url;
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  bool insecure_kubelet_tls = false;   // skip TLS verification (self-signed kubelet certificate)
  std::chrono::milliseconds refresh{10000};
  std::chrono::milliseconds timeout{5000};
};

// Which pods a target names. Every non-empty part must match; within a part, any entry may.
// Globs are fnmatch(3) globs in which '*' also matches '/' (image names contain slashes).
// An empty selector matches every pod in the list.
struct PodSelector {
  std::vector<std::string> namespaces;        // globs
  std::vector<std::string> names;             // globs
  std::vector<std::string> images;            // globs over any container's image
  std::map<std::string, std::string> labels;  // all must be equal
};

struct PodMetadataStats {
  uint64_t fetches = 0;    // attempts
  uint64_t failures = 0;   // attempts that did not replace the list
  uint64_t pods = 0;       // in the list in force
};

class PodMetadata {
 public:
  // Checks the options, fetches the list once and starts the refresh thread. Returns nullptr
  // with `err` set when the options cannot work (bad URL, plain http to another host).
  static std::unique_ptr<PodMetadata> start(const PodSourceOptions& opts, std::string* err);
  ~PodMetadata();
  PodMetadata(const PodMetadata&) = delete;
  PodMetadata& operator=(const PodMetadata&) = delete;

  // Fills namespace, name and labels of `pod` (whose uid is set) and, when its container_id is
  // one the list knows, container_name and image. Returns false, leaving `pod` untouched, when
  // the uid is not in the list (not yet listed, or no source answered yet).
  bool resolve(v1::Pod* pod) const;

  // The UIDs (as cgroup paths carry them) of the listed pods `selector` matches, sorted.
  std::vector<std::string> match(const PodSelector& selector) const;

  // Bumps whenever a fetch brings a list that differs from the one in force (in the parts read
  // here), so callers can recompute what they derived from it. 0 until the first list.
  uint64_t generation() const;

  PodMetadataStats stats() const;

 private:
  class Impl;
  explicit PodMetadata(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses a v1 PodList (JSON) into the subset read here; false with `err` set when it is not one.
bool parse_pod_list(const std::string& json, v1::KubePodList* out, std::string* err);

// A container ID as a status gives it ("containerd://<id>", "cri-o://<id>") in the form cgroup
// paths carry it (the ID alone, lower-case).
std::string strip_container_scheme(const std::string& status_id);

}  // namespace clawfence::process
