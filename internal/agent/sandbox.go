package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	kubetypes "k8s.io/kubelet/pkg/types"
	"k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
)

// sandboxConfig is the CRI sandbox of pod: its name, hostname, log directory, DNS, host
// ports, namespaces and cgroup.
func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt uint32) *runtimeapi.PodSandboxConfig {
	labels := maps.Clone(pod.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, podLabels(pod))
	config := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt,
		},
		LogDirectory: podLogDir(a.cfg.Root, pod.Namespace, pod.Name, pod.UID),
		DnsConfig:    a.dnsConfig(pod),
		PortMappings: portMappings(pod),
		Labels:       labels,
		Annotations:  maps.Clone(pod.Annotations),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    cgroupParent(pod),
			SecurityContext: sandboxSecurity(pod),
			Sysctls:         sysctls(pod),
		},
	}
	if !pod.Spec.HostNetwork {
		config.Hostname = hostname(pod)
	}
	return config
}

// podLabels are the labels by which the agent finds a pod's sandbox and containers.
func podLabels(pod *corev1.Pod) map[string]string {
	return map[string]string{
		kubetypes.KubernetesPodNameLabel:      pod.Name,
		kubetypes.KubernetesPodNamespaceLabel: pod.Namespace,
		kubetypes.KubernetesPodUIDLabel:       string(pod.UID),
	}
}

func podLogDir(root, namespace, name string, uid types.UID) string {
	return filepath.Join(logsDir(root), namespace+"_"+name+"_"+string(uid))
}

// cgroupParent is the pod's cgroup, laid out as the kubelet's cgroupfs driver does.
func cgroupParent(pod *corev1.Pod) string {
	switch qos.GetPodQOS(pod) {
	case corev1.PodQOSGuaranteed:
		return "/kubepods/pod" + string(pod.UID)
	case corev1.PodQOSBurstable:
		return "/kubepods/burstable/pod" + string(pod.UID)
	}
	return "/kubepods/besteffort/pod" + string(pod.UID)
}

// hostname is the pod's hostname: spec.hostname, else its name, cut to 63 characters.
func hostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func portMappings(pod *corev1.Pod) []*runtimeapi.PortMapping {
	var out []*runtimeapi.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			out = append(out, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return out
}

func namespaces(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

func sandboxSecurity(pod *corev1.Pod) *runtimeapi.LinuxSandboxSecurityContext {
	sc := &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaces(pod), Privileged: anyPrivileged(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		sc.Seccomp = seccomp(psc.SeccompProfile)
	}
	return sc
}

func anyPrivileged(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
				return true
			}
		}
	}
	return false
}

func sysctls(pod *corev1.Pod) map[string]string {
	if pod.Spec.SecurityContext == nil || len(pod.Spec.SecurityContext.Sysctls) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		out[s.Name] = s.Value
	}
	return out
}

// dnsConfig is the pod's resolv.conf as the kubelet makes it for its dnsPolicy.
func (a *Agent) dnsConfig(pod *corev1.Pod) *runtimeapi.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == corev1.DNSClusterFirstWithHostNet {
		policy = corev1.DNSClusterFirst
	} else if pod.Spec.HostNetwork && policy == corev1.DNSClusterFirst {
		policy = corev1.DNSDefault
	}
	if policy == corev1.DNSClusterFirst && len(a.cfg.ClusterDNS) == 0 {
		policy = corev1.DNSDefault
	}
	dns := &runtimeapi.DNSConfig{}
	switch policy {
	case corev1.DNSClusterFirst:
		for _, ip := range a.cfg.ClusterDNS {
			dns.Servers = append(dns.Servers, ip.String())
		}
		d := a.cfg.ClusterDomain
		dns.Searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		dns.Searches = append(dns.Searches, hostResolvConf().Searches...)
		dns.Options = []string{"ndots:5"}
	case corev1.DNSDefault:
		dns = hostResolvConf()
	}
	if c := pod.Spec.DNSConfig; c != nil {
		dns.Servers = append(dns.Servers, c.Nameservers...)
		dns.Searches = append(dns.Searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			dns.Options = mergeOption(dns.Options, opt)
		}
	}
	return dns
}

// mergeOption adds opt to options, replacing an option of the same name.
func mergeOption(options []string, opt string) []string {
	name, _, _ := strings.Cut(opt, ":")
	for i, o := range options {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			options[i] = opt
			return options
		}
	}
	return append(options, opt)
}

// hostResolvConf reads the host's /etc/resolv.conf.
func hostResolvConf() *runtimeapi.DNSConfig {
	dns := &runtimeapi.DNSConfig{}
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return dns
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			dns.Servers = append(dns.Servers, f[1])
		case "search":
			dns.Searches = f[1:]
		case "options":
			dns.Options = f[1:]
		}
	}
	return dns
}

// etcHostsPath is the pod's /etc/hosts on the host.
func (a *Agent) etcHostsPath(uid types.UID) string {
	return filepath.Join(a.podDir(uid), "etc-hosts")
}

// writeEtcHosts writes the pod's /etc/hosts as the kubelet manages it: localhost, the pod's
// own name at its IPs, and the spec's hostAliases.
func (a *Agent) writeEtcHosts(pod *corev1.Pod, ips ...string) error {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	name := hostname(pod)
	names := name
	if pod.Spec.Subdomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", name, pod.Spec.Subdomain, pod.Namespace, a.cfg.ClusterDomain, name)
	}
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, h := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
		}
	}
	path := a.etcHostsPath(pod.UID)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("write /etc/hosts of pod %s: %w", pod.Name, err)
	}
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write /etc/hosts of pod %s: %w", pod.Name, err)
	}
	return os.Rename(path+".tmp", path)
}
