// Host files as this machine (hybrid cgroup v1, podman 4.3) and a cgroup v2 host show them, for the podman provider's tests.

/** /proc/self/mountinfo of a hybrid v1 host: a tmpfs with v1 hierarchies, and cgroup2 at unified/. */
export const HYBRID_HOST_MOUNTINFO = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`;

/** /proc/cgroups of that host: net_cls, perf_event, net_prio and hugetlb on no mounted hierarchy. */
export const HYBRID_HOST_CGROUPS = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	4	1
cpu	1	4	1
cpuacct	2	4	1
blkio	7	4	1
memory	4	51	1
devices	5	4	1
freezer	6	4	1
net_cls	0	3	1
perf_event	0	3	1
net_prio	0	3	1
hugetlb	0	3	1
pids	8	4	1
`;

/** /proc/self/mountinfo of a cgroup v2 host (systemd's unified mode). */
export const V2_HOST_MOUNTINFO = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

/** A node container's /proc/self/mountinfo on the hybrid host (podman --cgroupns=host, after the host prep). */
export const NODE_CONTAINER_MOUNTINFO = `83 60 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
94 83 0:51 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
95 94 0:29 /libpod_parent/libpod-ab12 /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
98 94 0:32 /libpod_parent/libpod-ab12 /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
99 94 0:39 /libpod_parent/libpod-ab12 /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,net_cls,net_prio
103 94 0:37 /libpod_parent/libpod-ab12 /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
104 103 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
54 104 0:45 /null /sys/fs/cgroup/systemd/release_agent rw,nosuid,noexec - tmpfs tmpfs rw,size=65536k,mode=755
`;
