package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// backendPod is a pod of app with a container port named http.
func backendPod(name, app string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
}

// endpointsView describes an Endpoints object as "ready=[ip/host ...] notReady=[...] ports=[name:port ...]",
// per subset.
func endpointsView(t *testing.T, c *cluster, name string) string {
	t.Helper()
	ep, err := c.client.CoreV1().Endpoints("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	var out []string
	addr := func(as []corev1.EndpointAddress) []string {
		var s []string
		for _, a := range as {
			v := a.IP
			if a.Hostname != "" {
				v += "/" + a.Hostname
			}
			if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName == nil || *a.NodeName == "" {
				v += "(no pod ref or node)"
			}
			s = append(s, v)
		}
		slices.Sort(s)
		return s
	}
	for _, s := range ep.Subsets {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		slices.Sort(ports)
		out = append(out, fmt.Sprintf("ready=%v notReady=%v ports=%v", addr(s.Addresses), addr(s.NotReadyAddresses), ports))
	}
	return strings.Join(out, "; ")
}

// slicesView describes the EndpointSlices of service as "ip ready=… zone=… host=…" entries
// and the sorted ports.
func slicesView(t *testing.T, c *cluster, service string) string {
	t.Helper()
	list, err := c.client.DiscoveryV1().EndpointSlices("default").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		t.Fatal(err)
	}
	var eps []string
	ports := map[string]bool{}
	for _, s := range list.Items {
		if s.Labels[discoveryv1.LabelManagedBy] != "endpointslice-controller.k8s.io" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			t.Errorf("slice %s: managed-by %q, addressType %s", s.Name, s.Labels[discoveryv1.LabelManagedBy], s.AddressType)
		}
		for _, p := range s.Ports {
			ports[fmt.Sprintf("%s:%d", *p.Name, *p.Port)] = true
		}
		for _, e := range s.Endpoints {
			v := fmt.Sprintf("%s ready=%v serving=%v terminating=%v zone=%s", strings.Join(e.Addresses, ","),
				*e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating, zoneOf(e))
			if e.Hostname != nil {
				v += " host=" + *e.Hostname
			}
			if e.NodeName == nil || e.TargetRef == nil || e.TargetRef.Kind != "Pod" {
				v += " (no node or pod ref)"
			}
			eps = append(eps, v)
		}
	}
	slices.Sort(eps)
	var ps []string
	for p := range ports {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return fmt.Sprintf("%v ports=%v", eps, ps)
}

func zoneOf(e discoveryv1.Endpoint) string {
	if e.Zone == nil {
		return ""
	}
	return *e.Zone
}

// runningPod waits for pod name to run and returns it.
func runningPod(t *testing.T, c *cluster, name string) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	eventually(t, name+" Ready", func() bool {
		var err error
		p, err = c.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && p.Status.PodIP != "" && hasCondition(p, corev1.PodReady)
	})
	return p
}

func TestEndpoints(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	simNodes(t, c, "ep", 2)
	eventually(t, "2 Ready nodes", func() bool { return simulatedReady(t, c) == 2 })
	pods := c.client.CoreV1().Pods("default")

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9100)},
		}},
	}
	if _, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zone := map[string]string{}
	ip := map[string]string{}
	// web-1 is in rotation only while its readiness gate says so, as a load balancer
	// controller would set it; the node's agent keeps its Ready condition in line.
	gate := corev1.PodConditionType("example.com/in-rotation")
	setGate := func(t *testing.T, status corev1.ConditionStatus) {
		t.Helper()
		eventually(t, "web-1's readiness gate set to "+string(status), func() bool {
			p, err := pods.Get(ctx, "web-1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.Phase != corev1.PodRunning {
				return false
			}
			p.Status.Conditions = slices.DeleteFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == gate })
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: gate, Status: status, LastTransitionTime: metav1.Now()})
			_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err == nil
		})
	}
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		pod := backendPod(name, "web")
		if name == "web-1" {
			pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setGate(t, corev1.ConditionTrue)
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		p := runningPod(t, c, name)
		ip[name] = p.Status.PodIP
		node, err := c.client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		zone[name] = node.Labels[corev1.LabelTopologyZone]
	}
	// A pod the selector does not match is in neither.
	if _, err := pods.Create(ctx, backendPod("other", "other"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runningPod(t, c, "other")

	sorted := func(names ...string) []string {
		var s []string
		for _, n := range names {
			s = append(s, ip[n])
		}
		slices.Sort(s)
		return s
	}
	sliceEntry := func(name string, ready bool) string {
		return fmt.Sprintf("%s ready=%v serving=%v terminating=false zone=%s", ip[name], ready, ready, zone[name])
	}
	wantSlices := func(entries ...string) string {
		slices.Sort(entries)
		return fmt.Sprintf("%v ports=[http:8080 metrics:9100]", entries)
	}

	want := fmt.Sprintf("ready=%v notReady=[] ports=[http:8080 metrics:9100]", sorted("web-0", "web-1", "web-2"))
	eventually(t, "Endpoints with the 3 ready pods", func() bool { return endpointsView(t, c, "web") == want })
	wantS := wantSlices(sliceEntry("web-0", true), sliceEntry("web-1", true), sliceEntry("web-2", true))
	eventually(t, "EndpointSlices with the 3 ready pods", func() bool { return slicesView(t, c, "web") == wantS })
	ep, err := c.client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The trigger time is only there when the last sync had one: a pod whose Ready condition
	// flipped twice within a second (web-1 with its gate) shows no new one, as upstream.
	_, err = time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime])
	if ep.Labels["endpoints.kubernetes.io/managed-by"] != "endpoint-controller" || err != nil && ep.Annotations[corev1.EndpointsLastChangeTriggerTime] != "" {
		t.Errorf("endpoints labels %v annotations %v, want managed-by endpoint-controller and any last-change-trigger-time a time", ep.Labels, ep.Annotations)
	}
	if out := c.kubectl("get", "endpoints", "web"); !strings.Contains(out, ip["web-0"]+":") {
		t.Errorf("kubectl get endpoints web does not show %s:\n%s", ip["web-0"], out)
	}

	t.Run("a pod that is not ready", func(t *testing.T) {
		setGate(t, corev1.ConditionFalse)
		// One subset: the ports are the same.
		want := fmt.Sprintf("ready=%v notReady=%v ports=[http:8080 metrics:9100]", sorted("web-0", "web-2"), sorted("web-1"))
		eventually(t, "web-1 in notReadyAddresses", func() bool { return endpointsView(t, c, "web") == want })
		wantS := wantSlices(sliceEntry("web-0", true), sliceEntry("web-1", false), sliceEntry("web-2", true))
		eventually(t, "web-1 ready=false in the slice", func() bool { return slicesView(t, c, "web") == wantS })
	})

	t.Run("a deleted pod leaves", func(t *testing.T) {
		if err := pods.Delete(ctx, "web-2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("ready=%v notReady=%v ports=[http:8080 metrics:9100]", sorted("web-0"), sorted("web-1"))
		eventually(t, "web-2 gone from Endpoints", func() bool { return endpointsView(t, c, "web") == want })
		wantS := wantSlices(sliceEntry("web-0", true), sliceEntry("web-1", false))
		eventually(t, "web-2 gone from the slice", func() bool { return slicesView(t, c, "web") == wantS })
	})

	t.Run("headless service hostnames", func(t *testing.T) {
		headless := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "db"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		}
		if _, err := c.client.CoreV1().Services("default").Create(ctx, headless, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		db := backendPod("db-0", "db")
		db.Spec.Hostname, db.Spec.Subdomain = "db-0", "db"
		if _, err := pods.Create(ctx, db, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Without the subdomain, no hostname.
		if _, err := pods.Create(ctx, backendPod("db-1", "db"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ip["db-0"], ip["db-1"] = runningPod(t, c, "db-0").Status.PodIP, runningPod(t, c, "db-1").Status.PodIP
		want := []string{ip["db-0"] + "/db-0", ip["db-1"]}
		slices.Sort(want)
		wantView := fmt.Sprintf("ready=%v notReady=[] ports=[http:8080]", want)
		eventually(t, "hostname db-0 in Endpoints", func() bool { return endpointsView(t, c, "db") == wantView })
		eventually(t, "hostname db-0 in the slice", func() bool {
			return strings.Contains(slicesView(t, c, "db"), ip["db-0"]+" ready=true") && strings.Contains(slicesView(t, c, "db"), "host=db-0")
		})
		ep, err := c.client.CoreV1().Endpoints("default").Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
			t.Errorf("headless Endpoints labels %v lack %s", ep.Labels, corev1.IsHeadlessService)
		}
	})

	t.Run("a deleted service takes its Endpoints", func(t *testing.T) {
		if err := c.client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Endpoints web gone", func() bool { return strings.Contains(endpointsView(t, c, "web"), "not found") })
	})
}
