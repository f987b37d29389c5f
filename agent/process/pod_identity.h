// Pod identity from a cgroup v2 path: which Kubernetes pod (UID, QoS class) and which container
// a process runs in, read from the names the kubelet and the container runtime give the cgroups
// they create. No API call is needed; name, namespace, labels and image are resolved elsewhere.
//
// Who makes which name (the sources are cited where each name is parsed, in pod_identity.cpp):
//
//   kubelet, systemd driver   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice
//                             (guaranteed pods sit directly in kubepods.slice as kubepods-pod<uid_>.slice;
//                             the UID's dashes become underscores; a --cgroup-root such as kind's
//                             /kubelet prefixes every slice: kubelet-kubepods-burstable-pod<uid_>.slice)
//   kubelet, cgroupfs driver  /kubepods/burstable/pod<uid>  (guaranteed: /kubepods/pod<uid>)
//   containerd (CRI)          systemd: cri-containerd-<id>.scope;  cgroupfs: <id>
//   CRI-O                     systemd: crio-<id>.scope, conmon in crio-conmon-<id>.scope;
//                             cgroupfs: crio-<id>, conmon in crio-conmon-<id>
//   cri-dockerd (docker)      systemd: docker-<id>.scope;  cgroupfs: <id>
//   runc's cgroupfs driver given a systemd-style path "slice:prefix:id" (a runtime configured for
//   cgroupfs under a systemd kubelet) makes one literal directory of that name, under the
//   runtime's own cgroup: /system.slice/containerd.service/kubepods-…-pod<uid_>.slice:cri-containerd:<id>
//
// Decisions:
//   - The path is scanned component by component, so any prefix (a nested node such as kind's
//     /system.slice/docker-<node>.scope/…, a k3s root, a cgroup namespace) is accepted, and
//     sub-cgroups a container makes below its own (crun's, systemd in a container, …) are ignored.
//   - When pods nest (a kubelet running inside a pod), the outermost pod is reported: it is the
//     one the node's own kubelet and API server know.
//   - conmon (CRI-O's monitor, crio-conmon-<id>) is in the pod but not in the container: the pod
//     is reported with runtime cri-o and an empty container_id, so that conmon's actions are
//     never attributed to the workload.
//   - The pod's sandbox (pause) container looks like any other container in the path; its ID is
//     reported as is (telling it apart needs the runtime's API).
//   - A bare 64-hex ID (cgroupfs) is made by containerd and by cri-dockerd alike: runtime is left
//     empty then.
//   - A child of the pod cgroup that is not a known container name leaves container_id empty;
//     the process is still in the pod.
//   - Static pods (from the kubelet's manifest directory) have a 32-hex UID (a hash, no dashes);
//     it is accepted and reported as it is written. The API's mirror pod has a UID of its own and
//     carries this one in its kubernetes.io/config.mirror annotation.
#pragma once

#include <string_view>

#include "proto/clawfence.pb.h"

namespace clawfence::process {

// Fills uid, container_id, qos, runtime and cgroup_driver of `out` (other fields are left as
// they are) and returns true when `cgroup_path` (relative to the cgroup v2 mount) lies in a
// Kubernetes pod's cgroup. Returns false, leaving `out` untouched, otherwise.
// Values: uid lower-case with dashes (or the 32-hex static-pod form); container_id 64 lower-case
// hex or empty; qos guaranteed|burstable|besteffort; runtime containerd|cri-o|docker or empty;
// cgroup_driver systemd|cgroupfs.
bool pod_from_cgroup(std::string_view cgroup_path, v1::Pod* out);

}  // namespace clawfence::process
