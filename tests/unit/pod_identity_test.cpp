// Pod identity from cgroup paths, for every layout the kubelet's two cgroup drivers and the
// runtimes (containerd, CRI-O, cri-dockerd) make, as they appear on real nodes, and for paths
// that only look like them.
#include "process/pod_identity.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace clawfence::process {
namespace {

struct Layout {
  const char* name;
  const char* path;
  bool in_pod;
  const char* uid = "";
  const char* container_id = "";
  const char* qos = "";
  const char* runtime = "";
  const char* driver = "";
};

// Pod UIDs (API pods are UUIDs; static pods a 32-hex hash), as the API shows them.
#define UID_A "526120d8-1661-46ed-87be-f7f63847bc8a"
#define UID_A_ "526120d8_1661_46ed_87be_f7f63847bc8a"  // as systemd slice names write it
#define UID_B "fbd47bb0-b010-4b27-a676-a44fb1b299a6"
#define UID_B_ "fbd47bb0_b010_4b27_a676_a44fb1b299a6"
#define UID_STATIC "4ffdde315afaef4f06ce8c3758390498"
// Container IDs (64 hex).
#define CTR1 "adf04e8d003f0537a04041a5241a7310061586cc8719c346dc3eea4d1bef5e7c"
#define CTR2 "2c76c7596a71eff5d25a84a9b564cd2c1bf087002fafaf869db25b8a822e814d"
#define CTR3 "40c77770537abe3f690500709e76928b00dab6285564ad1ba727b13d9921f60e"
#define NODE "07447f4ead1bb945b9342ac58b97c976f7e9aa67799845fbdf47fd95104d8c4c"  // a kind node's docker ID

const Layout kLayouts[] = {
    // systemd driver + containerd, the three QoS classes
    {"SystemdContainerdGuaranteed",
     "/kubepods.slice/kubepods-pod" UID_A_ ".slice/cri-containerd-" CTR1 ".scope", true, UID_A, CTR1,
     "guaranteed", "containerd", "systemd"},
    {"SystemdContainerdBurstable",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A_ ".slice/cri-containerd-" CTR1 ".scope",
     true, UID_A, CTR1, "burstable", "containerd", "systemd"},
    {"SystemdContainerdBestEffort",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_B_ ".slice/cri-containerd-" CTR2 ".scope",
     true, UID_B, CTR2, "besteffort", "containerd", "systemd"},
    // systemd driver + CRI-O
    {"SystemdCrio",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A_ ".slice/crio-" CTR1 ".scope", true,
     UID_A, CTR1, "burstable", "cri-o", "systemd"},
    {"SystemdCrioConmonInPod",  // conmon_cgroup = "pod": in the pod, not in the container
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A_ ".slice/crio-conmon-" CTR1 ".scope",
     true, UID_A, "", "burstable", "cri-o", "systemd"},
    {"SystemdCrioConmonInSystemSlice",  // conmon_cgroup = "system.slice" (the default): no pod
     "/system.slice/crio-conmon-" CTR1 ".scope", false},
    {"SystemdCrioUnderCrun",  // crun configures a child of the container's scope
     "/kubepods.slice/kubepods-pod" UID_B_ ".slice/crio-" CTR2 ".scope/container", true, UID_B, CTR2,
     "guaranteed", "cri-o", "systemd"},
    {"SystemdCrioDroppedInfraSandbox",  // the sandbox cgroup CRI-O makes when there is no pause
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_B_ ".slice/crio-" CTR3, true, UID_B,
     CTR3, "besteffort", "cri-o", "systemd"},
    // systemd driver + cri-dockerd
    {"SystemdCriDockerd",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_A_ ".slice/docker-" CTR3 ".scope", true,
     UID_A, CTR3, "besteffort", "docker", "systemd"},
    // cgroupfs driver + containerd (or cri-dockerd: the bare ID does not say which)
    {"CgroupfsContainerdGuaranteed", "/kubepods/pod" UID_A "/" CTR1, true, UID_A, CTR1, "guaranteed", "",
     "cgroupfs"},
    {"CgroupfsContainerdBurstable", "/kubepods/burstable/pod" UID_A "/" CTR1, true, UID_A, CTR1, "burstable", "",
     "cgroupfs"},
    {"CgroupfsContainerdBestEffort", "/kubepods/besteffort/pod" UID_B "/" CTR2, true, UID_B, CTR2, "besteffort", "",
     "cgroupfs"},
    // cgroupfs driver + CRI-O
    {"CgroupfsCrio", "/kubepods/burstable/pod" UID_B "/crio-" CTR2, true, UID_B, CTR2, "burstable", "cri-o",
     "cgroupfs"},
    {"CgroupfsCrioConmon", "/kubepods/burstable/pod" UID_B "/crio-conmon-" CTR2, true, UID_B, "", "burstable",
     "cri-o", "cgroupfs"},
    // kind: the kubelet's --cgroup-root /kubelet prefixes every slice
    {"KindNode",
     "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" UID_A_
     ".slice/cri-containerd-" CTR1 ".scope",
     true, UID_A, CTR1, "burstable", "containerd", "systemd"},
    {"KindNodeSeenFromHost",  // the node's own docker scope is not the pod's container
     "/system.slice/docker-" NODE ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_B_
     ".slice/cri-containerd-" CTR2 ".scope",
     true, UID_B, CTR2, "guaranteed", "containerd", "systemd"},
    // k3s (cgroupfs) in a container, seen from the host
    {"K3sUnderPrefix", "/system.slice/docker-" NODE ".scope/kubepods/besteffort/pod" UID_A "/" CTR3, true, UID_A,
     CTR3, "besteffort", "", "cgroupfs"},
    // a systemd kubelet with a runtime left on cgroupfs: runc makes "slice:prefix:id" literally,
    // under the runtime's own cgroup
    {"ColonFormContainerd",
     "/system.slice/containerd.service/kubepods-burstable-pod" UID_A_ ".slice:cri-containerd:" CTR1, true, UID_A,
     CTR1, "burstable", "containerd", "systemd"},
    {"ColonFormCrio", "/system.slice/crio.service/kubepods-pod" UID_B_ ".slice:crio:" CTR2, true, UID_B, CTR2,
     "guaranteed", "cri-o", "systemd"},
    {"ColonFormUnknownPrefix",  // the pod is known, the container is not
     "/system.slice/containerd.service/kubepods-burstable-pod" UID_A_ ".slice:other:" CTR1, true, UID_A, "",
     "burstable", "", "systemd"},
    {"ColonFormBadId", "/system.slice/containerd.service/kubepods-burstable-pod" UID_A_ ".slice:cri-containerd:xyz",
     true, UID_A, "", "burstable", "", "systemd"},
    // sub-cgroups a container makes below its own
    {"SubCgroupUnderScope",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A_ ".slice/cri-containerd-" CTR1
     ".scope/init.scope",
     true, UID_A, CTR1, "burstable", "containerd", "systemd"},
    {"SubCgroupsUnderCgroupfsId", "/kubepods/burstable/pod" UID_B "/" CTR2 "/sub/deeper", true, UID_B, CTR2,
     "burstable", "", "cgroupfs"},
    {"SubCgroupUnderColonForm",
     "/system.slice/containerd.service/kubepods-besteffort-pod" UID_B_ ".slice:cri-containerd:" CTR2 "/init", true,
     UID_B, CTR2, "besteffort", "containerd", "systemd"},
    // the pod's own cgroup, no container
    {"SystemdPodItself", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A_ ".slice", true,
     UID_A, "", "burstable", "", "systemd"},
    {"CgroupfsPodItself", "/kubepods/besteffort/pod" UID_B, true, UID_B, "", "besteffort", "", "cgroupfs"},
    {"CgroupfsPodItselfTrailingSlash", "/kubepods/pod" UID_B "/", true, UID_B, "", "guaranteed", "", "cgroupfs"},
    // static pods: the UID is the kubelet's 32-hex hash of the manifest
    {"StaticPodSystemd",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_STATIC ".slice/cri-containerd-" CTR3
     ".scope",
     true, UID_STATIC, CTR3, "burstable", "containerd", "systemd"},
    {"StaticPodCgroupfs", "/kubepods/burstable/pod" UID_STATIC "/" CTR3, true, UID_STATIC, CTR3, "burstable", "",
     "cgroupfs"},
    // a kubelet in a pod (nested node): the outer pod, the one this node's kubelet knows
    {"NestedPodsOuterWins",
     "/kubepods/burstable/pod" UID_A "/" CTR1 "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_B_
     ".slice/cri-containerd-" CTR2 ".scope",
     true, UID_A, CTR1, "burstable", "", "cgroupfs"},
    // in a pod, but the child is no container name: the pod only
    {"ChildIdTooShort",  // 63 hex
     "/kubepods/burstable/pod" UID_A "/adf04e8d003f0537a04041a5241a7310061586cc8719c346dc3eea4d1bef5e7",
     true, UID_A, "", "burstable", "", "cgroupfs"},
    {"ChildIdTooLong",
     "/kubepods.slice/kubepods-pod" UID_A_ ".slice/cri-containerd-" CTR1 "0.scope", true, UID_A, "", "guaranteed",
     "", "systemd"},
    {"ChildIdNotHex",
     "/kubepods.slice/kubepods-pod" UID_A_
     ".slice/cri-containerd-zdf04e8d003f0537a04041a5241a7310061586cc8719c346dc3eea4d1bef5e7c.scope",
     true, UID_A, "", "guaranteed", "", "systemd"},
    {"ChildUnknownPrefix", "/kubepods.slice/kubepods-pod" UID_A_ ".slice/libpod-" CTR1 ".scope", true, UID_A, "",
     "guaranteed", "", "systemd"},

    // not Kubernetes
    {"Empty", "", false},
    {"Root", "/", false},
    {"SystemService", "/system.slice/openclaw-gateway.service", false},
    {"UserService", "/user.slice/user-1000.slice/user@1000.service/app.slice/openclaw-gateway.service", false},
    {"DockerContainer", "/system.slice/docker-" CTR1 ".scope", false},
    {"PodmanPod", "/machine.slice/machine-libpod_pod_" CTR1 ".slice/libpod-" CTR2 ".scope", false},
    {"QosSliceOnly", "/kubepods.slice/kubepods-burstable.slice", false},
    {"QosDirOnly", "/kubepods/burstable", false},
    {"KubepodsOnly", "/kubepods", false},
    // look-alikes
    {"PodWordWithoutUid", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podcast.slice", false},
    {"SliceUidWithDashes",  // systemd names never keep the UID's dashes
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_A ".slice/cri-containerd-" CTR1 ".scope",
     false},
    {"DirUidWithUnderscores", "/kubepods/burstable/pod" UID_A_ "/" CTR1, false},
    {"UidNotHex", "/kubepods/burstable/pod526120d8-1661-46ed-87be-f7f63847bc8g/" CTR1, false},
    {"UidTooShort", "/kubepods/burstable/pod526120d8-1661-46ed-87be-f7f63847bc8/" CTR1, false},
    {"UidDashesMisplaced", "/kubepods/burstable/pod526120d81-661-46ed-87be-f7f63847bc8a/" CTR1, false},
    {"UnknownQosDir", "/kubepods/premium/pod" UID_A "/" CTR1, false},
    {"QosWithoutKubepods", "/tenants/burstable/pod" UID_A "/" CTR1, false},
    {"PodDirWithoutKubepods", "/system.slice/pod" UID_A "/" CTR1, false},
    {"SliceWithoutKubepods", "/apps.slice/apps-burstable.slice/apps-burstable-pod" UID_A_ ".slice", false},
    {"SliceUnknownQos", "/kubepods.slice/kubepods-gold.slice/kubepods-gold-pod" UID_A_ ".slice", false},
    {"PodScopeNotSlice", "/kubepods.slice/kubepods-pod" UID_A_ ".scope", false},
    {"UserScopeNamedPod",
     "/user.slice/user-1000.slice/user@1000.service/app.slice/pod" UID_A ".scope", false},
    {"ColonFormNotAPodSlice", "/system.slice/containerd.service/system.slice:cri-containerd:" CTR1, false},
    {"ColonFormTooManyParts",
     "/system.slice/containerd.service/kubepods-pod" UID_A_ ".slice:cri-containerd:" CTR1 ":x", false},
};

void PrintTo(const Layout& l, std::ostream* os) { *os << '"' << l.path << '"'; }

class PodLayout : public testing::TestWithParam<Layout> {};

TEST_P(PodLayout, ParsesAsTheNodeMadeIt) {
  const Layout& l = GetParam();
  v1::Pod pod;
  ASSERT_EQ(pod_from_cgroup(l.path, &pod), l.in_pod) << l.path;
  if (!l.in_pod) {
    EXPECT_EQ(pod.ByteSizeLong(), 0u) << "left untouched when not in a pod";
    return;
  }
  EXPECT_EQ(pod.uid(), l.uid);
  EXPECT_EQ(pod.container_id(), l.container_id);
  EXPECT_EQ(pod.qos(), l.qos);
  EXPECT_EQ(pod.runtime(), l.runtime);
  EXPECT_EQ(pod.cgroup_driver(), l.driver);
}

INSTANTIATE_TEST_SUITE_P(PodIdentity, PodLayout, testing::ValuesIn(kLayouts),
                         [](const testing::TestParamInfo<Layout>& info) { return std::string(info.param.name); });

TEST(PodIdentity, FixtureIdsHaveTheirRealLengths) {
  EXPECT_EQ(std::string(CTR1).size(), 64u);
  EXPECT_EQ(std::string(CTR2).size(), 64u);
  EXPECT_EQ(std::string(CTR3).size(), 64u);
  EXPECT_EQ(std::string(UID_A).size(), 36u);
  EXPECT_EQ(std::string(UID_STATIC).size(), 32u);
}

TEST(PodIdentity, UpperCaseHexIsReportedLowerCase) {
  v1::Pod pod;
  ASSERT_TRUE(pod_from_cgroup("/kubepods/burstable/pod526120D8-1661-46ED-87BE-F7F63847BC8A/"
                              "ADF04E8D003F0537A04041A5241A7310061586CC8719C346DC3EEA4D1BEF5E7C",
                              &pod));
  EXPECT_EQ(pod.uid(), UID_A);
  EXPECT_EQ(pod.container_id(), CTR1);
}

TEST(PodIdentity, ResolvedFieldsAreKeptAndContainerFieldsReplaced) {
  v1::Pod pod;
  pod.set_name("gateway-0");
  pod.set_namespace_("openclaw");
  (*pod.mutable_labels())["app"] = "openclaw";
  ASSERT_TRUE(pod_from_cgroup("/kubepods/burstable/pod" UID_A "/crio-" CTR1, &pod));
  EXPECT_EQ(pod.container_id(), CTR1);
  EXPECT_EQ(pod.runtime(), "cri-o");
  // the same Pod reused for the pod's own cgroup: no container, no runtime left behind
  ASSERT_TRUE(pod_from_cgroup("/kubepods/burstable/pod" UID_A, &pod));
  EXPECT_EQ(pod.container_id(), "");
  EXPECT_EQ(pod.runtime(), "");
  EXPECT_EQ(pod.name(), "gateway-0");
  EXPECT_EQ(pod.namespace_(), "openclaw");
  EXPECT_EQ(pod.labels().at("app"), "openclaw");
}

TEST(PodIdentity, NotInAPodLeavesThePodUntouched) {
  v1::Pod pod;
  pod.set_uid(UID_B);
  pod.set_container_id(CTR2);
  EXPECT_FALSE(pod_from_cgroup("/system.slice/openclaw-gateway.service", &pod));
  EXPECT_EQ(pod.uid(), UID_B);
  EXPECT_EQ(pod.container_id(), CTR2);
}

}  // namespace
}  // namespace clawfence::process
