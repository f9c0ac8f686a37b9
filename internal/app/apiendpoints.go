package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// publishAPIEndpoints points the `kubernetes` service at this server, as kube-apiserver's
// endpoint reconciler does: the Endpoints and the EndpointSlice default/kubernetes hold the
// address pods reach the API at, so that in-cluster clients (KUBERNETES_SERVICE_HOST) work
// through the service proxy. A server bound to loopback only cannot be reached from pods;
// it publishes nothing.
func publishAPIEndpoints(ctx context.Context, cfg *rest.Config, addr netip.Addr, port int) error {
	if addr.IsLoopback() {
		slog.Warn("the API listens on loopback only: pods cannot reach it through the kubernetes service", "address", addr)
		return nil
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	const name, ns = "kubernetes", metav1.NamespaceDefault
	ports := []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}
	endpoints := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: addr.String()}}, Ports: ports}},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if addr.Is6() {
		slice.AddressType = discoveryv1.AddressTypeIPv6
	}
	if err := apply(ctx, client.CoreV1().Endpoints(ns), endpoints, func(have *corev1.Endpoints) { have.Labels, have.Subsets = endpoints.Labels, endpoints.Subsets }); err != nil {
		return fmt.Errorf("endpoints of the kubernetes service: %w", err)
	}
	if err := apply(ctx, client.DiscoveryV1().EndpointSlices(ns), slice, func(have *discoveryv1.EndpointSlice) {
		have.Labels, have.AddressType, have.Endpoints, have.Ports = slice.Labels, slice.AddressType, slice.Endpoints, slice.Ports
	}); err != nil {
		return fmt.Errorf("endpoint slice of the kubernetes service: %w", err)
	}
	return nil
}

// writer is the part of a typed client apply needs.
type writer[T any] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// apply creates want, or if it exists sets it to want with set (keeping its metadata).
func apply[T interface{ GetName() string }](ctx context.Context, c writer[T], want T, set func(have T)) error {
	if _, err := c.Create(ctx, want, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		return err
	}
	have, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	set(have)
	_, err = c.Update(ctx, have, metav1.UpdateOptions{})
	return err
}
