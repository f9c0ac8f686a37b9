// Package nodeipam gives every Node a pod range, as kube-controller-manager's range allocator
// does: a Node without spec.podCIDR gets the next free subnet of --cluster-cidr with
// --node-cidr-mask-size bits (100.64.0.0/16 and /24 by default, 256 nodes), written to
// spec.podCIDR and spec.podCIDRs. The node's agent routes that range to its pods.
//
// The allocator's state is not stored anywhere: at start (and so after every restart or leader
// change) it is rebuilt from the ranges the existing Nodes hold, before any new range is
// handed out, so a range is never given twice. Nodes that already have a range keep it; the
// range of a deleted Node is freed. podCIDR is immutable once set, so the write is a merge
// patch that carries the resourceVersion the decision was made on: if the Node changed
// meanwhile the patch conflicts and the Node is looked at again.
//
// Ranges are handed out in turn after the last one given, so a freed range is not reused at
// once, and a Node re-created under the name of a deleted one gets its old range back when
// that is still free (a re-joining machine keeps its pod addresses).
//
// When the range is exhausted the Node gets the event CIDRNotAvailable and the condition
// NetworkUnavailable=True (reason CIDRNotAvailable; the node lifecycle controller turns it into
// the network-unavailable NoSchedule taint); it is retried with backoff and whenever a range is
// freed, and the condition turns False once the Node has a range.
//
// Only IPv4 is allocated (the first entry of podCIDRs); subnets that overlap the service range
// are never handed out.
package nodeipam
