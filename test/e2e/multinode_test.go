package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/internal/devcluster"
	"github.com/gantryhq/gantry/internal/images"
)

// The multi-node tests run on a dev cluster: a server on a bridge of its own and three nodes
// in network namespaces, each with its agent, containerd, routes, nftables table and DNS.
var devOpts = devcluster.Options{
	Nodes: 3,
	// The upper half of the dev cluster range, so that a `gantry dev cluster` running on the
	// machine with its defaults does not collide.
	Subnet: netip.MustParsePrefix("100.66.0.128/25"),
	Bridge: "gantry-e2e",
	Env:    []string{"GANTRY_TEST_MAIN=1"},
	// Pod ranges apart from the single-node tests' server, whose pods share this machine.
	ServerArgs: []string{"--cluster-cidr", "100.64.128.0/17"},
}

// multi is the dev cluster the multi-node tests share, started by the first that asks.
var multi *multiCluster

type multiCluster struct {
	*server
	dev *devcluster.Cluster
}

func devCluster(t *testing.T) *multiCluster {
	t.Helper()
	if multi == nil {
		dir, err := os.MkdirTemp("", "gantry-dev-")
		if err != nil {
			t.Fatal(err)
		}
		opts := devOpts
		opts.DataDir = dir
		opts.Executable = os.Args[0]
		// A crashed earlier run may have left the namespaces and the bridge.
		devcluster.Destroy(devcluster.Options{DataDir: filepath.Join(os.TempDir(), "gantry-dev-none"), Bridge: opts.Bridge})
		c, err := devcluster.Start(context.Background(), opts)
		if err != nil {
			devcluster.Destroy(opts)
			t.Fatalf("start the dev cluster: %v", err)
		}
		config, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		multi = &multiCluster{dev: c, server: &server{t: t, dataDir: dir, kubeconfig: c.Kubeconfig, config: config,
			client: kubernetes.NewForConfigOrDie(config), registry: netip.AddrPortFrom(c.Server, uint16(5000)).String()}}
		for _, n := range c.Nodes {
			multi.node = n.Name
			multi.waitNodeReady()
		}
		img, err := images.BuildGo(context.Background(), "./test/images/testserver", moduleRoot(t), images.TestServerLinks)
		if err != nil {
			t.Fatalf("build the test image: %v", err)
		}
		if err := images.Push(context.Background(), img, multi.registry+"/gantry/testserver:1"); err != nil {
			t.Fatalf("push the test image: %v", err)
		}
	}
	multi.t = t
	return multi
}

// destroyMulti removes the dev cluster, printing its logs when the tests failed.
func destroyMulti(failed bool) {
	if multi == nil {
		return
	}
	if failed {
		logs, _ := filepath.Glob(filepath.Join(multi.dataDir, "*.log"))
		more, _ := filepath.Glob(filepath.Join(multi.dataDir, "node-*", "agent.log"))
		for _, l := range append(logs, more...) {
			if data, err := os.ReadFile(l); err == nil {
				fmt.Fprintf(os.Stderr, "%s (last 8 KiB):\n%s\n", l, tail(data, 8<<10))
			}
		}
	}
	multi.dev.Stop()
	opts := devOpts
	opts.DataDir = multi.dataDir
	if err := devcluster.Destroy(opts); err != nil {
		fmt.Fprintf(os.Stderr, "destroy the dev cluster: %v\n", err)
	}
}

// clientPod runs a pod to make requests from, on node, and waits for it.
func (m *multiCluster) clientPod(ns, name, node string) {
	pod := testPod(name, "sleep", "infinity")
	pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node}
	pod.Spec.Containers[0].Ports = nil
	m.create(ns, pod)
	m.waitReady(ns, name)
}

// inPod runs the test image's program in a pod's container and returns its output.
func (m *multiCluster) inPod(ns, pod string, args ...string) (string, error) {
	return m.kubectlErr(nil, append([]string{"exec", "-n", ns, pod, "--", "/testserver"}, args...)...)
}

// webDeployment makes a Deployment of replicas test HTTP servers (readiness on /healthz every
// second) and a Service of type typ in front of it, and waits for the rollout.
func (m *multiCluster) webDeployment(ns string, replicas int32, typ corev1.ServiceType) *corev1.Service {
	m.t.Helper()
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name: "web", Image: testImage, Args: []string{"serve"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds:    1,
							FailureThreshold: 1,
						},
					}},
				},
			},
		},
	}
	if _, err := m.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		m.t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	svc, err := m.client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		m.t.Fatal(err)
	}
	m.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=180s")
	return svc
}

// podNodes maps the names of the pods labelled app=web to their nodes.
func (m *multiCluster) podNodes(ns string) map[string]string {
	pods, err := m.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		m.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p.Spec.NodeName
		}
	}
	return out
}

// Six replicas spread over the three nodes; from a pod on node-1 the service's DNS name
// reaches pods on every node; NodePort answers on every node's address.
func TestMultiNodeServiceAcrossNodes(t *testing.T) {
	m := devCluster(t)
	ns := m.namespace("spread")
	svc := m.webDeployment(ns, 6, corev1.ServiceTypeNodePort)
	where := m.podNodes(ns)
	perNode := map[string]int{}
	for _, node := range where {
		perNode[node]++
	}
	if len(perNode) != 3 {
		t.Fatalf("6 replicas landed on %d nodes (%v), want all 3", len(perNode), perNode)
	}

	m.clientPod(ns, "client", "node-1")
	reached := map[string]bool{}
	eventually(t, 90*time.Second, "answers from pods on every node through http://web/", func() bool {
		out, err := m.inPod(ns, "client", "get", "http://web/")
		if err != nil {
			t.Logf("get http://web/: %v: %s", err, out)
			return false
		}
		if node, ok := where[strings.TrimSpace(out)]; ok {
			reached[node] = true
		}
		return len(reached) == 3
	})
	// The fully qualified name and the cluster IP answer as well.
	for _, url := range []string{"http://web." + ns + ".svc.cluster.local/", "http://" + svc.Spec.ClusterIP + "/"} {
		if out, err := m.inPod(ns, "client", "get", url); err != nil {
			t.Errorf("get %s: %v: %s", url, err, out)
		}
	}

	// The API server's pods/proxy and services/proxy reach pods through their nodes.
	for pod := range where {
		if out := m.kubectl("get", "--raw", "/api/v1/namespaces/"+ns+"/pods/"+pod+":8080/proxy/"); strings.TrimSpace(out) != pod {
			t.Errorf("pods/%s/proxy answered %q", pod, out)
		}
		break
	}
	if out := m.kubectl("get", "--raw", "/api/v1/namespaces/"+ns+"/services/web:http/proxy/"); where[strings.TrimSpace(out)] == "" {
		t.Errorf("services/web/proxy answered %q, not a pod's name", out)
	}

	// In-cluster clients reach the API server through the kubernetes service.
	if out, err := m.inPod(ns, "client", "get", "--insecure", "https://kubernetes.default.svc/version"); err != nil || !strings.Contains(out, "gitVersion") {
		t.Errorf("the API through the kubernetes service: %v: %s", err, out)
	}

	nodePort := svc.Spec.Ports[0].NodePort
	for _, n := range m.dev.Nodes {
		url := "http://" + netip.AddrPortFrom(n.IP, uint16(nodePort)).String() + "/"
		var body string
		eventually(t, 30*time.Second, "an answer at "+url, func() bool {
			var err error
			body, err = get(url)
			return err == nil
		})
		if _, ok := where[strings.TrimSpace(body)]; !ok {
			t.Errorf("%s answered %q, not a pod's name", url, body)
		}
	}
}

// A pod failing readiness leaves the rotation; with no replicas the service refuses
// connections at once instead of letting them time out.
func TestMultiNodeReadinessAndScaleToZero(t *testing.T) {
	m := devCluster(t)
	ns := m.namespace("rotation")
	m.webDeployment(ns, 3, corev1.ServiceTypeClusterIP)
	m.clientPod(ns, "client", "node-2")

	var sick string
	for name := range m.podNodes(ns) {
		sick = name
		break
	}
	p := m.pod(ns, sick)
	if out, err := m.inPod(ns, "client", "get", "http://"+p.Status.PodIP+":8080/fail"); err != nil {
		t.Fatalf("make %s unready: %v: %s", sick, err, out)
	}
	eventually(t, 30*time.Second, sick+" out of the endpoints", func() bool {
		slices, err := m.client.DiscoveryV1().EndpointSlices(ns).List(context.Background(),
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false
		}
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.TargetRef != nil && ep.TargetRef.Name == sick {
					return ep.Conditions.Ready != nil && !*ep.Conditions.Ready
				}
			}
		}
		return false
	})
	// Every agent applies the change within moments; then no request reaches the sick pod.
	time.Sleep(2 * time.Second)
	for i := range 30 {
		out, err := m.inPod(ns, "client", "get", "http://web/")
		if err != nil {
			t.Fatalf("request %d: %v: %s", i, err, out)
		}
		if strings.TrimSpace(out) == sick {
			t.Fatalf("request %d reached %s, which is not ready", i, sick)
		}
	}

	m.kubectl("scale", "-n", ns, "deployment/web", "--replicas=0")
	eventually(t, 60*time.Second, "the connection refused", func() bool {
		out, err := m.inPod(ns, "client", "get", "--timeout", "20s", "http://web/")
		return err != nil && strings.Contains(out, "connection refused")
	})
}

// A StatefulSet's pods resolve by name under their headless service.
func TestMultiNodeStatefulSetDNS(t *testing.T) {
	m := devCluster(t)
	ns := m.namespace("sts")
	labels := map[string]string{"app": "db"}
	headless := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels,
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
	}
	if _, err := m.client.CoreV1().Services(ns).Create(context.Background(), headless, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1), Containers: []corev1.Container{{
					Name: "db", Image: testImage, Args: []string{"serve"},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	if _, err := m.client.AppsV1().StatefulSets(ns).Create(context.Background(), sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.kubectl("rollout", "status", "-n", ns, "statefulset/db", "--timeout=180s")
	m.clientPod(ns, "client", "node-3")
	for _, name := range []string{"db-0", "db-1"} {
		ip := m.pod(ns, name).Status.PodIP
		fqdn := name + ".db." + ns + ".svc.cluster.local"
		var out string
		eventually(t, 30*time.Second, fqdn+" resolving", func() bool {
			var err error
			out, err = m.inPod(ns, "client", "lookup", fqdn)
			return err == nil
		})
		if strings.TrimSpace(out) != ip {
			t.Errorf("%s resolves to %q, want %s", fqdn, out, ip)
		}
		if out, err := m.inPod(ns, "client", "get", "http://"+fqdn+":8080/"); err != nil || strings.TrimSpace(out) != name {
			t.Errorf("get %s: %q, %v", fqdn, out, err)
		}
	}
	// The headless service's name has every pod; a name that does not exist is NXDOMAIN.
	if out, err := m.inPod(ns, "client", "lookup", "db"); err != nil || len(strings.Fields(out)) != 2 {
		t.Errorf("lookup db: %q, %v; want both pods", out, err)
	}
	if out, err := m.inPod(ns, "client", "lookup", "nothing-here."+ns+".svc.cluster.local"); err == nil || !strings.Contains(out, "no such host") {
		t.Errorf("lookup of a missing name: %q, %v; want no such host", out, err)
	}
}

// type LoadBalancer gets the nodes' addresses and answers on them; the service goes on
// answering when one node's agent stops.
func TestMultiNodeLoadBalancerAndLostAgent(t *testing.T) {
	m := devCluster(t)
	ns := m.namespace("lb")
	svc := m.webDeployment(ns, 3, corev1.ServiceTypeLoadBalancer)
	var ingress []string
	eventually(t, 30*time.Second, "a load balancer address", func() bool {
		s, err := m.client.CoreV1().Services(ns).Get(context.Background(), svc.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		ingress = nil
		for _, in := range s.Status.LoadBalancer.Ingress {
			ingress = append(ingress, in.IP)
		}
		return len(ingress) == 3
	})
	for _, ip := range ingress {
		url := "http://" + ip + ":80/"
		eventually(t, 30*time.Second, "an answer at "+url, func() bool {
			_, err := get(url)
			return err == nil
		})
	}

	m.clientPod(ns, "client", "node-1")
	m.dev.Nodes[2].Kill()
	defer func() {
		if err := m.dev.Nodes[2].Start(); err != nil {
			t.Errorf("restart node-3's agent: %v", err)
		}
		m.node = "node-3"
		m.waitNodeReady()
	}()
	for i := range 20 {
		if out, err := m.inPod(ns, "client", "get", "http://web/"); err != nil {
			t.Fatalf("request %d with node-3's agent stopped: %v: %s", i, err, out)
		}
	}
}

// `gantry uninstall` on a node leaves nothing of Gantry in its namespace; the wiped node
// joins again with the token under the same name and keeps its pod range.
func TestMultiNodeUninstallAndRejoin(t *testing.T) {
	m := devCluster(t)
	n := m.dev.Nodes[1]
	ns := m.namespace("rejoin")
	pod := testPod("before", "serve")
	pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: n.Name}
	m.create(ns, pod)
	m.waitReady(ns, "before")
	node, err := m.client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podCIDR := node.Spec.PodCIDR

	if out, err := n.Exec(context.Background(), os.Args[0], "uninstall", "--data-dir", n.DataDir); err != nil {
		t.Fatalf("gantry uninstall: %v\n%s", err, out)
	}
	n.Stop()
	check := func(what string, args ...string) string {
		out, err := n.Exec(context.Background(), args[0], args[1:]...)
		if err != nil {
			t.Fatalf("%s: %v: %s", what, err, out)
		}
		return out
	}
	if out := check("links", "ip", "-o", "link", "show"); strings.Count(out, "\n") != 2 || !strings.Contains(out, " lo:") || !strings.Contains(out, " eth0@") {
		t.Errorf("links left after uninstall (want lo and eth0 only):\n%s", out)
	}
	if out := check("nftables", "nft", "list", "tables"); strings.Contains(out, "gantry") {
		t.Errorf("nftables tables left: %s", out)
	}
	if out := check("routes", "ip", "route", "show", "table", "all"); strings.Contains(out, "blackhole") || strings.Contains(out, "100.64.") {
		t.Errorf("routes left:\n%s", out)
	}
	if out := check("lo addresses", "ip", "-o", "addr", "show", "dev", "lo"); strings.Contains(out, "100.65.") {
		t.Errorf("the DNS address is left on lo:\n%s", out)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), n.DataDir) {
		t.Errorf("mounts left under %s", n.DataDir)
	}
	if out, _ := execOut("pgrep", "-af", n.DataDir); strings.TrimSpace(out) != "" {
		t.Errorf("processes left:\n%s", out)
	}
	if _, err := os.Stat(n.DataDir); !os.IsNotExist(err) {
		t.Errorf("data directory left: %v", err)
	}
	for _, netns := range listNetns() {
		if out, _ := execOut("ip", "-n", netns, "-o", "addr"); strings.Contains(out, strings.TrimSuffix(podCIDR, ".0/24")+".") {
			t.Errorf("pod network namespace %s of the node is left:\n%s", netns, out)
		}
	}

	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	m.node = n.Name
	m.waitNodeReady()
	node, err = m.client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Spec.PodCIDR != podCIDR {
		t.Errorf("re-joined node has pod range %s, had %s", node.Spec.PodCIDR, podCIDR)
	}
	after := testPod("after", "serve")
	after.Spec.NodeSelector = map[string]string{corev1.LabelHostname: n.Name}
	m.create(ns, after)
	m.waitReady(ns, "after")
}

func execOut(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// listNetns is the network namespaces `ip netns` knows.
func listNetns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
