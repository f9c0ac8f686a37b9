// Package dns is the cluster DNS that every node agent answers from its own informer cache,
// so that a pod's queries never leave its node and need no DNS pods.
//
// Names inside the cluster domain follow the Kubernetes DNS specification (schema 1.1.0) as
// CoreDNS's kubernetes plugin answers it, in its "pods insecure" mode:
//
//   - <svc>.<ns>.svc.<zone>: A/AAAA of the cluster IPs, or of every ready endpoint of a
//     headless Service (not-ready ones too with publishNotReadyAddresses); a headless Service
//     without such endpoints does not exist (NXDOMAIN); an ExternalName Service is a CNAME,
//     resolved further for A/AAAA questions;
//   - <hostname>.<svc>.<ns>.svc.<zone>: a headless endpoint, by its hostname or, without one,
//     its address with dashes (10-0-0-1);
//   - _<port>._<proto>.<svc>.<ns>.svc.<zone>: SRV for named ports, targeting the Service
//     name, or each endpoint's name for a headless Service, with their addresses in the
//     additional section; an SRV question for the Service name itself gets every port;
//   - <a-b-c-d>.<ns>.pod.<zone>: the address written in the name;
//   - PTR for cluster IPs and headless endpoint addresses; other reverse names go upstream;
//   - dns-version.<zone>: TXT "1.1.0"; the apex: SOA and NS.
//
// A missing name is NXDOMAIN and an existing name without the type asked is NODATA, both with
// the zone's SOA, whose minimum (the TTL) lets resolvers cache them. A name with names below
// it (ns.svc.<zone>) exists. Names outside the zone are forwarded to upstream resolvers in
// order, over UDP and again over TCP when truncated, through a cache that honours the TTLs
// of answers and of negative answers (RFC 2308). SERVFAIL means every upstream failed, or,
// for cluster names, that the informers have not synced yet.
//
// Each query is one map lookup: an index from name to its records, rebuilt one Service at a
// time on informer events (index.go, records.go, informer.go). zone.go answers cluster
// names, forward.go and cache.go the rest, respond.go turns a raw packet into a raw answer
// (FORMERR for a malformed one), and serve.go is the UDP and TCP transport.
package dns
