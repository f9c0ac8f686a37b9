// Package stats is the node agent's resource usage and capacity: the stats/v1alpha1 Summary
// the agent serves at /stats/summary (from which the API server's metrics.k8s.io, and so
// `kubectl top`, takes node and pod CPU and memory), and the node's status.capacity.
//
// The node's figures come from the root cgroup, as cAdvisor reads them for the kubelet:
// cpuacct.usage and memory.usage_in_bytes/memory.stat in the cgroup v1 layout, cpu.stat,
// memory.current and memory.stat in the v2 layout (chosen when the root has
// cgroup.controllers). The working set is usage less inactive file cache; available memory
// is MemTotal less the working set; the node's filesystem is a statfs of "/"; its start time
// is the boot time of /proc/stat.
//
// Pods come from CRI: the ready sandboxes (name, namespace and UID from their metadata), their
// running containers (ListContainers, which says each container's sandbox) and the runtime's
// ListContainerStats. A pod's CPU and memory are the sums of its containers'.
//
// CPU in nanocores is a rate, so the Provider keeps the last cumulative sample (with its time)
// of the node and of every container whose runtime does not give nanocores itself, and
// computes the rate against it. When a Summary has no sample to compare with (the first one,
// or a new container), it samples again 100 ms later, so that the first `kubectl top` is not
// empty. The samples are guarded by a mutex: concurrent Summary calls are safe, and a sample
// no newer than the kept one gets the kept rate.
package stats
