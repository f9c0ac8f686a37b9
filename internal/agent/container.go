package agent

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	kubetypes "k8s.io/kubelet/pkg/types"
	resourcehelper "k8s.io/kubernetes/pkg/api/v1/resource"
	"k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
	"k8s.io/kubernetes/pkg/fieldpath"
	"k8s.io/kubernetes/pkg/kubelet/envvars"
	"k8s.io/kubernetes/pkg/securitycontext"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// containerConfig is the CRI configuration of attempt number attempt of container c.
func (a *Agent) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, podIPs []string, imageRef string) (*runtimeapi.ContainerConfig, error) {
	env, err := a.environment(ctx, pod, c, podIPs)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Key] = string(e.Value)
	}
	expand := func(in []string) []string {
		mapping := expansion.MappingFuncFor(vars)
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expansion.Expand(s, mapping)
		}
		return out
	}
	mounts, err := a.mounts(pod, c, attempt, env)
	if err != nil {
		return nil, err
	}
	labels := podLabels(pod)
	labels[kubetypes.KubernetesContainerNameLabel] = c.Name
	return &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:    expand(c.Command),
		Args:       expand(c.Args),
		WorkingDir: c.WorkingDir,
		Envs:       env,
		Mounts:     mounts,
		Labels:     labels,
		Annotations: map[string]string{
			"io.kubernetes.container.terminationMessagePath": c.TerminationMessagePath,
		},
		LogPath:   filepath.Join(c.Name, strconv.FormatUint(uint64(attempt), 10)+".log"),
		Stdin:     c.Stdin,
		StdinOnce: c.StdinOnce,
		Tty:       c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       linuxResources(pod, c),
			SecurityContext: containerSecurity(pod, c),
		},
	}, nil
}

// mounts are c's volume mounts, plus the files the kubelet adds: /etc/hosts and the
// termination message file.
func (a *Agent) mounts(pod *corev1.Pod, c *corev1.Container, attempt uint32, env []*runtimeapi.KeyValue) ([]*runtimeapi.Mount, error) {
	mounts, err := a.volumes.Mounts(pod, c, env)
	if err != nil {
		return nil, err
	}
	mountedAt := func(path string) bool {
		return slices.ContainsFunc(mounts, func(m *runtimeapi.Mount) bool { return m.ContainerPath == path })
	}
	if !pod.Spec.HostNetwork && !mountedAt("/etc/hosts") {
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: a.etcHostsPath(pod.UID)})
	}
	if c.TerminationMessagePath != "" && !mountedAt(c.TerminationMessagePath) {
		path := a.terminationLogPath(pod, c.Name, attempt)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("create termination log: %w", err)
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return nil, fmt.Errorf("create termination log: %w", err)
		}
		f.Close()
		// The container may run as any user; the file must be writable to it.
		os.Chmod(path, 0o666)
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: path})
	}
	return mounts, nil
}

func (a *Agent) terminationLogPath(pod *corev1.Pod, container string, attempt uint32) string {
	return filepath.Join(a.podDir(pod.UID), "containers", container, "termination-"+strconv.FormatUint(uint64(attempt), 10))
}

// environment is c's environment as the kubelet builds it: envFrom, then env (each value may
// refer to the variables before it as $(NAME)), then the service links of the pod's
// namespace for names not set otherwise.
func (a *Agent) environment(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string) ([]*runtimeapi.KeyValue, error) {
	var (
		order []string
		vars  = map[string]string{}
	)
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	serviceEnv, err := a.serviceEnv(pod)
	if err != nil {
		return nil, err
	}
	for _, from := range c.EnvFrom {
		data, what, err := a.envSource(ctx, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		var invalid []string
		for _, k := range slices.Sorted(maps.Keys(data)) {
			key := from.Prefix + k
			if errs := validation.IsEnvVarName(key); len(errs) > 0 {
				invalid = append(invalid, key)
				continue
			}
			set(key, data[k])
		}
		if len(invalid) > 0 {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "InvalidEnvironmentVariableNames",
				"Keys [%s] from the EnvFrom %s were skipped since they are considered invalid environment variable names.", strings.Join(invalid, ", "), what)
		}
	}
	for _, e := range c.Env {
		value := e.Value
		if e.ValueFrom == nil {
			mapping := expansion.MappingFuncFor(vars, serviceEnv)
			value = expansion.Expand(value, mapping)
		} else {
			v, ok, err := a.envValueFrom(ctx, pod, c, e.ValueFrom, podIPs)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			value = v
		}
		set(e.Name, value)
	}
	for _, k := range slices.Sorted(maps.Keys(serviceEnv)) {
		if _, ok := vars[k]; !ok {
			set(k, serviceEnv[k])
		}
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, k := range order {
		out = append(out, &runtimeapi.KeyValue{Key: k, Value: []byte(vars[k])})
	}
	return out, nil
}

// serviceEnv are the docker-link-style variables of the services a pod sees: those of its
// namespace (with enableServiceLinks) and the API's own service.
func (a *Agent) serviceEnv(pod *corev1.Pod) (map[string]string, error) {
	all, err := a.services.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	var visible []*corev1.Service
	for _, s := range all {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		master := s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes"
		if master || (links && s.Namespace == pod.Namespace) {
			visible = append(visible, s)
		}
	}
	out := map[string]string{}
	for _, e := range envvars.FromServices(visible) {
		out[e.Name] = e.Value
	}
	return out, nil
}

// envSource reads the data of an envFrom source.
func (a *Agent) envSource(ctx context.Context, namespace string, from corev1.EnvFromSource) (map[string]string, string, error) {
	switch {
	case from.ConfigMapRef != nil:
		ref := from.ConfigMapRef
		what := fmt.Sprintf("configMap %s/%s", namespace, ref.Name)
		cm, err := a.client.CoreV1().ConfigMaps(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && ref.Optional != nil && *ref.Optional {
				return nil, what, nil
			}
			return nil, what, notFoundText(err, "configmap", ref.Name)
		}
		return cm.Data, what, nil
	case from.SecretRef != nil:
		ref := from.SecretRef
		what := fmt.Sprintf("secret %s/%s", namespace, ref.Name)
		s, err := a.client.CoreV1().Secrets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && ref.Optional != nil && *ref.Optional {
				return nil, what, nil
			}
			return nil, what, notFoundText(err, "secret", ref.Name)
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, what, nil
	}
	return nil, "", nil
}

// envValueFrom resolves one valueFrom; ok is false for an optional key that is missing.
func (a *Agent) envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, podIPs []string) (value string, ok bool, err error) {
	switch {
	case from.FieldRef != nil:
		v, err := a.podField(pod, from.FieldRef.FieldPath, podIPs)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		name := from.ResourceFieldRef.ContainerName
		if name == "" {
			name = c.Name
		}
		v, err := resourcehelper.ExtractResourceValueByContainerNameAndNodeAllocatable(from.ResourceFieldRef, pod, name, a.allocatable())
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, notFoundText(err, "configmap", ref.Name)
		}
		v, found := cm.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional {
				return "", false, nil
			}
			return "", false, notFoundText(err, "secret", ref.Name)
		}
		v, found := s.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	}
	return "", false, nil
}

// podField is the value of a downward-API field of pod.
func (a *Agent) podField(pod *corev1.Pod, path string, podIPs []string) (string, error) {
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return a.cfg.NodeIP.String(), nil
	case "status.podIP":
		if pod.Spec.HostNetwork {
			return a.cfg.NodeIP.String(), nil
		}
		return firstIP(podIPs), nil
	case "status.podIPs":
		if pod.Spec.HostNetwork {
			return a.cfg.NodeIP.String(), nil
		}
		return strings.Join(podIPs, ","), nil
	}
	return fieldpath.ExtractFieldPathAsString(pod, path)
}

// notFoundText turns a missing object into the kubelet's message (`configmap "x" not found`).
func notFoundText(err error, kind, name string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %q not found", kind, name)
	}
	return fmt.Errorf("read %s %q: %w", kind, name, err)
}

// linuxResources are c's cgroup settings, computed as the kubelet does: CPU shares from the
// request, a CFS quota from the limit, the memory limit, and the OOM score by QoS class.
func linuxResources(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerResources {
	req, lim := c.Resources.Requests, c.Resources.Limits
	cpuReq := req.Cpu().MilliValue()
	if cpuReq == 0 && !lim.Cpu().IsZero() {
		cpuReq = lim.Cpu().MilliValue()
	}
	r := &runtimeapi.LinuxContainerResources{CpuShares: milliCPUToShares(cpuReq), OomScoreAdj: oomScoreAdj(pod, c)}
	if m := lim.Cpu().MilliValue(); m > 0 {
		r.CpuPeriod = 100000
		r.CpuQuota = max(m*100000/1000, 1000)
	}
	if m := lim.Memory().Value(); m > 0 {
		r.MemoryLimitInBytes = m
	}
	return r
}

func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return 2
	}
	return max(milli*1024/1000, 2)
}

// oomScoreAdj ranks the container for the kernel's OOM killer as the kubelet does: best
// effort first, guaranteed last, burstable by its share of the node's memory.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container) int64 {
	switch qos.GetPodQOS(pod) {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	memory := int64(1)
	if m, ok := allocatableMemory(); ok {
		memory = m
	}
	score := 1000 - (1000*c.Resources.Requests.Memory().Value())/memory
	return min(max(score, 2), 999)
}

func allocatableMemory() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	var kb int64
	if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err != nil {
		return 0, false
	}
	return kb * 1024, true
}

// containerSecurity is c's effective security context (its own over the pod's) for CRI.
func containerSecurity(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	eff := securitycontext.DetermineEffectiveSecurityContext(pod, c)
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaces(pod)}
	if eff.Capabilities != nil {
		sc.Capabilities = &runtimeapi.Capability{}
		for _, cap := range eff.Capabilities.Add {
			sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(cap))
		}
		for _, cap := range eff.Capabilities.Drop {
			sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(cap))
		}
	}
	sc.Privileged = eff.Privileged != nil && *eff.Privileged
	if eff.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *eff.RunAsUser}
	}
	if eff.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *eff.RunAsGroup}
	}
	sc.ReadonlyRootfs = eff.ReadOnlyRootFilesystem != nil && *eff.ReadOnlyRootFilesystem
	if psc := pod.Spec.SecurityContext; psc != nil {
		sc.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
	}
	sc.NoNewPrivs = securitycontext.AddNoNewPrivileges(eff)
	if !sc.Privileged {
		sc.MaskedPaths = securitycontext.ConvertToRuntimeMaskedPaths(eff.ProcMount)
		sc.ReadonlyPaths = securitycontext.ConvertToRuntimeReadonlyPaths(eff.ProcMount)
	}
	sc.Seccomp = seccomp(eff.SeccompProfile)
	return sc
}

// seccomp maps a seccomp profile; none means unconfined, the kubelet's default.
func seccomp(p *corev1.SeccompProfile) *runtimeapi.SecurityProfile {
	if p == nil {
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile != nil {
			return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: *p.LocalhostProfile}
		}
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
}
