package podnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gantryhq/gantry/internal/network/cni"
)

// The test cluster: three node namespaces on one bridge (in a fourth namespace) with
// addresses in 100.66.0.0/24, and behind each node a pod namespace with an address in the
// node's pod range, 100.64.N.0/24. Nothing is ever sent outside these namespaces.
const testNodes = 3

func testCIDRs() (cluster, service netip.Prefix) {
	return netip.MustParsePrefix("100.64.0.0/16"), netip.MustParsePrefix("100.65.0.0/16")
}

func nodeIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{100, 66, 0, byte(10 + i)}) }
func podCIDR(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i), 0}), 24)
}
func podGateway(i int) netip.Addr { return podCIDR(i).Addr().Next() }
func podIP(i int) netip.Addr      { return podGateway(i).Next() }
func prefixAt(a netip.Addr, bits int) *netlink.Addr {
	return &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, bits))}
}

// inNS runs fn on a thread in ns.
func inNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return err // the thread stays locked and dies with its goroutine
	}
	runtime.UnlockOSThread()
	return ferr
}

// nsName is the name of the test's namespace called short.
func nsName(short string) string { return fmt.Sprintf("gt%d-%s", os.Getpid(), short) }

// newNS makes a named network namespace, removed when the test ends, with lo up.
func newNS(t *testing.T, short string) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	name := nsName(short)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		t.Fatalf("back to the test's namespace: %v", serr)
	}
	runtime.UnlockOSThread()
	orig.Close()
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	up(t, h, "lo")
	return ns, h
}

func up(t *testing.T, h *netlink.Handle, name string, addrs ...*netlink.Addr) netlink.Link {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := h.AddrAdd(link, a); err != nil {
			t.Fatalf("address %s on %s: %v", a, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	return link
}

// veth joins two namespaces with a pair aName (in a) — bName (in b).
func veth(t *testing.T, a netns.NsHandle, aName string, b netns.NsHandle, bName string) {
	t.Helper()
	root, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName, Namespace: netlink.NsFd(a)}, PeerName: bName,
		PeerNamespace: netlink.NsFd(b)}
	if err := root.LinkAdd(v); err != nil {
		t.Fatalf("veth %s-%s: %v", aName, bName, err)
	}
}

type nsNode struct {
	ns, pod netns.NsHandle
	h       *netlink.Handle
	name    string // of ns, for `ip netns exec`
}

// cluster builds the namespaces and returns the nodes, numbered from 1.
func cluster(t *testing.T) []nsNode {
	brNS, brH := newNS(t, "br")
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := brH.LinkAdd(bridge); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	up(t, brH, "br0")
	nodes := make([]nsNode, testNodes+1)
	for i := 1; i <= testNodes; i++ {
		ns, h := newNS(t, fmt.Sprintf("node%d", i))
		pod, podH := newNS(t, fmt.Sprintf("pod%d", i))
		port := fmt.Sprintf("n%d", i)
		veth(t, brNS, port, ns, "eth0")
		if err := brH.LinkSetMaster(up(t, brH, port), bridge); err != nil {
			t.Fatal(err)
		}
		up(t, h, "eth0", prefixAt(nodeIP(i), 24))
		// The pod's veth stands in for the CNI bridge: the node holds the gateway address.
		veth(t, ns, "pod0", pod, "eth0")
		up(t, h, "pod0", prefixAt(podGateway(i), 24))
		eth0 := up(t, podH, "eth0", prefixAt(podIP(i), 24))
		if err := podH.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: podGateway(i).AsSlice()}); err != nil {
			t.Fatalf("pod %d default route: %v", i, err)
		}
		nodes[i] = nsNode{ns: ns, pod: pod, h: h, name: nsName(fmt.Sprintf("node%d", i))}
	}
	return nodes
}

func apiNode(i int) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node%d", i)},
		Spec:   corev1.NodeSpec{PodCIDR: podCIDR(i).String(), PodCIDRs: []string{podCIDR(i).String()}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP(i).String()}}}}
}

// listen serves in ns on addr: every connection gets "hello from <addr>".
func listen(t *testing.T, ns netns.NsHandle, addr netip.Addr) {
	t.Helper()
	var l net.Listener
	if err := inNS(ns, func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, 8080).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s", addr)
			c.Close()
		}
	}()
}

// dial connects from ns to addr and returns what it says.
func dial(ns netns.NsHandle, addr netip.Addr) (string, error) {
	var c net.Conn
	err := inNS(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(addr, 8080).String(), 500*time.Millisecond)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// eventually retries check until it succeeds or 20 s pass.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasRoute(h *netlink.Handle, dst netip.Prefix) (netlink.Route, bool, error) {
	routes, err := ourRoutes(h)
	if err != nil {
		return netlink.Route{}, false, err
	}
	i := slices.IndexFunc(routes, func(r netlink.Route) bool { return r.Dst != nil && r.Dst.String() == dst.String() })
	if i < 0 {
		return netlink.Route{}, false, nil
	}
	return routes[i], true, nil
}

func TestNetwork(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, mode := range []string{ModeHostGW, ModeVXLAN} {
		t.Run(mode, func(t *testing.T) { testNetwork(t, mode) })
	}
}

func testNetwork(t *testing.T, mode string) {
	nodes := cluster(t)
	clusterCIDR, serviceCIDR := testCIDRs()
	client := fake.NewClientset(apiNode(1), apiNode(2), apiNode(3))
	factory := informers.NewSharedInformerFactory(client, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, testNodes)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range testNodes {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		factory.Shutdown()
	}
	defer stop()
	for i := 1; i <= testNodes; i++ {
		h, err := netlink.NewHandleAt(nodes[i].ns)
		if err != nil {
			t.Fatal(err)
		}
		n, err := newNetwork(Config{NodeName: fmt.Sprintf("node%d", i), NodeIP: nodeIP(i), PodCIDR: podCIDR(i),
			ClusterCIDR: clusterCIDR, ServiceCIDR: serviceCIDR, Mode: mode, Client: client}, factory.Core().V1().Nodes(), h)
		if err != nil {
			h.Close()
			t.Fatal(err)
		}
		n.log = testLogger(t, i)
		n.dp.log = n.log
		ns := nodes[i].ns
		n.forward = func() error { return inNS(ns, cni.EnableForwarding) }
		go func() { done <- n.Run(ctx) }()
	}
	factory.Start(ctx.Done())

	listen(t, nodes[3].pod, podIP(3))
	eventually(t, "pod 1 reaches pod 3", func() error {
		got, err := dial(nodes[1].pod, podIP(3))
		if err == nil && got != "hello from "+podIP(3).String() {
			err = fmt.Errorf("answer %q", got)
		}
		return err
	})
	listen(t, nodes[1].pod, podIP(1))
	eventually(t, "pod 3 reaches pod 1", func() error { _, err := dial(nodes[3].pod, podIP(1)); return err })

	// A process on node 1 reaches a Service address that an nftables output rule (as the
	// service proxy writes) translates to pod 3: the service range's route lets the connect()
	// through, where a blackhole would refuse it.
	h1 := nodes[1].h
	serviceIP := netip.MustParseAddr("100.65.0.10")
	nft := exec.Command("ip", "netns", "exec", nodes[1].name, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(fmt.Sprintf("table ip gantry-test { chain out { type nat hook output priority -100; ip daddr %s tcp dport 8080 dnat to %s:8080; }; }\n",
		serviceIP, podIP(3)))
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	if got, err := dial(nodes[1].ns, serviceIP); err != nil || got != "hello from "+podIP(3).String() {
		t.Errorf("node 1 to Service %s: %q, %v", serviceIP, got, err)
	}

	// Blackholes and the service route are in place; nothing else of ours.
	routes, err := ourRoutes(h1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range routes {
		got = append(got, fmt.Sprintf("%s table=%d type=%d gw=%s", r.Dst, r.Table, r.Type, r.Gw))
	}
	slices.Sort(got)
	gw := func(i int) string {
		if mode == ModeVXLAN {
			return vtepAddr(podCIDR(i)).String()
		}
		return nodeIP(i).String()
	}
	want := []string{
		fmt.Sprintf("100.64.0.0/16 table=254 type=%d gw=<nil>", unix.RTN_BLACKHOLE),
		fmt.Sprintf("100.64.2.0/24 table=254 type=%d gw=%s", unix.RTN_UNICAST, gw(2)),
		fmt.Sprintf("100.64.3.0/24 table=254 type=%d gw=%s", unix.RTN_UNICAST, gw(3)),
		fmt.Sprintf("100.65.0.0/16 table=254 type=%d gw=<nil>", unix.RTN_UNICAST),
	}
	if !slices.Equal(got, want) {
		t.Errorf("node 1's routes\n%v\nwant\n%v", got, want)
	}
	wantMTU := 0
	if mode == ModeVXLAN {
		wantMTU = 1500 - vxlanOverhead
		link, err := h1.LinkByName(VXLANDevice)
		if err != nil {
			t.Fatal(err)
		}
		if link.Attrs().MTU != wantMTU {
			t.Errorf("MTU %d, want %d", link.Attrs().MTU, wantMTU)
		}
	}
	if mtu, err := podMTU(h1, Config{Mode: mode, NodeIP: nodeIP(1)}); err != nil || mtu != wantMTU {
		t.Errorf("pod MTU %d, %v; want %d", mtu, err, wantMTU)
	}

	// A deleted node's route goes, and so do its VXLAN entries.
	if err := client.CoreV1().Nodes().Delete(ctx, "node3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node 3's route removed", func() error {
		if _, ok, err := hasRoute(h1, podCIDR(3)); err != nil || ok {
			return fmt.Errorf("still there (%v)", err)
		}
		if mode != ModeVXLAN {
			return nil
		}
		link, err := h1.LinkByName(VXLANDevice)
		if err != nil {
			return err
		}
		fdb, err := h1.NeighList(link.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		if len(fdb) != 1 {
			return fmt.Errorf("FDB %v, want node 2's entry only", fdb)
		}
		return nil
	})
	if _, err := dial(nodes[1].pod, podIP(3)); err == nil {
		t.Error("pod 1 still reaches pod 3 after node 3 left")
	}

	// Run leaves the routes in place; remove takes everything of ours away.
	stop()
	if _, ok, err := hasRoute(h1, podCIDR(2)); err != nil || !ok {
		t.Errorf("node 2's route gone after Run returned (%v)", err)
	}
	if err := remove(h1); err != nil {
		t.Fatal(err)
	}
	if routes, err := ourRoutes(h1); err != nil || len(routes) != 0 {
		t.Errorf("after remove: routes %v (%v)", routes, err)
	}
	if _, err := h1.LinkByName(VXLANDevice); err == nil {
		t.Error("the VXLAN device survived remove")
	}
}

// testLogger sends node i's logs to the test's log.
func testLogger(t *testing.T, i int) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
