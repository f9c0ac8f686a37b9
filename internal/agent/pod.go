package agent

import (
	"bytes"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultGracePeriod is a pod's grace period when it sets none.
const defaultGracePeriod = 30

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// specOf is the spec of the pod's container (or init container) called name, or nil.
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// containerRef is the object events about container c refer to: the pod, with the
// container's field path, as the kubelet reports them.
func containerRef(pod *corev1.Pod, c *corev1.Container) *corev1.ObjectReference {
	path := fmt.Sprintf("spec.containers{%s}", c.Name)
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			path = fmt.Sprintf("spec.initContainers{%s}", c.Name)
		}
	}
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: path,
	}
}

func nodeRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: name, UID: "", APIVersion: "v1"}
}

// formatPod names a pod in messages as the kubelet does: name_namespace(uid).
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

func backoffKey(pod *corev1.Pod, c *corev1.Container) string {
	return string(pod.UID) + "/" + c.Name
}

// gracePeriod is the time the pod's containers get between SIGTERM and SIGKILL: the one
// its deletion set, else its spec's.
func (a *Agent) gracePeriod(pod *corev1.Pod) int64 {
	if pod.DeletionGracePeriodSeconds != nil {
		return *pod.DeletionGracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return defaultGracePeriod
}

// probeGracePeriod is the grace period of a container killed by its liveness probe: the
// probe's own if it sets one.
func (a *Agent) probeGracePeriod(pod *corev1.Pod, c *corev1.Container) int64 {
	if p := c.LivenessProbe; p != nil && p.TerminationGracePeriodSeconds != nil {
		return *p.TerminationGracePeriodSeconds
	}
	return a.gracePeriod(pod)
}

// allocatable is the node's allocatable resources, the default limits of the downward API.
func (a *Agent) allocatable() corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a.cfg.Capacity {
		v := q.DeepCopy()
		if r, ok := a.cfg.SystemReserved[name]; ok {
			v.Sub(r)
			if v.Sign() < 0 {
				v = resource.Quantity{}
			}
		}
		out[name] = v
	}
	return out
}

// runtimeName is the scheme of container IDs ("containerd://…").
func (a *Agent) runtimeName() string { return a.runtimeType }

// tailLog is the end of a CRI log file (at most lines lines and max bytes), with the CRI
// prefixes (time, stream, tag) removed.
func tailLog(path string, lines, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	all := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	var out []byte
	for _, l := range all {
		// "<time> <stream> <tag> <message>"
		if f := bytes.SplitN(l, []byte(" "), 4); len(f) == 4 {
			out = append(out, f[3]...)
			if string(f[2]) == "F" {
				out = append(out, '\n')
			}
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return string(out)
}
