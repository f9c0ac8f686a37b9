package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	policylisters "k8s.io/client-go/listers/policy/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// DefaultSchedulerName is the spec.schedulerName of the pods this scheduler places, and the
// reporting controller of its events.
const DefaultSchedulerName = v1.DefaultSchedulerName

// noteLengthLimit is the longest event note the API accepts (validation.NoteLengthLimit).
const noteLengthLimit = 1024

// Options tune a Scheduler. The zero value is upstream's default configuration.
type Options struct {
	// SchedulerName selects the pods to place (spec.schedulerName); default-scheduler.
	SchedulerName string
	// PercentageOfNodesToScore bounds the search on large clusters; 0 is upstream's adaptive
	// value (10% of 5,000 nodes).
	PercentageOfNodesToScore int32
	// Parallelism is how many goroutines filter and score one pod; 0 means GOMAXPROCS.
	Parallelism int
	// MaxInFlight bounds the API writes (bindings, status updates, evictions) in flight at
	// once; 0 means 256. Placement goes on while they are written.
	MaxInFlight int
	// DisablePreemption turns preemption off.
	DisablePreemption bool

	// Binder, Evictor, StatusWriter and Recorder replace the client-go implementations
	// (tests record what the scheduler writes with them).
	Binder       Binder
	Evictor      Evictor
	StatusWriter StatusWriter
	// Recorder records Scheduled, FailedScheduling and Preempted events. By default they go
	// to events.k8s.io/v1 with reportingController default-scheduler, as upstream's.
	Recorder events.EventRecorder
	Clock    clock.WithTicker
	Logger   *slog.Logger
}

// Scheduler binds pending pods to nodes. It reaches the cluster only through client-go:
// informers to watch pods, nodes, namespaces, PodDisruptionBudgets and PriorityClasses, and
// the API to bind, evict, update pod status and record events.
type Scheduler struct {
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	opts        Options
	log         *slog.Logger
	binder      Binder
	evictor     Evictor
	status      StatusWriter
	recorder    events.EventRecorder
	pdbs        policylisters.PodDisruptionBudgetLister
	classes     schedulinglisters.PriorityClassLister
	podInformer toolscache.SharedIndexInformer
	informers   []toolscache.SharedIndexInformer
	volumes     volumeBinding
	// volumeInformers are those of claims, volumes and classes: their changes may cure
	// VolumeBinding's rejections.
	volumeInformers []toolscache.SharedIndexInformer

	// Per Run.
	queue    *Queue
	cache    *cache
	algo     *Algorithm
	writes   chan struct{}
	inFlight sync.WaitGroup
	// preempting counts, per preemptor, the evictions still being written: until they are,
	// the pod does not preempt again.
	preemptMu  sync.Mutex
	preempting map[types.UID]int
}

// New returns a scheduler that watches through factory and writes through client. Its
// informers are registered with factory now, so that the caller's factory.Start starts them;
// Run starts them too if needed.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Scheduler {
	if opts.SchedulerName == "" {
		opts.SchedulerName = DefaultSchedulerName
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Scheduler{
		client:  client,
		factory: factory,
		opts:    opts,
		log:     opts.Logger.With("component", "scheduler"),
		binder:  opts.Binder,
		evictor: opts.Evictor,
		status:  opts.StatusWriter,
	}
	if s.binder == nil {
		s.binder = ClientBinder{Client: client}
	}
	if s.status == nil {
		s.status = ClientStatusWriter{Client: client}
	}
	if s.evictor == nil {
		s.evictor = ClientEvictor{Client: client, Status: s.status, SchedulerName: opts.SchedulerName}
	}
	s.podInformer = factory.Core().V1().Pods().Informer()
	s.pdbs = factory.Policy().V1().PodDisruptionBudgets().Lister()
	s.classes = factory.Scheduling().V1().PriorityClasses().Lister()
	s.volumes = volumeBinding{
		claims:  factory.Core().V1().PersistentVolumeClaims().Lister(),
		volumes: factory.Core().V1().PersistentVolumes().Lister(),
		classes: factory.Storage().V1().StorageClasses().Lister(),
	}
	s.volumeInformers = []toolscache.SharedIndexInformer{
		factory.Core().V1().PersistentVolumeClaims().Informer(),
		factory.Core().V1().PersistentVolumes().Informer(),
		factory.Storage().V1().StorageClasses().Informer(),
	}
	s.informers = []toolscache.SharedIndexInformer{
		s.volumeInformers[0], s.volumeInformers[1], s.volumeInformers[2],
		s.podInformer,
		factory.Core().V1().Nodes().Informer(),
		factory.Core().V1().Namespaces().Informer(),
		factory.Policy().V1().PodDisruptionBudgets().Informer(),
		factory.Scheduling().V1().PriorityClasses().Informer(),
	}
	return s
}

// Run schedules until ctx ends, then waits for the writes in flight and returns nil. Run is
// what a leader runs; it may be called again for a later term, and starts afresh each time.
func (s *Scheduler) Run(ctx context.Context) error {
	s.queue = NewQueue(s.opts.Clock)
	s.cache = newCache()
	s.algo = NewAlgorithm()
	s.algo.Filters = append(s.algo.Filters, s.volumes)
	s.algo.PercentageOfNodesToScore = s.opts.PercentageOfNodesToScore
	s.algo.Parallelism = s.opts.Parallelism
	s.writes = make(chan struct{}, s.opts.MaxInFlight)
	s.preempting = map[types.UID]int{}

	s.recorder = s.opts.Recorder
	if s.recorder == nil {
		b := events.NewBroadcaster(&events.EventSinkImpl{Interface: s.client.EventsV1()})
		if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
			return fmt.Errorf("start event recording: %w", err)
		}
		defer b.Shutdown()
		s.recorder = b.NewRecorder(scheme.Scheme, s.opts.SchedulerName)
	}

	// Priorities resolve through PriorityClasses: have them before the first pod arrives.
	s.factory.Start(ctx.Done())
	synced := make([]toolscache.InformerSynced, 0, 8)
	for _, inf := range s.informers {
		synced = append(synced, inf.HasSynced)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // ctx ended first
	}
	regs, err := s.addHandlers()
	if err != nil {
		return err
	}
	defer s.removeHandlers(regs)
	synced = synced[:0]
	for _, r := range regs {
		synced = append(synced, r.reg.HasSynced)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	s.log.Info("scheduler started")

	go func() {
		t := s.opts.Clock.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.queue.Close()
				return
			case <-t.C():
				s.queue.Flush()
			}
		}
	}()
	for s.scheduleOne(ctx) {
	}
	s.inFlight.Wait()
	s.log.Info("scheduler stopped")
	return nil
}

// scheduleOne places the next pod; it returns false when the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	pi, _, ok := s.queue.Pop(ctx)
	if !ok {
		return false
	}
	s.cache.apply()
	var nominated Nominated
	if len(s.cache.nominated) > 0 {
		nominated = s.cache.nominatedPods
	}
	res, err := s.algo.Schedule(pi, s.cache.snap, nominated)
	if err != nil {
		s.handleFailure(ctx, pi, err, nominated)
		return true
	}
	s.assumeAndBind(ctx, pi, res.Node)
	return true
}

// assumeAndBind places the pod in the snapshot now and writes the binding in the background.
func (s *Scheduler) assumeAndBind(ctx context.Context, pi *framework.PodInfo, node string) {
	pod := *pi.Pod // shallow: only spec.nodeName differs, nothing shared is modified
	pod.Spec.NodeName = node
	assumed := *pi
	assumed.Pod = &pod
	s.cache.assume(&assumed)
	var nodeObj *v1.Node
	if ni := s.cache.snap.NodeInfo(node); ni != nil {
		nodeObj = ni.Node
	}
	s.write(func() {
		if len(podClaims(pi.Pod)) > 0 && nodeObj != nil {
			if err := bindVolumes(ctx, s.client, s.volumes, pi.Pod, nodeObj); err != nil {
				uid := pi.Pod.UID
				s.cache.post(func(c *cache) { c.forget(uid) })
				if ctx.Err() != nil {
					return
				}
				s.log.Info("binding volumes failed", "pod", pi.String(), "node", node, "err", err)
				s.failed(ctx, pi, v1.PodReasonSchedulerError, fmt.Sprintf("running PreBind plugin %q: %v", volumeBindingName, err), nil, "", false)
				return
			}
		}
		if err := s.binder.Bind(ctx, pi.Pod, node); err != nil {
			uid := pi.Pod.UID
			s.cache.post(func(c *cache) { c.forget(uid) })
			if ctx.Err() != nil {
				return // stopping: the next leader retries the pod
			}
			s.log.Info("binding failed", "pod", pi.String(), "node", node, "err", err)
			s.failed(ctx, pi, v1.PodReasonSchedulerError, err.Error(), nil, "", false)
			return
		}
		s.queue.Done(pi.Pod.UID)
		s.recorder.Eventf(pi.Pod, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pi.Pod.Namespace, pi.Pod.Name, node)
	})
}

// handleFailure tries preemption for a pod that fits nowhere, then reports and requeues it.
func (s *Scheduler) handleFailure(ctx context.Context, pi *framework.PodInfo, err error, nominated Nominated) {
	reason := v1.PodReasonUnschedulable
	var rejectedBy sets.Set[string]
	nomination := pi.Pod.Status.NominatedNodeName
	var fitErr *framework.FitError
	switch {
	case errors.Is(err, framework.ErrNoNodesAvailable):
		rejectedBy = sets.New[string]()
	case errors.As(err, &fitErr):
		rejectedBy = fitErr.Diagnosis.UnschedulablePlugins
		if !s.opts.DisablePreemption && !s.isPreempting(pi.Pod.UID) {
			nomination = s.preempt(ctx, pi, fitErr, nominated)
		}
	default:
		reason = v1.PodReasonSchedulerError
		s.log.Error("scheduling failed", "pod", pi.String(), "err", err)
	}
	s.failed(ctx, pi, reason, err.Error(), rejectedBy, nomination, true)
}

// preempt runs preemption for pod; it sets the FitError's preemption message and returns
// the node to nominate ("" to clear).
func (s *Scheduler) preempt(ctx context.Context, pi *framework.PodInfo, fitErr *framework.FitError, nominated Nominated) string {
	pdbs, _ := s.pdbs.List(labels.Everything())
	cand, msg := s.algo.Preempt(pi, s.cache.snap, nominated, fitErr, pdbs)
	fitErr.Diagnosis.PostFilterMsg = "preemption: " + msg
	if cand == nil {
		if msg == msgPreemptNever || msg == msgTerminatingOnNode {
			return pi.Pod.Status.NominatedNodeName // not eligible: keep the nomination
		}
		s.cache.clearNomination(pi.Pod.UID)
		return ""
	}
	s.log.Info("preempting", "pod", pi.String(), "node", cand.Node, "victims", len(cand.Victims))
	s.cache.nominate(pi, cand.Node)
	// Lower-priority pods nominated to the node may no longer fit there: they lose it.
	for _, p := range append([]*framework.PodInfo(nil), s.cache.nominated[cand.Node]...) {
		if p.Priority >= pi.Priority {
			continue
		}
		s.cache.clearNomination(p.Pod.UID)
		s.queue.SetNominatedNode(p.Pod.UID, "")
		if p.Pod.Status.NominatedNodeName != "" {
			pod := p.Pod
			status := pod.Status.DeepCopy()
			status.NominatedNodeName = ""
			s.write(func() {
				if err := s.status.UpdatePodStatus(ctx, pod, status); err != nil && !isNotFound(err) {
					s.log.Info("clearing a nomination failed", "pod", p.String(), "err", err)
				}
			})
		}
	}
	s.queue.SetNominatedNode(pi.Pod.UID, cand.Node)
	s.preemptMu.Lock()
	s.preempting[pi.Pod.UID] += len(cand.Victims)
	s.preemptMu.Unlock()
	for i, victim := range cand.Victims {
		victim, violating := victim.Pod, cand.Violating[i]
		s.write(func() {
			defer func() {
				s.preemptMu.Lock()
				if s.preempting[pi.Pod.UID]--; s.preempting[pi.Pod.UID] <= 0 {
					delete(s.preempting, pi.Pod.UID)
				}
				s.preemptMu.Unlock()
			}()
			if err := s.evictor.Evict(ctx, victim, pi.Pod, cand.Node, violating); err != nil {
				s.log.Info("preemption: eviction failed", "pod", pi.String(), "victim", victim.Namespace+"/"+victim.Name, "err", err)
				return
			}
			s.recorder.Eventf(victim, pi.Pod, v1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", pi.Pod.UID, cand.Node)
		})
	}
	return cand.Node
}

func (s *Scheduler) isPreempting(uid types.UID) bool {
	s.preemptMu.Lock()
	defer s.preemptMu.Unlock()
	return s.preempting[uid] > 0
}

// failed requeues a pod that got no node, records FailedScheduling and sets its
// PodScheduled condition, as upstream's handleSchedulingFailure. rejectedBy nil means an
// error rather than a verdict: the pod backs off. The status is written in the background
// when async, else right here (from a goroutine that already holds a write slot).
func (s *Scheduler) failed(ctx context.Context, pi *framework.PodInfo, reason, msg string, rejectedBy sets.Set[string], nomination string, async bool) {
	s.queue.Requeue(pi.Pod.UID, rejectedBy)
	note := msg
	if len(note) > noteLengthLimit {
		note = note[:noteLengthLimit-len(" ...")] + " ..."
	}
	s.recorder.Eventf(pi.Pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", note)
	pod := pi.Pod
	status := pod.Status.DeepCopy()
	changed := setCondition(status, v1.PodCondition{
		Type:               v1.PodScheduled,
		Status:             v1.ConditionFalse,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: pod.Generation,
	})
	if status.NominatedNodeName != nomination {
		status.NominatedNodeName = nomination
		changed = true
	}
	if !changed {
		return
	}
	update := func() {
		if err := s.status.UpdatePodStatus(ctx, pod, status); err != nil && !isNotFound(err) {
			s.log.Info("updating pod status failed", "pod", pi.String(), "err", err)
		}
	}
	if async {
		s.write(update)
	} else {
		update()
	}
}

// write runs an API call in the background, at most MaxInFlight at once; the scheduling loop
// waits here only when that many are outstanding.
func (s *Scheduler) write(f func()) {
	s.writes <- struct{}{}
	s.inFlight.Add(1)
	go func() {
		defer func() {
			<-s.writes
			s.inFlight.Done()
		}()
		f()
	}()
}

func isNotFound(err error) bool { return ignoreNotFound(err) == nil }

// priority resolves a pod's priority: spec.priority, else its PriorityClass, else the
// global default class, else 0. (The Priority admission plugin normally fills spec.priority;
// resolving here keeps preemption working where no admission did.)
func (s *Scheduler) priority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	if name := pod.Spec.PriorityClassName; name != "" {
		if pc, err := s.classes.Get(name); err == nil {
			return pc.Value
		}
		switch name {
		case "system-node-critical":
			return 2000001000
		case "system-cluster-critical":
			return 2000000000
		}
		return 0
	}
	classes, _ := s.classes.List(labels.Everything())
	for _, pc := range classes {
		if pc.GlobalDefault {
			return pc.Value
		}
	}
	return 0
}
