package servicelb

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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

func node(name, ip string, ready bool, mutate ...func(*corev1.Node)) *corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
		},
	}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func lbService(name string, age time.Duration, port int32, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: port, Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func slice(service string, nodes ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-x", Namespace: "ns",
			Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, n := range nodes {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("100.64.0.%d", 2+i)},
			NodeName:   &n,
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
		})
	}
	return s
}

// reconcile runs one pass for ns/name over objs and returns the service's ingress IPs as
// written, and the events recorded.
func reconcile(t *testing.T, name string, objs ...runtime.Object) ([]string, []string) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(10)
	c := New(client, factory, recorder)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.synced...)
	if err := c.Reconcile(ctx, "ns/"+name); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	svc, err := client.CoreV1().Services("ns").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	close(recorder.Events)
	var events []string
	for e := range recorder.Events {
		events = append(events, e)
	}
	return ips, events
}

func TestIngress(t *testing.T) {
	nodes := []runtime.Object{
		node("n1", "100.66.0.11", true),
		node("n2", "100.66.0.12", true),
		node("n3", "100.66.0.13", false),
		node("n4", "100.66.0.14", true, func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		node("n5", "100.66.0.15", true, func(n *corev1.Node) {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "100.66.0.115"})
		}),
		node("n6", "100.66.0.16", true, func(n *corev1.Node) {
			n.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""}
		}),
	}
	for _, tc := range []struct {
		name      string
		objs      []runtime.Object
		want      []string
		wantEvent string
	}{
		{
			name: "every ready schedulable node, external address first",
			objs: []runtime.Object{lbService("web", 0, 80)},
			want: []string{"100.66.0.11", "100.66.0.115", "100.66.0.12"}, wantEvent: "EnsuredLoadBalancer",
		},
		{
			name: "externalTrafficPolicy Local: nodes with ready endpoints only",
			objs: []runtime.Object{lbService("web", 0, 80, func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}), slice("web", "n2", "n3")},
			want: []string{"100.66.0.12"},
		},
		{
			name: "the older service keeps the port",
			objs: []runtime.Object{lbService("old", time.Hour, 80), lbService("web", 0, 80)},
			want: nil, wantEvent: "PortInUse",
		},
		{
			name: "another port does not conflict",
			objs: []runtime.Object{lbService("old", time.Hour, 81), lbService("web", 0, 80)},
			want: []string{"100.66.0.11", "100.66.0.115", "100.66.0.12"},
		},
		{
			name: "a load balancer class is someone else's",
			objs: []runtime.Object{lbService("web", 0, 80, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("example.com/lb") })},
			want: nil,
		},
		{
			name: "a service no longer LoadBalancer loses its ingress",
			objs: []runtime.Object{lbService("web", 0, 80, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeClusterIP
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "100.66.0.11"}}
			})},
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ips, events := reconcile(t, "web", append(slices.Clone(nodes), tc.objs...)...)
			if !slices.Equal(ips, tc.want) {
				t.Errorf("ingress %v, want %v", ips, tc.want)
			}
			if tc.wantEvent != "" && !slices.ContainsFunc(events, func(e string) bool { return strings.Contains(e, tc.wantEvent) }) {
				t.Errorf("events %v lack %s", events, tc.wantEvent)
			}
		})
	}
}
