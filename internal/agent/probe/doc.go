// Package probe runs a pod's liveness, readiness and startup probes as the kubelet does.
//
// The agent tells the Manager on every pod sync which containers run (Update); the Manager
// keeps one worker goroutine per (pod, container, probe kind) for each running container
// with that probe, bound to the container's ID, so a restarted container (new ID) gets fresh
// workers and fresh results. A worker waits out initialDelaySeconds from the container's
// start, then probes every periodSeconds with timeoutSeconds, and turns runs of
// successThreshold successes or failureThreshold failures into a result. Results start as
// the kubelet's: liveness succeeding, readiness failing, startup unknown. The startup probe
// gates the other two: they do not probe until it succeeded. A liveness failure or a startup
// result puts the worker on hold (it stops probing) until the container is replaced.
//
// The agent reads results back (Started, Ready, Liveness) while it syncs the pod, and the
// Manager calls onChange whenever a result changes so the agent syncs the pod again: it
// restarts containers whose liveness or startup probe failed and reports readiness in the
// pod's status.
//
// Every failed probe emits the kubelet's Warning event Unhealthy ("Liveness probe failed:
// <output>") on the container's field path. A probe that cannot run at all (a named port
// that does not exist, an exec that cannot start) is "errored": it emits an event but does
// not count towards a threshold, as in the kubelet.
//
// The handlers (http.go, tcp.go, exec.go, grpc.go) follow the kubelet's probers: HTTP GET
// without certificate verification, redirects followed only to the same host, a 10 KiB body
// limit and User-Agent kube-probe/1.37; a TCP connect; an exec through CRI ExecSync; a
// grpc.health.v1 Check.
package probe
