// Package agent is Gantry's node agent: what the kubelet is to Kubernetes. It registers its
// Node, renews the node's Lease, and runs the pods bound to the node as real containers
// through a CRI runtime (containerd).
//
// The agent reaches the cluster only through the API (client-go), so it runs the same inside
// `gantry server` and on another machine.
//
// How a pod runs:
//
//   - An informer watches the pods bound to this node. Each pod gets a worker goroutine that
//     syncs it whenever the pod changes, its containers change in the runtime, a probe
//     result changes, or a back-off expires.
//   - A relist loop (the kubelet's PLEG) lists the runtime's sandboxes and containers every
//     second and wakes the worker of every pod whose containers changed state. Sandboxes and
//     containers carry the kubelet's labels (io.kubernetes.pod.uid, …), so a restarted agent
//     finds and adopts what it started before, without restarting anything.
//   - A sync drives the pod one step towards its spec: volumes, then the sandbox (network
//     namespace with a CNI address), then init containers one at a time, sidecars, and the
//     main containers; containers that exited are restarted under the pod's restartPolicy
//     with the kubelet's back-off (10 s doubling to 5 min); a container whose liveness probe
//     failed is killed and restarted. It then writes the pod's status as the kubelet would
//     (phase, conditions, container states with reasons, restart counts, IPs, QoS class) with
//     one strategic-merge patch, only when something changed.
//   - Deleting a pod runs preStop hooks, stops the containers within the grace period, stops
//     the sandbox, and then deletes the pod object for good; its volumes and exited
//     containers are removed once it is gone.
package agent
