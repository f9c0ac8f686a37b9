package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/internal/registry"
	"github.com/gantryhq/gantry/internal/storage"
)

// Service cluster IPs and node ports are allocated by creating one key per address or port in
// the store: the store's create-if-absent makes a double allocation impossible, even across
// several API servers, and a repair pass at start-up frees the keys of services that were never
// stored (a crash between allocation and creation).
const (
	ipKeyPrefix   = "/registry/ranges/serviceips/"
	portKeyPrefix = "/registry/ranges/servicenodeports/"
)

// allocator hands out service cluster IPs from a CIDR and node ports from a range.
type allocator struct {
	store              storage.Store
	cidr               netip.Prefix
	portBase, portSize int
}

// ServiceNodePortRange is Kubernetes' default node port range.
const (
	nodePortBase = 30000
	nodePortSize = 2768
)

var serviceGVK = corev1.SchemeGroupVersion.WithKind("Service")

// allocate gives a service being created or updated its cluster IPs and node ports, reusing
// old's where they still apply. The returned function undoes what this call allocated.
func (s *Server) allocate(ctx context.Context, kind *registry.Kind, obj, old runtime.Object, dryRun bool) (func(), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok || kind.GroupVersionKind != serviceGVK || dryRun {
		return func() {}, nil
	}
	var prev *corev1.Service
	if old != nil {
		prev = old.(*corev1.Service)
	} else if _, err := s.objects.get(ctx, kind, svc.Namespace, svc.Name); err == nil {
		// A duplicate create must fail as a duplicate, not as a taken cluster IP.
		return nil, apierrors.NewAlreadyExists(kind.GroupVersionResource().GroupResource(), svc.Name)
	}
	var claimed []string
	undo := func() {
		for _, k := range claimed {
			if _, _, err := s.objects.store.Delete(context.WithoutCancel(ctx), k, 0); err != nil && !errors.Is(err, storage.ErrNotFound) {
				slog.Warn("release service allocation", "key", k, "err", err)
			}
		}
	}
	owner := svc.Namespace + "/" + svc.Name
	a := s.alloc

	if err := a.assignIP(ctx, svc, prev, owner, &claimed); err != nil {
		undo()
		return nil, err
	}
	if err := a.assignPorts(ctx, svc, prev, owner, &claimed); err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}

func (a *allocator) assignIP(ctx context.Context, svc, prev *corev1.Service, owner string, claimed *[]string) error {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
		return nil
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	if svc.Spec.IPFamilyPolicy == nil {
		single := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &single
	}
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	}
	if prev != nil && prev.Spec.ClusterIP != "" && prev.Spec.Type != corev1.ServiceTypeExternalName {
		// The cluster IP is immutable; an update that leaves it out keeps it.
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = prev.Spec.ClusterIP
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if svc.Spec.ClusterIP == prev.Spec.ClusterIP {
			return nil
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		return nil
	}
	path := field.NewPath("spec", "clusterIPs").Index(0)
	if svc.Spec.ClusterIP != "" {
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !a.cidr.Contains(ip) {
			return apierrors.NewInvalid(serviceGVK.GroupKind(), svc.Name, field.ErrorList{field.Invalid(path, svc.Spec.ClusterIP,
				fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", svc.Spec.ClusterIP, a.cidr))})
		}
		if _, err := a.store.Create(ctx, ipKeyPrefix+ip.String(), []byte(owner)); err != nil {
			if errors.Is(err, storage.ErrExists) {
				return apierrors.NewInvalid(serviceGVK.GroupKind(), svc.Name, field.ErrorList{field.Invalid(path, svc.Spec.ClusterIP,
					fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", svc.Spec.ClusterIP))})
			}
			return err
		}
		*claimed = append(*claimed, ipKeyPrefix+ip.String())
		svc.Spec.ClusterIPs = []string{ip.String()}
		return nil
	}
	ip, err := a.randomIP(ctx, owner)
	if err != nil {
		return err
	}
	*claimed = append(*claimed, ipKeyPrefix+ip)
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
	return nil
}

// randomIP claims a free address of the range. The network address, the first address (the
// kubernetes service's) and the broadcast address are never handed out at random.
func (a *allocator) randomIP(ctx context.Context, owner string) (string, error) {
	size := 1 << (a.cidr.Addr().BitLen() - a.cidr.Bits())
	base := new(big.Int).SetBytes(a.cidr.Masked().Addr().AsSlice())
	start := rand.IntN(size)
	// Walk the range from a random start so that the search ends even when nearly full.
	for i := range size {
		off := (start + i) % size
		if off < 2 || off == size-1 {
			continue
		}
		ip, _ := netip.AddrFromSlice(new(big.Int).Add(base, big.NewInt(int64(off))).FillBytes(make([]byte, len(a.cidr.Addr().AsSlice()))))
		_, err := a.store.Create(ctx, ipKeyPrefix+ip.String(), []byte(owner))
		if errors.Is(err, storage.ErrExists) {
			continue
		}
		if err != nil {
			return "", err
		}
		return ip.String(), nil
	}
	return "", apierrors.NewInternalError(fmt.Errorf("range is full: no cluster IP left in %s", a.cidr))
}

func needsNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

func (a *allocator) assignPorts(ctx context.Context, svc, prev *corev1.Service, owner string, claimed *[]string) error {
	held := map[int32]bool{}
	if prev != nil && needsNodePorts(prev.Spec.Type) {
		for _, p := range prev.Spec.Ports {
			held[p.NodePort] = true
		}
		if prev.Spec.HealthCheckNodePort != 0 {
			held[prev.Spec.HealthCheckNodePort] = true
		}
	}
	if !needsNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
		svc.Spec.HealthCheckNodePort = 0
		return nil
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort == 0 && prev != nil && needsNodePorts(prev.Spec.Type) {
			// An update that leaves the node port out keeps the one the port had.
			for _, q := range prev.Spec.Ports {
				if q.Port == p.Port && q.Protocol == p.Protocol {
					p.NodePort = q.NodePort
				}
			}
		}
		port, err := a.claimPort(ctx, p.NodePort, held, owner, field.NewPath("spec", "ports").Index(i).Child("nodePort"), svc.Name, claimed)
		if err != nil {
			return err
		}
		p.NodePort = port
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		port, err := a.claimPort(ctx, svc.Spec.HealthCheckNodePort, held, owner, field.NewPath("spec", "healthCheckNodePort"), svc.Name, claimed)
		if err != nil {
			return err
		}
		svc.Spec.HealthCheckNodePort = port
	}
	return nil
}

// claimPort claims want, or any free port when want is 0; a port in held already belongs to the
// service.
func (a *allocator) claimPort(ctx context.Context, want int32, held map[int32]bool, owner string, path *field.Path, name string, claimed *[]string) (int32, error) {
	if want != 0 {
		if held[want] {
			return want, nil
		}
		if int(want) < a.portBase || int(want) >= a.portBase+a.portSize {
			return 0, apierrors.NewInvalid(serviceGVK.GroupKind(), name, field.ErrorList{field.Invalid(path, want,
				fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portBase, a.portBase+a.portSize-1))})
		}
		k := portKeyPrefix + strconv.Itoa(int(want))
		if _, err := a.store.Create(ctx, k, []byte(owner)); err != nil {
			if errors.Is(err, storage.ErrExists) {
				return 0, apierrors.NewInvalid(serviceGVK.GroupKind(), name, field.ErrorList{field.Invalid(path, want, "provided port is already allocated")})
			}
			return 0, err
		}
		*claimed = append(*claimed, k)
		held[want] = true
		return want, nil
	}
	start := rand.IntN(a.portSize)
	for i := range a.portSize {
		port := int32(a.portBase + (start+i)%a.portSize)
		if held[port] {
			continue
		}
		k := portKeyPrefix + strconv.Itoa(int(port))
		_, err := a.store.Create(ctx, k, []byte(owner))
		if errors.Is(err, storage.ErrExists) {
			continue
		}
		if err != nil {
			return 0, err
		}
		*claimed = append(*claimed, k)
		held[port] = true
		return port, nil
	}
	return 0, apierrors.NewInternalError(errors.New("range is full: no node port left"))
}

// serviceKeys lists the allocation keys svc holds.
func serviceKeys(svc *corev1.Service) map[string]bool {
	keys := map[string]bool{}
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			keys[ipKeyPrefix+ip] = true
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			keys[portKeyPrefix+strconv.Itoa(int(p.NodePort))] = true
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		keys[portKeyPrefix+strconv.Itoa(int(svc.Spec.HealthCheckNodePort))] = true
	}
	return keys
}

// releaseReplaced frees what old held and obj, its replacement, no longer does.
func (s *Server) releaseReplaced(ctx context.Context, kind *registry.Kind, obj, old runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok || kind.GroupVersionKind != serviceGVK {
		return
	}
	keep := serviceKeys(svc)
	for k := range serviceKeys(old.(*corev1.Service)) {
		if !keep[k] {
			s.release(ctx, k)
		}
	}
}

// releaseAll frees everything a deleted object held.
func (s *Server) releaseAll(ctx context.Context, kind *registry.Kind, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok || kind.GroupVersionKind != serviceGVK {
		return
	}
	for k := range serviceKeys(svc) {
		s.release(ctx, k)
	}
}

func (s *Server) release(ctx context.Context, key string) {
	if _, _, err := s.objects.store.Delete(context.WithoutCancel(ctx), key, 0); err != nil && !errors.Is(err, storage.ErrNotFound) {
		// A key left behind is found and freed by the next start-up repair.
		slog.Warn("release service allocation", "key", key, "err", err)
	}
}

// repairAllocations frees allocation keys no stored service holds: the trace of a crash between
// allocating and storing a service.
func (s *Server) repairAllocations(ctx context.Context) error {
	kind := s.kinds.byGVK[serviceGVK]
	used := map[string]bool{}
	res, err := s.objects.store.List(ctx, prefix(kind, ""), storage.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	for _, kv := range res.Items {
		obj, err := s.objects.decode(kind, kv.Value, kv.ModRevision)
		if err != nil {
			return err
		}
		for k := range serviceKeys(obj.(*corev1.Service)) {
			used[k] = true
		}
	}
	for _, p := range []string{ipKeyPrefix, portKeyPrefix} {
		res, err := s.objects.store.List(ctx, p, storage.ListOptions{})
		if err != nil {
			return fmt.Errorf("list allocations: %w", err)
		}
		for _, kv := range res.Items {
			if used[kv.Key] {
				continue
			}
			// Deleting only at the revision read keeps a concurrent allocation safe.
			if _, _, err := s.objects.store.Delete(ctx, kv.Key, kv.ModRevision); err == nil {
				slog.Info("freed leaked service allocation", "key", strings.TrimPrefix(kv.Key, "/registry/ranges/"), "owner", string(kv.Value))
			}
		}
	}
	return nil
}
