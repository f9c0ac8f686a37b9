package endpoints

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/endpointslice"
	endpointsliceutil "k8s.io/endpointslice/util"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	netutils "k8s.io/utils/net"
)

// subsetsFor returns one single-address subset per pod and Service port (unpacked).
func subsetsFor(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	var subsets []corev1.EndpointSubset
	for _, pod := range pods {
		if !endpointsliceutil.ShouldPodBeInEndpoints(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, ok := address(svc, pod)
		if !ok {
			continue
		}
		ready := svc.Spec.PublishNotReadyAddresses || podutil.IsPodReady(pod)
		add := func(ports []corev1.EndpointPort) {
			s := corev1.EndpointSubset{Ports: ports}
			if ready {
				s.Addresses = []corev1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			subsets = append(subsets, s)
		}
		if len(svc.Spec.Ports) == 0 {
			// Only a headless Service may have no ports: its addresses carry none.
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := endpointslice.FindPort(pod, sp)
			if err != nil {
				// A named targetPort the pod does not have: no address for that port.
				continue
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return subsets
}

// address is pod's address for svc: its IP of the Service's (first) family, targetRef,
// nodeName and, for a pod that names this headless Service as its subdomain, hostname.
func address(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	wantIPv6 := false
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		wantIPv6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		wantIPv6 = netutils.IsIPv6String(svc.Spec.ClusterIP)
	default:
		wantIPv6 = netutils.IsIPv6String(pod.Status.PodIP)
	}
	for _, podIP := range pod.Status.PodIPs {
		ip := netutils.ParseIPSloppy(podIP.IP)
		if ip == nil || netutils.IsIPv6(ip) != wantIPv6 {
			continue
		}
		nodeName := pod.Spec.NodeName
		addr := corev1.EndpointAddress{
			IP:        ip.String(),
			NodeName:  &nodeName,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if endpointsliceutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		return addr, true
	}
	return corev1.EndpointAddress{}, false
}

// truncate cuts ep down to maxAddresses addresses, keeping ready ones first, and reports
// whether it had to.
func truncate(ep *corev1.Endpoints) bool {
	total := 0
	for _, s := range ep.Subsets {
		total += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if total <= maxAddresses {
		return false
	}
	room := maxAddresses
	for i := range ep.Subsets {
		s := &ep.Subsets[i]
		s.Addresses = s.Addresses[:min(len(s.Addresses), room)]
		room -= len(s.Addresses)
	}
	var kept []corev1.EndpointSubset
	for _, s := range ep.Subsets {
		s.NotReadyAddresses = s.NotReadyAddresses[:min(len(s.NotReadyAddresses), room)]
		room -= len(s.NotReadyAddresses)
		if len(s.Addresses)+len(s.NotReadyAddresses) > 0 {
			kept = append(kept, s)
		}
	}
	ep.Subsets = kept
	return true
}
