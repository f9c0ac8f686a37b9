package agent

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	kubetypes "k8s.io/kubelet/pkg/types"
)

// relistPeriod is how often the runtime is listed to notice containers that changed state
// (the kubelet's PLEG period).
const relistPeriod = time.Second

// podRuntime is what the runtime holds for one pod, newest first.
type podRuntime struct {
	namespace, name string
	sandboxes       []*runtimeapi.PodSandbox
	containers      []*runtimeapi.Container
	// fingerprint changes whenever a sandbox or container appears, goes or changes state.
	fingerprint string
}

// latestSandbox is the pod's newest sandbox, or nil.
func (p *podRuntime) latestSandbox() *runtimeapi.PodSandbox {
	if p == nil || len(p.sandboxes) == 0 {
		return nil
	}
	return p.sandboxes[0]
}

// attempts are the containers named name, newest attempt first.
func (p *podRuntime) attempts(name string) []*runtimeapi.Container {
	if p == nil {
		return nil
	}
	var out []*runtimeapi.Container
	for _, c := range p.containers {
		if c.GetMetadata().GetName() == name {
			out = append(out, c)
		}
	}
	return out
}

func (a *Agent) relistLoop(ctx context.Context) {
	t := time.NewTicker(relistPeriod)
	defer t.Stop()
	for {
		if err := a.relist(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("list the runtime's pods", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// relist reads the runtime's sandboxes and containers and wakes the worker of every pod whose
// runtime state changed, starting workers for pods it finds without one (a restarted agent
// adopting what it ran before, or leftovers of pods deleted while it was down).
func (a *Agent) relist(ctx context.Context) error {
	sandboxes, err := a.rt.ListPodSandbox(ctx, nil)
	if err != nil {
		return err
	}
	containers, err := a.rt.ListContainers(ctx, nil)
	if err != nil {
		return err
	}
	next := groupByPod(sandboxes, containers)
	a.mu.Lock()
	prev := a.runtime
	a.runtime = next
	a.mu.Unlock()
	for uid, p := range next {
		if old := prev[uid]; old == nil || old.fingerprint != p.fingerprint {
			a.wake(uid, p.namespace, p.name)
		}
	}
	for uid, p := range prev {
		if next[uid] == nil {
			a.wake(uid, p.namespace, p.name)
		}
	}
	return nil
}

// groupByPod sorts the runtime's objects by the pod UID label they carry; objects without
// one were not started by an agent and are left alone.
func groupByPod(sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) map[types.UID]*podRuntime {
	pods := map[types.UID]*podRuntime{}
	get := func(labels map[string]string) *podRuntime {
		uid := types.UID(labels[kubetypes.KubernetesPodUIDLabel])
		if uid == "" {
			return nil
		}
		p := pods[uid]
		if p == nil {
			p = &podRuntime{namespace: labels[kubetypes.KubernetesPodNamespaceLabel], name: labels[kubetypes.KubernetesPodNameLabel]}
			pods[uid] = p
		}
		return p
	}
	for _, s := range sandboxes {
		if p := get(s.Labels); p != nil {
			p.sandboxes = append(p.sandboxes, s)
		}
	}
	for _, c := range containers {
		if p := get(c.Labels); p != nil {
			p.containers = append(p.containers, c)
		}
	}
	for _, p := range pods {
		slices.SortFunc(p.sandboxes, func(x, y *runtimeapi.PodSandbox) int {
			return newestFirst(x.Metadata.GetAttempt(), y.Metadata.GetAttempt(), x.CreatedAt, y.CreatedAt)
		})
		slices.SortFunc(p.containers, func(x, y *runtimeapi.Container) int {
			return newestFirst(x.Metadata.GetAttempt(), y.Metadata.GetAttempt(), x.CreatedAt, y.CreatedAt)
		})
		var b strings.Builder
		for _, s := range p.sandboxes {
			b.WriteString(s.Id + "=" + s.State.String() + ";")
		}
		for _, c := range p.containers {
			b.WriteString(c.Id + "=" + c.State.String() + ";")
		}
		p.fingerprint = b.String()
	}
	return pods
}

func newestFirst(attemptX, attemptY uint32, createdX, createdY int64) int {
	if attemptX != attemptY {
		return int(attemptY) - int(attemptX)
	}
	switch {
	case createdX > createdY:
		return -1
	case createdX < createdY:
		return 1
	}
	return 0
}

// runtimeOf is the last relist's view of pod uid (nil when the runtime has nothing of it).
func (a *Agent) runtimeOf(uid types.UID) *podRuntime {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runtime[uid]
}

// refresh relists at once, so that a sync sees the containers it just started or stopped.
func (a *Agent) refresh(ctx context.Context) {
	if err := a.relist(ctx); err != nil && ctx.Err() == nil {
		a.log.Warn("list the runtime's pods", "err", err)
	}
}

func attemptLabel(c *runtimeapi.Container) string {
	return strconv.FormatUint(uint64(c.GetMetadata().GetAttempt()), 10)
}
