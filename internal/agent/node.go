package agent

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

const (
	// leaseDuration and leaseRenewInterval are the kubelet's: the Lease lasts 40 s and is
	// renewed every 10 s.
	leaseDuration      = 40 * time.Second
	leaseRenewInterval = 10 * time.Second
	// statusInterval is how often the node's status is compared with what was reported; it
	// is written only when it changed, or once a minute as a heartbeat.
	statusInterval  = 10 * time.Second
	statusHeartbeat = time.Minute
	// maxImages is how many images node.status.images lists, as the kubelet's default.
	maxImages = 50
)

// registerNode creates the Node, or takes over the one of the same name (a re-started or
// re-imaged node), and reports its first status.
func (a *Agent) registerNode(ctx context.Context) error {
	v, err := a.rt.Version(ctx, "")
	if err != nil {
		return fmt.Errorf("runtime version: %w", err)
	}
	a.runtimeType = v.RuntimeName
	nodes := a.client.CoreV1().Nodes()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: a.nodeLabels()}}
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	switch {
	case err == nil:
		node = created
	case apierrors.IsAlreadyExists(err):
		if node, err = nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("read node %s: %w", a.cfg.NodeName, err)
		}
		for k, val := range a.nodeLabels() {
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[k] = val
		}
		if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node %s: %w", a.cfg.NodeName, err)
		}
	default:
		return fmt.Errorf("register node %s: %w", a.cfg.NodeName, err)
	}
	a.node, a.nodeUID = node, node.UID
	if err := a.writeNodeStatus(ctx, v, true); err != nil {
		return err
	}
	a.recorder.Event(nodeRef(a.cfg.NodeName), corev1.EventTypeNormal, "NodeReady", "Node "+a.cfg.NodeName+" status is now: NodeReady")
	return nil
}

func (a *Agent) nodeLabels() map[string]string {
	labels := map[string]string{
		corev1.LabelHostname:   a.cfg.NodeName,
		corev1.LabelOSStable:   runtime.GOOS,
		corev1.LabelArchStable: runtime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	return labels
}

// reportStatus writes the node's status when it changes (images, conditions, capacity), and
// at least every statusHeartbeat.
func (a *Agent) reportStatus(ctx context.Context) {
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	last := a.clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := a.rt.Version(ctx, "")
		if err != nil {
			a.log.Warn("runtime version", "err", err)
			v = nil
		}
		force := a.clock.Since(last) >= statusHeartbeat
		if err := a.writeNodeStatus(ctx, v, force); err != nil && ctx.Err() == nil {
			a.log.Warn("node status", "err", err)
			continue
		}
		if force {
			last = a.clock.Now()
		}
	}
}

// writeNodeStatus computes the node's status and writes it if it changed or force is set.
// v is the runtime's version, nil when the runtime does not answer (the node is then not
// Ready).
func (a *Agent) writeNodeStatus(ctx context.Context, v *runtimeapi.VersionResponse, force bool) error {
	node := a.node.DeepCopy()
	st := &node.Status
	now := metav1.NewTime(a.clock.Now())
	st.Capacity = a.cfg.Capacity
	st.Allocatable = a.allocatable()
	st.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP.String()}, {Type: corev1.NodeHostName, Address: a.cfg.NodeName}}
	st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.cfg.Port)
	st.NodeInfo = nodeInfo(v, st.NodeInfo)
	if images, err := a.nodeImages(ctx); err == nil {
		st.Images = images
	}
	ready, reason, message := true, "KubeletReady", "kubelet is posting ready status"
	switch {
	case v == nil:
		ready, reason, message = false, "KubeletNotReady", "container runtime is down"
	case !a.networkReady.Load():
		ready, reason, message = false, "KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:the node has no pod range (spec.podCIDR) yet"
	}
	conditions := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: condition(ready), Reason: reason, Message: message},
	}
	changed := force
	for _, c := range conditions {
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		i := slices.IndexFunc(st.Conditions, func(o corev1.NodeCondition) bool { return o.Type == c.Type })
		switch {
		case i < 0:
			st.Conditions = append(st.Conditions, c)
			changed = true
		case st.Conditions[i].Status != c.Status || st.Conditions[i].Reason != c.Reason:
			st.Conditions[i] = c
			changed = true
		case force:
			st.Conditions[i].LastHeartbeatTime = now
		}
	}
	if !changed && apiequality.Semantic.DeepEqual(st, &a.node.Status) {
		return nil
	}
	out, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("read node: %w", gerr)
		}
		a.node = fresh
		return a.writeNodeStatus(ctx, v, true)
	}
	if err != nil {
		return fmt.Errorf("update status of node %s: %w", a.cfg.NodeName, err)
	}
	a.node = out
	return nil
}

func condition(ok bool) corev1.ConditionStatus {
	if ok {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

func nodeInfo(v *runtimeapi.VersionResponse, old corev1.NodeSystemInfo) corev1.NodeSystemInfo {
	info := corev1.NodeSystemInfo{
		KubeletVersion:  Version,
		OperatingSystem: runtime.GOOS,
		Architecture:    runtime.GOARCH,
		OSImage:         osImage(),
		MachineID:       readTrimmed("/etc/machine-id"),
		SystemUUID:      readTrimmed("/sys/class/dmi/id/product_uuid"),
		BootID:          readTrimmed("/proc/sys/kernel/random/boot_id"),
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		info.KernelVersion = utsString(u.Release[:])
	}
	info.ContainerRuntimeVersion = old.ContainerRuntimeVersion
	if v != nil {
		info.ContainerRuntimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	}
	return info
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func readTrimmed(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// nodeImages lists the runtime's images, largest first, as node.status.images.
func (a *Agent) nodeImages(ctx context.Context) ([]corev1.ContainerImage, error) {
	images, err := a.images.ListImages(ctx, nil)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(images, func(x, y *runtimeapi.Image) int { return int(y.Size - x.Size) })
	var out []corev1.ContainerImage
	for _, img := range images {
		names := append(append([]string(nil), img.RepoDigests...), img.RepoTags...)
		if len(names) == 0 {
			continue
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.Size)})
		if len(out) == maxImages {
			break
		}
	}
	return out, nil
}

// renewLease keeps the node's Lease fresh, the heartbeat node lifecycle watches.
func (a *Agent) renewLease(ctx context.Context) {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var lease *coordinationv1.Lease
	for {
		now := metav1.NewMicroTime(a.clock.Now())
		var err error
		if lease == nil {
			lease, err = leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				lease, err = leases.Create(ctx, a.newLease(now), metav1.CreateOptions{})
			}
		} else {
			upd := lease.DeepCopy()
			a.holdLease(upd, now)
			lease, err = leases.Update(ctx, upd, metav1.UpdateOptions{})
		}
		if err != nil {
			lease = nil
			if ctx.Err() == nil {
				a.log.Warn("renew lease", "err", err)
			}
		}
		wait := leaseRenewInterval
		if err != nil {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *Agent) newLease(now metav1.MicroTime) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease}}
	a.holdLease(l, now)
	return l
}

// holdLease makes l this node's, renewed at now, owned by the Node so that deleting the node
// deletes it.
func (a *Agent) holdLease(l *coordinationv1.Lease, now metav1.MicroTime) {
	l.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration.Seconds()))
	l.Spec.RenewTime = &now
	l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.cfg.NodeName, UID: a.nodeUID}}
}

// startNetwork waits for the node's pod range and starts the pod network with it; the node
// turns Ready then.
func (a *Agent) startNetwork(ctx context.Context) error {
	if a.cfg.Network == nil {
		return nil
	}
	node := a.node
	waited := a.clock.Now()
	for node.Spec.PodCIDR == "" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(250 * time.Millisecond):
		}
		fresh, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			a.log.Warn("read node", "err", err)
			continue
		}
		node = fresh
		if a.clock.Since(waited) > 10*time.Second {
			a.log.Info("waiting for the node's pod range (spec.podCIDR) from the server")
			waited = a.clock.Now()
		}
	}
	a.node = node
	if err := a.cfg.Network.Start(ctx, node); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	a.networkReady.Store(true)
	v, err := a.rt.Version(ctx, "")
	if err != nil {
		v = nil
	}
	return a.writeNodeStatus(ctx, v, true)
}
