// Package servicelb is the cluster's built-in load balancer for Services of type
// LoadBalancer, in the manner of k3s's ServiceLB: the load balancer's addresses are the
// nodes' own. Every node's service proxy already answers a LoadBalancer service's port on the
// addresses in its status.loadBalancer.ingress, so this controller only decides and publishes
// those addresses; no extra pods run.
//
// A service gets the addresses of the Ready, schedulable nodes (their ExternalIP if they have
// one, else their InternalIP); with externalTrafficPolicy Local only of the nodes that hold a
// ready endpoint, so that no client is sent to a node that would drop its traffic. Two
// services cannot both own a port on the same addresses: the older one keeps it, and the
// newer stays pending with a Warning event until the port is free. Services with a
// spec.loadBalancerClass belong to another implementation and are left alone.
package servicelb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantryhq/gantry/internal/controller"
)

// Controller publishes node addresses as LoadBalancer services' ingress.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    *controller.Controller
	recorder record.EventRecorder
}

// New returns a controller over factory's informers. The caller starts factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	services := factory.Core().V1().Services()
	nodes := factory.Core().V1().Nodes()
	slices := factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:   client,
		services: services.Lister(),
		nodes:    nodes.Lister(),
		slices:   slices.Lister(),
		synced:   []cache.InformerSynced{services.Informer().HasSynced, nodes.Informer().HasSynced, slices.Informer().HasSynced},
		recorder: recorder,
	}
	c.queue = controller.New("servicelb", c)
	services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: func(old, cur any) { c.serviceChanged(old.(*corev1.Service), cur.(*corev1.Service)) },
		// A deleted service frees its ports for the services waiting on them.
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	// Any node change may change every service's addresses.
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: func(old, cur any) { c.nodeChanged(old.(*corev1.Node), cur.(*corev1.Node)) },
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueSliceService,
		UpdateFunc: func(_, cur any) { c.enqueueSliceService(cur) },
		DeleteFunc: c.enqueueSliceService,
	})
	return c
}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	return c.queue.Run(ctx, 2, c.synced...)
}

func (c *Controller) enqueueAll() {
	all, _ := c.services.List(labels.Everything())
	for _, svc := range all {
		if managed(svc) || len(svc.Status.LoadBalancer.Ingress) > 0 {
			c.queue.Enqueue(svc)
		}
	}
}

func (c *Controller) serviceChanged(old, cur *corev1.Service) {
	// A service leaving type LoadBalancer (or taking a port) frees ports for others.
	if managed(old) != managed(cur) || !slices.Equal(portKeys(old), portKeys(cur)) {
		c.enqueueAll()
		return
	}
	c.queue.Enqueue(cur)
}

func (c *Controller) nodeChanged(old, cur *corev1.Node) {
	if eligible(old) != eligible(cur) || !slices.Equal(nodeAddress(old), nodeAddress(cur)) {
		c.enqueueAll()
	}
}

func (c *Controller) enqueueSliceService(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	name := slice.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return
	}
	c.queue.EnqueueKey(slice.Namespace + "/" + name)
}

// Reconcile writes the ingress the service named by key should have.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Terminal(err)
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.LoadBalancerIngress
	if managed(svc) {
		if holder := c.portHolder(svc); holder != nil {
			if len(svc.Status.LoadBalancer.Ingress) == 0 {
				c.recorder.Eventf(svc, corev1.EventTypeWarning, "PortInUse",
					"Port %s is already used by LoadBalancer service %s/%s; waiting for it to be free", conflictPort(svc, holder), holder.Namespace, holder.Name)
			}
		} else if want, err = c.ingress(svc); err != nil {
			return err
		}
	} else if svc.Spec.LoadBalancerClass != nil {
		// Another implementation owns the status.
		return nil
	}
	if ingressEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer.Ingress = want
	if _, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update load balancer status of %s: %w", key, err)
	}
	if len(want) > 0 {
		c.recorder.Eventf(svc, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensured load balancer on %s", ingressText(want))
	}
	return nil
}

// ingress is the addresses svc is served on: every eligible node's, or with
// externalTrafficPolicy Local those of the nodes that hold a ready endpoint.
func (c *Controller) ingress(svc *corev1.Service) ([]corev1.LoadBalancerIngress, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var local map[string]bool
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		if local, err = c.endpointNodes(svc); err != nil {
			return nil, err
		}
	}
	var ips []string
	for _, n := range nodes {
		if !eligible(n) || (local != nil && !local[n.Name]) {
			continue
		}
		ips = append(ips, nodeAddress(n)...)
	}
	slices.Sort(ips)
	ips = slices.Compact(ips)
	out := make([]corev1.LoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip, IPMode: ptr(corev1.LoadBalancerIPModeVIP)})
	}
	return out, nil
}

// endpointNodes is the set of nodes holding a ready endpoint of svc.
func (c *Controller) endpointNodes(svc *corev1.Service) (map[string]bool, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	list, err := c.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	nodes := map[string]bool{}
	for _, s := range list {
		for _, ep := range s.Endpoints {
			if ep.NodeName != nil && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				nodes[*ep.NodeName] = true
			}
		}
	}
	return nodes, nil
}

// portHolder is the older managed service that already owns one of svc's ports, or nil.
// Age decides (then namespace/name), so the answer is the same on every pass.
func (c *Controller) portHolder(svc *corev1.Service) *corev1.Service {
	all, _ := c.services.List(labels.Everything())
	slices.SortFunc(all, older)
	for _, other := range all {
		if other.UID == svc.UID {
			return nil
		}
		if managed(other) && conflictPort(svc, other) != "" {
			return other
		}
	}
	return nil
}

func older(a, b *corev1.Service) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
}

// conflictPort is the first port (as "80/TCP") both services serve, or "".
func conflictPort(a, b *corev1.Service) string {
	theirs := portKeys(b)
	for _, p := range portKeys(a) {
		if slices.Contains(theirs, p) {
			return p
		}
	}
	return ""
}

func portKeys(svc *corev1.Service) []string {
	if !managed(svc) {
		return nil
	}
	keys := make([]string, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		keys = append(keys, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
	}
	slices.Sort(keys)
	return keys
}

// managed says whether the built-in load balancer serves svc.
func managed(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil && svc.DeletionTimestamp == nil
}

// eligible says whether a node may carry load balancer traffic: Ready and schedulable, and
// not excluded with the upstream label.
func eligible(n *corev1.Node) bool {
	if n.Spec.Unschedulable || n.DeletionTimestamp != nil {
		return false
	}
	if _, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]; excluded {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeAddress is the node's ExternalIPs, or its InternalIPs if it has none.
func nodeAddress(n *corev1.Node) []string {
	var external, internal []string
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeExternalIP:
			external = append(external, a.Address)
		case corev1.NodeInternalIP:
			internal = append(internal, a.Address)
		}
	}
	if len(external) > 0 {
		return external
	}
	return internal
}

func ingressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname
	})
}

func ingressText(in []corev1.LoadBalancerIngress) string {
	ips := make([]string, len(in))
	for i, a := range in {
		ips[i] = a.IP
	}
	return strings.Join(ips, ", ")
}

func ptr[T any](v T) *T { return &v }
