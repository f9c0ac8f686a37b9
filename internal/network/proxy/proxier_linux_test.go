package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// topology is a node with pods on a bridge and a host outside the cluster, all in namespaces
// the test made (addresses only in 100.64.0.0/16, 100.65.0.0/16 and 100.66.0.0/24):
//
//	outside 100.66.0.2 ── ext0 100.66.0.1 [node] br0 100.64.1.1 ── pod1 .11, pod2 .12, pod3 .13, client .20
type topology struct {
	node, outside netns
	pods          map[string]netns
}

var podIPs = map[string]string{"pod1": "100.64.1.11", "pod2": "100.64.1.12", "pod3": "100.64.1.13", "client": "100.64.1.20"}

func newTopology(t *testing.T) *topology {
	node := newNetns(t, "node")
	node.exec(t, "ip", "link", "add", "br0", "type", "bridge")
	node.exec(t, "ip", "addr", "add", "100.64.1.1/24", "dev", "br0")
	node.exec(t, "ip", "link", "set", "br0", "up")
	node.sysctl(t, "net/ipv4/ip_forward", "1")
	// What the CNI package sets on a real node: bridged pod-to-pod replies pass conntrack.
	node.sysctl(t, "net/bridge/bridge-nf-call-iptables", "1")

	outside := newNetns(t, "out")
	node.exec(t, "ip", "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", string(outside))
	node.exec(t, "ip", "addr", "add", "100.66.0.1/24", "dev", "ext0")
	node.exec(t, "ip", "link", "set", "ext0", "up")
	node.exec(t, "ip", "route", "add", "default", "via", "100.66.0.2")
	outside.exec(t, "ip", "addr", "add", "100.66.0.2/24", "dev", "eth0")
	outside.exec(t, "ip", "link", "set", "eth0", "up")
	outside.exec(t, "ip", "route", "add", "100.64.0.0/15", "via", "100.66.0.1")

	topo := &topology{node: node, outside: outside, pods: map[string]netns{}}
	for _, name := range slices.Sorted(maps.Keys(podIPs)) {
		pod := newNetns(t, name)
		node.exec(t, "ip", "link", "add", "v-"+name, "type", "veth", "peer", "name", "eth0", "netns", string(pod))
		node.exec(t, "ip", "link", "set", "v-"+name, "master", "br0", "up")
		// As the CNI bridge plugin's hairpinMode: with br_netfilter, a pod's packet translated
		// back to that pod is bridged out of the port it came in by.
		node.exec(t, "bridge", "link", "set", "dev", "v-"+name, "hairpin", "on")
		pod.exec(t, "ip", "addr", "add", podIPs[name]+"/24", "dev", "eth0")
		pod.exec(t, "ip", "link", "set", "eth0", "up")
		pod.exec(t, "ip", "route", "add", "default", "via", "100.64.1.1")
		topo.pods[name] = pod
	}
	return topo
}

// cluster is the fake API the proxier watches.
type cluster struct {
	t      *testing.T
	client *fake.Clientset
}

func (c *cluster) apply(objs ...any) {
	c.t.Helper()
	ctx := context.Background()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *v1.Service:
			svcs := c.client.CoreV1().Services(o.Namespace)
			if _, err = svcs.Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				_, err = svcs.Update(ctx, o, metav1.UpdateOptions{})
			}
		case *discovery.EndpointSlice:
			eps := c.client.DiscoveryV1().EndpointSlices(o.Namespace)
			if _, err = eps.Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
				_, err = eps.Update(ctx, o, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

// svc is a test service named name on clusterIP, port 80 → slice port "http".
func svc(name, clusterIP string, mods ...func(*v1.Service)) *v1.Service {
	s := service(mods...)
	s.Name, s.Spec.ClusterIP, s.Spec.ClusterIPs = name, clusterIP, []string{clusterIP}
	return s
}

// endpoints is the slice of service name with the pods given as "pod1", or "pod3@node-b" for
// a pod the API places on another node; all ready, port 8080.
func endpoints(name string, pods ...string) *discovery.EndpointSlice {
	var eps []discovery.Endpoint
	for _, p := range pods {
		pod, node, ok := strings.Cut(p, "@")
		if !ok {
			node = "node-a"
		}
		eps = append(eps, ep(podIPs[pod], node, "ready"))
	}
	s := slice(name+"-1", 8080, eps...)
	s.Labels[discovery.LabelServiceName] = name
	return s
}

// servers dials addr n times from ns and returns which servers answered, with the client
// address each saw.
func servers(ns netns, addr string, n int) (map[string]int, map[string]bool, error) {
	seen, clients := map[string]int{}, map[string]bool{}
	for range n {
		a, err := ns.dial(addr, time.Second)
		if err != nil {
			return nil, nil, err
		}
		seen[a.server]++
		clients[a.client] = true
	}
	return seen, clients, nil
}

// eventually retries f until it succeeds or 10 s pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantServers checks that exactly the named servers answer at addr from ns.
func wantServers(ns netns, addr string, n int, want ...string) error {
	seen, _, err := servers(ns, addr, n)
	if err != nil {
		return err
	}
	if got := slices.Sorted(maps.Keys(seen)); !slices.Equal(got, want) {
		return fmt.Errorf("answered by %v, want %v", seen, want)
	}
	return nil
}

func TestProxierInNetns(t *testing.T) {
	requireRoot(t)
	topo := newTopology(t)
	for _, name := range []string{"pod1", "pod2", "pod3"} {
		topo.pods[name].serve(t, ":8080", name)
	}
	topo.outside.serve(t, "100.66.0.2:9000", "outside")
	client, node, outside := topo.pods["client"], topo.node, topo.outside

	api := &cluster{t: t, client: fake.NewClientset()}
	factory := informers.NewSharedInformerFactory(api.client, 0)
	p, err := New(testConfig, factory.Core().V1().Services(), factory.Discovery().V1().EndpointSlices())
	if err != nil {
		t.Fatal(err)
	}
	p.nft = nft{argv: []string{"ip", "netns", "exec", string(node), "nft"}}
	p.checkEvery = 200 * time.Millisecond
	p.log = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			factory.Shutdown()
		}
	}
	t.Cleanup(stop)

	api.apply(
		svc("web", "100.65.0.20"), endpoints("web", "pod1", "pod2"),
		svc("empty", "100.65.0.21", nodePort(30082, v1.ServiceExternalTrafficPolicyCluster)),
		svc("sticky", "100.65.0.22", func(s *v1.Service) { s.Spec.SessionAffinity = v1.ServiceAffinityClientIP }),
		endpoints("sticky", "pod1", "pod2", "pod3"),
		svc("self", "100.65.0.23"), endpoints("self", "pod2"),
		svc("np", "100.65.0.24", nodePort(30080, v1.ServiceExternalTrafficPolicyCluster)), endpoints("np", "pod1", "pod3@node-b"),
		svc("local", "100.65.0.25", nodePort(30081, v1.ServiceExternalTrafficPolicyLocal)), endpoints("local", "pod1", "pod3@node-b"),
	)

	t.Run("cluster IP balances across ready endpoints", func(t *testing.T) {
		eventually(t, "pods reach web", func() error { return wantServers(client, "100.65.0.20:80", 40, "pod1", "pod2") })
		eventually(t, "the node reaches web", func() error { return wantServers(node, "100.65.0.20:80", 40, "pod1", "pod2") })
	})

	t.Run("rules follow endpoint changes", func(t *testing.T) {
		api.apply(endpoints("web", "pod2", "pod3"))
		eventually(t, "pod3 in, pod1 out", func() error { return wantServers(client, "100.65.0.20:80", 40, "pod2", "pod3") })
		api.apply(endpoints("web", "pod1", "pod2", "pod3"))
		eventually(t, "scaled to three", func() error { return wantServers(client, "100.65.0.20:80", 60, "pod1", "pod2", "pod3") })
	})

	t.Run("no endpoints is refused at once", func(t *testing.T) {
		for _, c := range []struct {
			from netns
			addr string
		}{
			{client, "100.65.0.21:80"}, {node, "100.65.0.21:80"}, {outside, "100.66.0.1:30082"},
			// An address of the service range that no service holds.
			{client, "100.65.0.99:80"}, {node, "100.65.0.99:80"},
		} {
			// Refused, not timed out: a dropped packet would end in a dial timeout instead.
			eventually(t, "refused from "+string(c.from)+" to "+c.addr, func() error {
				_, err := c.from.dial(c.addr, 2*time.Second)
				if !isRefused(err) {
					return fmt.Errorf("dial %s: %v, want connection refused", c.addr, err)
				}
				return nil
			})
		}
	})

	t.Run("endpoints of a rejected service are used at once", func(t *testing.T) {
		api.apply(endpoints("empty", "pod3"))
		eventually(t, "empty serves", func() error { return wantServers(client, "100.65.0.21:80", 5, "pod3") })
		eventually(t, "its NodePort serves", func() error { return wantServers(outside, "100.66.0.1:30082", 5, "pod3") })
	})

	t.Run("session affinity sticks", func(t *testing.T) {
		eventually(t, "sticky serves", func() error { _, err := client.dial("100.65.0.22:80", time.Second); return err })
		seen, _, err := servers(client, "100.65.0.22:80", 30)
		if err != nil || len(seen) != 1 {
			t.Fatalf("one client went to %v (%v), want one endpoint", seen, err)
		}
		if seen, _, err := servers(node, "100.65.0.22:80", 30); err != nil || len(seen) != 1 {
			t.Fatalf("another client went to %v (%v), want one endpoint", seen, err)
		}
	})

	t.Run("NodePort answers and masquerades under the Cluster policy", func(t *testing.T) {
		eventually(t, "NodePort", func() error { return wantServers(outside, "100.66.0.1:30080", 40, "pod1", "pod3") })
		_, clients, err := servers(outside, "100.66.0.1:30080", 10)
		if err != nil || !maps.Equal(clients, map[string]bool{"100.64.1.1": true}) {
			t.Errorf("backends saw clients %v (%v), want the node's address 100.64.1.1", clients, err)
		}
	})

	t.Run("externalTrafficPolicy Local keeps the client address and stays local", func(t *testing.T) {
		eventually(t, "local NodePort", func() error { return wantServers(outside, "100.66.0.1:30081", 30, "pod1") })
		_, clients, err := servers(outside, "100.66.0.1:30081", 10)
		if err != nil || !maps.Equal(clients, map[string]bool{"100.66.0.2": true}) {
			t.Errorf("backends saw clients %v (%v), want the client's own 100.66.0.2", clients, err)
		}
		// Pods are exempt from the policy, as with kube-proxy: they may use any endpoint.
		eventually(t, "pods via the NodePort", func() error { return wantServers(client, "100.66.0.1:30081", 40, "pod1", "pod3") })
	})

	t.Run("hairpin: a pod reaches itself through its service", func(t *testing.T) {
		var a answer
		eventually(t, "hairpin", func() (err error) { a, err = topo.pods["pod2"].dial("100.65.0.23:80", time.Second); return err })
		if a != (answer{"pod2", "100.64.1.1"}) {
			t.Errorf("answer %+v, want pod2 seeing the node's address", a)
		}
	})

	t.Run("pod egress leaving the cluster is masqueraded", func(t *testing.T) {
		a, err := topo.pods["pod1"].dial("100.66.0.2:9000", time.Second)
		if err != nil || a.client != "100.66.0.1" {
			t.Errorf("outside saw %+v (%v), want the node's address 100.66.0.1", a, err)
		}
	})

	t.Run("a deleted table is written again", func(t *testing.T) {
		node.exec(t, "nft", "delete", "table", "ip", "gantry")
		eventually(t, "web after the table came back", func() error { return wantServers(client, "100.65.0.20:80", 30, "pod1", "pod2", "pod3") })
	})

	t.Run("rules stay when Run returns; remove deletes them", func(t *testing.T) {
		stop()
		if err := wantServers(client, "100.65.0.20:80", 30, "pod1", "pod2", "pod3"); err != nil {
			t.Fatalf("after Run returned: %v", err)
		}
		for range 2 { // the second finds nothing to remove, and that is no error
			if err := p.nft.remove(context.Background(), "gantry"); err != nil {
				t.Fatal(err)
			}
		}
		if out := node.exec(t, "nft", "list", "tables"); strings.Contains(out, "gantry") {
			t.Errorf("table still there: %s", out)
		}
	})
}

// Every golden script must load into a real kernel on top of the base table.
func TestGoldenScriptsLoad(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "golden")
	base, err := os.ReadFile("testdata/base.nft")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/*.nft")
	for _, f := range files {
		script, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			n := nft{argv: []string{"ip", "netns", "exec", string(ns), "nft"}}
			if err := n.run(context.Background(), string(base)+string(script)); err != nil {
				t.Error(err)
			}
		})
	}
}

// testLog routes the proxier's log to the test's.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
