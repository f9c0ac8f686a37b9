package scheduler

import (
	"reflect"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/internal/scheduler/filter"
	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// The cluster events that move unschedulable pods back to trying, with the filters whose
// rejections each may cure (upstream's EventsToRegister, coarsened).
var (
	evNodeAdd           = ClusterEvent{Name: "NodeAdd"}
	evAssignedPodDelete = ClusterEvent{Name: "AssignedPodDelete", Plugins: sets.New(
		filter.NodeResourcesFitName, filter.NodePortsName, filter.InterPodAffinityName, filter.PodTopologySpreadName)}
	affinityPlugins = sets.New(filter.InterPodAffinityName, filter.PodTopologySpreadName)
)

// assignedPodEvent is a pod placed or relabelled: it may satisfy pod affinity or raise a
// spreading domain's count, for pods of its namespace (or with cross-namespace affinity).
func assignedPodEvent(name string, pod *v1.Pod) ClusterEvent {
	ns := pod.Namespace
	return ClusterEvent{Name: name, Plugins: affinityPlugins, Hint: func(p *framework.PodInfo) bool {
		return p.Pod.Namespace == ns || len(p.RequiredAffinity) > 0
	}}
}

type registration struct {
	informer toolscache.SharedIndexInformer
	reg      toolscache.ResourceEventHandlerRegistration
}

func (s *Scheduler) addHandlers() ([]registration, error) {
	handlers := []struct {
		informer toolscache.SharedIndexInformer
		h        toolscache.ResourceEventHandler
	}{
		{s.podInformer, toolscache.ResourceEventHandlerFuncs{AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete}},
		{s.factory.Core().V1().Nodes().Informer(), toolscache.ResourceEventHandlerFuncs{AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete}},
		{s.factory.Core().V1().Namespaces().Informer(), toolscache.ResourceEventHandlerFuncs{AddFunc: s.onNamespace, UpdateFunc: func(_, o any) { s.onNamespace(o) }, DeleteFunc: s.onNamespaceDelete}},
	}
	volumeChanged := func(any) {
		s.queue.Move(ClusterEvent{Name: "VolumeChange", Plugins: sets.New(volumeBindingName)})
	}
	for _, inf := range s.volumeInformers {
		handlers = append(handlers, struct {
			informer toolscache.SharedIndexInformer
			h        toolscache.ResourceEventHandler
		}{inf, toolscache.ResourceEventHandlerFuncs{AddFunc: volumeChanged, UpdateFunc: func(_, o any) { volumeChanged(o) }, DeleteFunc: volumeChanged}})
	}
	var regs []registration
	for _, h := range handlers {
		reg, err := h.informer.AddEventHandler(h.h)
		if err != nil {
			s.removeHandlers(regs)
			return nil, err
		}
		regs = append(regs, registration{h.informer, reg})
	}
	return regs, nil
}

func (s *Scheduler) removeHandlers(regs []registration) {
	for _, r := range regs {
		_ = r.informer.RemoveEventHandler(r.reg)
	}
}

func terminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

func (s *Scheduler) responsible(pod *v1.Pod) bool {
	return pod.Spec.SchedulerName == s.opts.SchedulerName
}

func (s *Scheduler) onPodAdd(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok || terminal(pod) {
		return
	}
	if pod.Spec.NodeName != "" {
		pi := framework.NewPodInfo(pod, s.priority(pod))
		s.cache.post(func(c *cache) { c.addPod(pi) })
		s.queue.Move(assignedPodEvent("AssignedPodAdd", pod))
		return
	}
	if s.responsible(pod) {
		s.enqueue(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*v1.Pod)
	pod, ok2 := newObj.(*v1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == pod.ResourceVersion {
		return
	}
	uid := pod.UID
	if pod.Spec.NodeName != "" {
		if old.Spec.NodeName == "" {
			s.queue.Delete(uid) // bound, by us or anyone
		}
		if terminal(pod) {
			s.cache.post(func(c *cache) { c.removePod(uid) })
			if !terminal(old) {
				s.queue.Move(evAssignedPodDelete)
			}
			return
		}
		pi := framework.NewPodInfo(pod, s.priority(pod))
		s.cache.post(func(c *cache) { c.addPod(pi) })
		if old.Spec.NodeName == "" {
			s.queue.Move(assignedPodEvent("AssignedPodAdd", pod))
		} else if !reflect.DeepEqual(old.Labels, pod.Labels) {
			s.queue.Move(assignedPodEvent("AssignedPodUpdate", pod))
		}
		return
	}
	if !s.responsible(pod) || pod.DeletionTimestamp != nil || terminal(pod) {
		s.queue.Delete(uid)
		s.cache.post(func(c *cache) { c.removePod(uid) })
		return
	}
	s.enqueue(pod)
}

func (s *Scheduler) onPodDelete(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	uid := pod.UID
	s.queue.Delete(uid)
	s.cache.post(func(c *cache) { c.removePod(uid) })
	if pod.Spec.NodeName != "" && !terminal(pod) {
		s.queue.Move(evAssignedPodDelete)
	}
}

// enqueue adds or updates a pending pod.
func (s *Scheduler) enqueue(pod *v1.Pod) {
	pi := framework.NewPendingPodInfo(pod, s.priority(pod))
	// status.nominatedNodeName is the truth once our own update of it is seen.
	if node := pod.Status.NominatedNodeName; node != "" {
		s.cache.post(func(c *cache) { c.nominate(pi, node) })
	} else {
		s.cache.post(func(c *cache) { c.clearNomination(pi.Pod.UID) })
	}
	s.queue.Add(pi)
}

func (s *Scheduler) onNodeAdd(obj any) {
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	s.cache.post(func(c *cache) { c.snap.SetNode(node) })
	s.queue.Move(evNodeAdd)
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*v1.Node)
	node, ok2 := newObj.(*v1.Node)
	if !ok1 || !ok2 || old.ResourceVersion == node.ResourceVersion {
		return
	}
	plugins := nodeChange(old, node)
	if plugins == nil && reflect.DeepEqual(old.Status.Images, node.Status.Images) {
		return // a heartbeat: nothing placement reads changed
	}
	s.cache.post(func(c *cache) { c.snap.SetNode(node) })
	if len(plugins) > 0 {
		s.queue.Move(ClusterEvent{Name: "NodeUpdate", Plugins: plugins})
	}
}

// nodeChange names the filters whose verdict a node update may change; nil if none.
func nodeChange(old, cur *v1.Node) sets.Set[string] {
	var p sets.Set[string]
	add := func(names ...string) {
		if p == nil {
			p = sets.New[string]()
		}
		p.Insert(names...)
	}
	if !reflect.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) || !reflect.DeepEqual(old.Status.Capacity, cur.Status.Capacity) {
		add(filter.NodeResourcesFitName)
	}
	if !reflect.DeepEqual(old.Labels, cur.Labels) {
		add(filter.NodeAffinityName, filter.PodTopologySpreadName, filter.InterPodAffinityName)
	}
	if !reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) || !sameConditions(old, cur) {
		add(filter.TaintTolerationName, filter.PodTopologySpreadName)
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable {
		add(filter.NodeUnschedulableName)
	}
	return p
}

// sameConditions compares the condition statuses, ignoring heartbeat and transition times.
func sameConditions(a, b *v1.Node) bool {
	if len(a.Status.Conditions) != len(b.Status.Conditions) {
		return false
	}
	for i := range a.Status.Conditions {
		x, y := &a.Status.Conditions[i], &b.Status.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status {
			return false
		}
	}
	return true
}

func (s *Scheduler) onNodeDelete(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if node, ok := obj.(*v1.Node); ok {
		name := node.Name
		s.cache.post(func(c *cache) { c.snap.RemoveNode(name) })
	}
}

func (s *Scheduler) onNamespace(obj any) {
	if ns, ok := obj.(*v1.Namespace); ok {
		name, l := ns.Name, ns.Labels
		s.cache.post(func(c *cache) { c.snap.SetNamespace(name, l) })
	}
}

func (s *Scheduler) onNamespaceDelete(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if ns, ok := obj.(*v1.Namespace); ok {
		name := ns.Name
		s.cache.post(func(c *cache) { c.snap.RemoveNamespace(name) })
	}
}
