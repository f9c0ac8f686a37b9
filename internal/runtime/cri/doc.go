// Package cri gives the node agent its container runtime: a containerd it runs and supervises
// itself, and the CRI clients (k8s.io/cri-client) through which the agent drives it, or any
// other CRI runtime named with --container-runtime-endpoint.
//
// # The supervised containerd
//
// StartContainerd generates DATA/containerd/config.toml on every start, so a node always runs
// the config of the binary it has. The config keeps this containerd apart from any other on
// the machine (its own root, state, gRPC and ttrpc sockets; network namespaces and runc's state
// under its state dir; only the shims' sockets are where containerd 1.6 always puts them,
// /run/containerd/s/<hash of the socket path>), leaves out the plugins a CRI node never uses (other snapshotters, the restart monitor,
// the /opt installer, tracing), and sets what this kind of machine needs: restrict_oom_score_adj
// (a VM that refuses to lower oom_score_adj otherwise fails every sandbox in runc), cgroupfs
// with the runc v2 shim (no systemd), the pause image, the CNI directories, registry mirrors
// ("*" mirrors every host not listed; containerd falls back to the host itself after the
// mirrors and tells the mirror which host it stands in for in the ns query parameter), and a
// streaming server on 127.0.0.1 only. required_plugins makes containerd exit at once if the
// CRI plugin cannot load, rather than serve without it.
//
// containerd runs as a child in its own process group, with its output appended to
// containerd.log. A ^C in the agent's terminal therefore reaches the agent alone, which stops
// containerd in order (Stop: SIGTERM, then SIGKILL after 10s). There is no parent-death signal:
// if the agent is killed outright containerd keeps running, and so do the containers.
// containerd.pid records it; the next StartContainerd stops that containerd (checking its
// command line names this config, so a reused pid is never signalled) and starts a fresh one
// with the current config. If containerd dies while the agent runs, the supervisor starts it
// again, after 0.5s doubling to 30s, back to 0.5s after a minute of uptime.
//
// None of this disturbs containers: each runs under its containerd-shim-runc-v2, which
// containerd starts in a process group of its own and which outlives containerd. A new
// containerd reconnects to the shims and CRI reports the same sandboxes and containers, with
// the same ids, still running. Stop behaves as a kubelet's runtime does when the kubelet stops:
// containers keep running.
//
// # Talking CRI
//
// Connect waits until the endpoint answers CRI Version (a new connection per try, so a socket
// that appears is noticed at once), then returns the runtime and image services with the
// kubelet's default 2-minute request timeout. gRPC reconnects by itself after a containerd
// restart; calls in between fail and are retried by their callers.
package cri
