# Sourced: CG, the memory cgroup of this scenario (cgroup v2 when its memory controller is there,
# else cgroup v1), and cg_limit FILE names. Named after WORKDIR so teardown finds it again.
cg_name=rb-scenario-$(printf '%s' "$WORKDIR" | cksum | cut -d' ' -f1)
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    CG=/sys/fs/cgroup/$cg_name; CG_LIMIT=memory.max
    grep -qw memory /sys/fs/cgroup/cgroup.subtree_control || echo +memory >/sys/fs/cgroup/cgroup.subtree_control
else
    CG=/sys/fs/cgroup/memory/$cg_name; CG_LIMIT=memory.limit_in_bytes
fi
