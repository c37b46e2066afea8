package runtime

import (
	"slices"
	"testing"
)

func TestParseCgroupMounts(t *testing.T) {
	hybrid := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory,release_agent=/x
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 40 0:37 /sub /sys/fs/cgroup/unified/sub rw,relatime - cgroup2 cgroup2 rw
42 22 0:27 / /sys/fs/cgroupx rw,relatime - cgroup cgroup rw,pids
`
	v2 := "29 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	for _, tc := range []struct {
		name, in string
		want     []cgroupMount
	}{
		{"hybrid", hybrid, []cgroupMount{{"cpu,cpuacct", "cgroup", "cpu,cpuacct"}, {"memory", "cgroup", "memory"},
			{"systemd", "cgroup", "xattr,name=systemd"}, {"unified", "cgroup2", ""}}},
		{"v2", v2, []cgroupMount{{"", "cgroup2", "nsdelegate,memory_recursiveprot"}}},
		{"none", "22 1 0:20 / /sys rw - sysfs sysfs rw\n", nil},
	} {
		if got := parseCgroupMounts(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
