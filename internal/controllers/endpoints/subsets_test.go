package endpoints

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	endpointsutil "k8s.io/kubernetes/pkg/api/v1/endpoints"
)

func pod(name, ip string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// describe renders subsets as "ready/notReady addresses @ ports" lines.
func describe(subsets []corev1.EndpointSubset) []string {
	var out []string
	for _, s := range subsets {
		var a, n, p []string
		for _, x := range s.Addresses {
			a = append(a, x.IP+"/"+x.Hostname+"/"+x.TargetRef.Name)
		}
		for _, x := range s.NotReadyAddresses {
			n = append(n, x.IP)
		}
		for _, x := range s.Ports {
			p = append(p, fmt.Sprintf("%s=%d", x.Name, x.Port))
		}
		out = append(out, fmt.Sprintf("%v %v @ %v", a, n, p))
	}
	return out
}

func TestSubsets(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
		}},
	}
	http := corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}
	alt := corev1.ContainerPort{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}
	noIP := pod("pending", "", true, http)
	noIP.Status.PodIPs = nil
	done := pod("done", "10.1.0.9", true, http)
	done.Status.Phase = corev1.PodSucceeded
	pods := []*corev1.Pod{
		pod("a", "10.1.0.1", true, http),
		pod("b", "10.1.0.2", false, http),
		pod("c", "10.1.0.3", true, alt),
		pod("unnamed", "10.1.0.4", true), // no port named http: left out
		noIP, done,
	}
	got := describe(endpointsutil.RepackSubsets(subsetsFor(svc, pods)))
	want := []string{"[10.1.0.1//a] [10.1.0.2] @ [http=8080]", "[10.1.0.3//c] [] @ [http=9090]"}
	if !slices.Equal(got, want) {
		t.Errorf("subsets\n%v\nwant\n%v", got, want)
	}

	// publishNotReadyAddresses: every pod is an address.
	svc.Spec.PublishNotReadyAddresses = true
	got = describe(endpointsutil.RepackSubsets(subsetsFor(svc, pods[:2])))
	if want := []string{"[10.1.0.1//a 10.1.0.2//b] [] @ [http=8080]"}; !slices.Equal(got, want) {
		t.Errorf("with publishNotReadyAddresses: %v, want %v", got, want)
	}

	// Headless: the pod whose subdomain is the Service gets its hostname.
	svc.Spec.PublishNotReadyAddresses = false
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	named := pod("a", "10.1.0.1", true, http)
	named.Spec.Hostname, named.Spec.Subdomain = "a-host", "web"
	got = describe(subsetsFor(svc, []*corev1.Pod{named}))
	if want := []string{"[10.1.0.1/a-host/a] [] @ [http=8080]"}; !slices.Equal(got, want) {
		t.Errorf("headless: %v, want %v", got, want)
	}
}

func TestTruncate(t *testing.T) {
	var ready, notReady []corev1.EndpointAddress
	for i := range 900 {
		ready = append(ready, corev1.EndpointAddress{IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)})
		notReady = append(notReady, corev1.EndpointAddress{IP: fmt.Sprintf("10.1.%d.%d", i/256, i%256)})
	}
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: ready, NotReadyAddresses: notReady}}}
	if !truncate(ep) {
		t.Fatal("1800 addresses not truncated")
	}
	if n, m := len(ep.Subsets[0].Addresses), len(ep.Subsets[0].NotReadyAddresses); n != 900 || m != 100 {
		t.Errorf("kept %d ready and %d not ready, want 900 and 100", n, m)
	}
	if truncate(ep) {
		t.Error("1000 addresses truncated again")
	}
}
