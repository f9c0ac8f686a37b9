// Package simulate runs simulated nodes: `gantry agent --simulate N`. It is a capacity-planning
// and scale-testing tool. N nodes with the capacity, labels, zones and taints you choose
// register with the API server, stay Ready, and run the pods bound to them in the API only:
// no container is started and no packet is sent. With it one process can show how the
// scheduler spreads a workload over 5,000 nodes of a given shape, how many pods fit, or how the
// control plane holds up with thousands of nodes heartbeating and pods starting and
// stopping. It talks only to the API through client-go, so it runs against any
// Kubernetes-compatible server, Gantry's or another.
//
// # What a simulated node does
//
//   - Registration: the Node <prefix>-<i> is created (or updated, if it exists: registering
//     again works) with capacity = allocatable, the labels kubernetes.io/hostname,
//     kubernetes.io/os=linux, kubernetes.io/arch, topology.kubernetes.io/zone (zone-a, zone-b,
//     … round-robin), node.kubernetes.io/instance-type=simulated and gantry.dev/simulated=true,
//     conditions Ready=True and no pressure, nodeInfo kubeletVersion v1.37.2-gantry-sim and
//     containerRuntimeVersion simulated://1, and a made-up InternalIP. Then its Lease in
//     kube-node-lease, owned by the Node.
//   - Liveness: the Lease's renewTime is renewed every LeaseRenewInterval (10 s), and the Node's
//     condition heartbeats every NodeStatusInterval (1 min; the kubelet writes status every 5
//     min when nothing changes, the Lease being what proves it alive).
//   - Pods: a pod bound to a simulated node becomes Running and Ready PodStartDelay after the
//     agent sees it (all containers running, init containers completed, a pod IP from the
//     node's block); a pod owned by a Job succeeds JobDuration after it started (exit code 0,
//     reason Completed), or fails then if it has the annotation gantry.dev/simulate-exit-code
//     (ExitCodeAnnotation): its containers exit with that code, reason Error; a pod being deleted (deletionTimestamp set) is deleted at once with
//     grace period 0, as a kubelet does once the containers have stopped.
//   - Readiness: a running pod is Ready when every readiness gate's condition in its status
//     is True, as with a kubelet; setting the gate's condition (a pods/status patch) makes it
//     Ready, and a Ready condition someone else set to False is set back.
//   - A Node deleted by someone else stays deleted (its Lease and heartbeat stop) until the
//     agent restarts, as with a kubelet.
//
// # Cost
//
// The agent is built to run thousands of nodes in one small process:
//
//   - Lease renewals are a single update of the last copy the server returned, renewTime
//     only, with no read before; they are spread evenly over the interval (node i of N is
//     first due at i/N of it), and run by a bounded worker pool over one workqueue. 5,000
//     nodes at 10 s make 500 small writes a second, steadily rather than in bursts.
//   - Pods come through ONE watch of all bound pods (fieldSelector spec.nodeName!=) filtered
//     in the agent. A field selector cannot express "one of N nodes", and a watch per node,
//     as N kubelets would hold, costs the server N watchers that each examine every pod
//     change. Pods bound to other nodes are cut down to their name and node by the informer's
//     transform, and managedFields are dropped, so the cache holds little beyond our own pods.
//   - Pod status is written with pods/status updates of the cached copy (conflicts are
//     decided again on a fresh copy); timers are the workqueue's (RequeueAfter), never one
//     goroutine per pod.
//   - The client's rate limit, unless set, is twice the nodes' steady write rate plus 500/s,
//     with a burst of twice that for registration.
//
// # Addresses
//
// Host and pod addresses are made up from PodCIDR, by default 198.18.0.0/15 (RFC 2544's
// benchmarking range, reserved and never routed): one block per node, a /24 or smaller so
// that all nodes fit (128 addresses each for 1,000 nodes, 16 for 5,000). They appear in
// status only. When a node has more pods than addresses, addresses repeat (the agent warns);
// give a larger PodCIDR for dense large clusters.
//
// # Not simulated
//
// Container logs, exec, port-forward and metrics (no kubelet endpoint is served; the Node's
// daemonEndpoints are empty); probes, restarts and failures (but for ExitCodeAnnotation);
// resource usage and evictions; volumes; pods with a phase other than
// Pending when first seen.
//
// # Credentials
//
// Run takes a rest.Config. `gantry agent` builds it from --kubeconfig, or from --server and
// --token (TokenConfig: the join token as a bearer token, the CA pinned by its hash). A
// join token may only request certificates, and a node certificate writes only its own
// Node, so simulated nodes need an admin kubeconfig.
package simulate
