// find_cgroup2_mount over mountinfo text.
#include "sensor/kernel.h"

#include <gtest/gtest.h>

#include <string>

namespace clawfence::sensor {
namespace {

TEST(FindCgroup2Mount, HybridLayout) {
  const std::string mountinfo =
      "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
      "25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755,inode64\n"
      "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
      "rw,nsdelegate\n"
      "27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
      "rw,xattr,name=systemd\n"
      "31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n";
  EXPECT_EQ(find_cgroup2_mount(mountinfo), "/sys/fs/cgroup/unified");
}

TEST(FindCgroup2Mount, UnifiedLayout) {
  const std::string mountinfo =
      "24 30 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
      "26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n"
      "27 23 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw\n";
  EXPECT_EQ(find_cgroup2_mount(mountinfo), "/sys/fs/cgroup");
}

TEST(FindCgroup2Mount, NoOptionalFieldsAndNoTrailingNewline) {
  EXPECT_EQ(find_cgroup2_mount("30 29 0:26 / /run/cg rw,relatime - cgroup2 none rw"), "/run/cg");
}

TEST(FindCgroup2Mount, NoneFound) {
  const std::string mountinfo =
      "25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
      "27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,name=systemd\n"
      // "cgroup2" as the source of another file system does not count
      "28 25 0:26 / /mnt/x rw shared:12 - tmpfs cgroup2 rw\n";
  EXPECT_EQ(find_cgroup2_mount(mountinfo), "");
  EXPECT_EQ(find_cgroup2_mount(""), "");
  EXPECT_EQ(find_cgroup2_mount("garbage\n- cgroup2\n"), "");
}

}  // namespace
}  // namespace clawfence::sensor
