package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	cri "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/agent/probe"
)

// Version is what the agent reports as its kubelet version in nodeInfo.
const Version = "v1.37.2-gantry"

// Volumes prepares the volumes of the pods on this node.
type Volumes interface {
	// Setup makes every volume of pod ready to mount; it is called on every sync.
	Setup(ctx context.Context, pod *corev1.Pod) error
	// Mounts are the CRI mounts of container c (its volumeMounts); env expands subPathExpr.
	Mounts(pod *corev1.Pod, c *corev1.Container, env []*runtimeapi.KeyValue) ([]*runtimeapi.Mount, error)
	// Teardown removes what Setup made for a pod that is gone.
	Teardown(uid types.UID) error
	// ExceedsSizeLimit says whether one of the pod's disk emptyDirs holds more than its
	// sizeLimit, with the message the pod is evicted with.
	ExceedsSizeLimit(pod *corev1.Pod) (message string, exceeded bool, err error)
}

// Config is what the agent needs.
type Config struct {
	NodeName string
	// NodeIP is the node's InternalIP: where the API server reaches the agent's own API and
	// where NodePorts and hostPorts answer.
	NodeIP netip.Addr
	// Root holds the agent's state: pods/<uid>/ (volumes, etc-hosts, termination logs) and
	// logs/ (container logs).
	Root string
	// Port is the agent API's port, reported in the node's daemonEndpoints.
	Port int
	// ClusterDNS and ClusterDomain configure the pods' resolv.conf for dnsPolicy
	// ClusterFirst; with no ClusterDNS such pods use the host's resolvers, as on a kubelet
	// started without --cluster-dns.
	ClusterDNS    []netip.Addr
	ClusterDomain string
	// SystemReserved is taken from capacity to give allocatable.
	SystemReserved corev1.ResourceList
	// Capacity is the node's capacity (cpu, memory, ephemeral-storage, pods).
	Capacity corev1.ResourceList
	// Labels are added to the node's own.
	Labels map[string]string

	Client  kubernetes.Interface
	Runtime cri.RuntimeService
	Images  cri.ImageManagerService
	Volumes Volumes
	// Informers are cluster-wide informers (services) the agent may share with the node's
	// other parts; nil makes its own. Run starts them.
	Informers informers.SharedInformerFactory
	// Network, if set, is started once the node has its pod range (spec.podCIDR, given by
	// the server): no pod runs, and the node is not Ready, before it is.
	Network Network
}

// Network is the node's pod network.
type Network interface {
	// Start sets the network up for node, whose spec.podCIDR is set, and keeps it up until
	// ctx ends. It returns once pods can be given addresses.
	Start(ctx context.Context, node *corev1.Node) error
}

// Agent runs one node.
type Agent struct {
	cfg      Config
	client   kubernetes.Interface
	rt       cri.RuntimeService
	images   cri.ImageManagerService
	volumes  Volumes
	probes   *probe.Manager
	recorder record.EventRecorder
	clock    clock.Clock
	log      *slog.Logger

	pods     corelisters.PodLister
	services corelisters.ServiceLister
	podsSeen cache.InformerSynced
	svcSeen  cache.InformerSynced
	// factories are the node's pods and the cluster's services (for the service links).
	factories []informers.SharedInformerFactory

	// restarts times container restarts (CrashLoopBackOff) and pulls the image pull back-off.
	restarts *flowcontrol.Backoff
	pulls    *flowcontrol.Backoff

	// synced is closed once the pod cache has synced and the runtime was listed once: until
	// then a worker would take a running pod for a new one, or a pod for a deleted one.
	synced chan struct{}

	mu      sync.Mutex
	workers map[types.UID]*worker
	// runtime is the last relist: the sandboxes and containers of each pod UID.
	runtime map[types.UID]*podRuntime
	// node is the Node as last written (by registerNode, then only by reportStatus);
	// nodeUID its UID, for the Lease's owner.
	node    *corev1.Node
	nodeUID types.UID
	// runtimeType is the CRI runtime's name, the scheme of container IDs ("containerd").
	runtimeType string
	// networkReady is set once the pod network is up.
	networkReady atomic.Bool
}

// New makes an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, fmt.Errorf("node name is required")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	for _, dir := range []string{podsDir(cfg.Root), logsDir(cfg.Root)} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	a := &Agent{
		cfg: cfg, client: cfg.Client, rt: cfg.Runtime, images: cfg.Images, volumes: cfg.Volumes,
		clock:    clock.RealClock{},
		log:      slog.Default().With("component", "agent", "node", cfg.NodeName),
		restarts: flowcontrol.NewBackOff(10*time.Second, 5*time.Minute),
		pulls:    flowcontrol.NewBackOff(10*time.Second, 5*time.Minute),
		workers:  map[types.UID]*worker{},
		synced:   make(chan struct{}),
		runtime:  map[types.UID]*podRuntime{},
	}
	// Without a pod network to wait for (a runtime that brings its own), the network is
	// the runtime's business and counts as ready.
	a.networkReady.Store(cfg.Network == nil)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	a.probes = probe.NewManager(execProbe{a.rt}, a.recorder, a.poke)

	onNode := informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	})
	podFactory := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, onNode)
	svcFactory := cfg.Informers
	if svcFactory == nil {
		svcFactory = informers.NewSharedInformerFactory(cfg.Client, 0)
	}
	a.factories = []informers.SharedInformerFactory{podFactory, svcFactory}
	podInformer := podFactory.Core().V1().Pods()
	a.pods = podInformer.Lister()
	a.podsSeen = podInformer.Informer().HasSynced
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			a.podChanged(obj)
		},
	})
	svcInformer := svcFactory.Core().V1().Services()
	a.services = svcInformer.Lister()
	a.svcSeen = svcInformer.Informer().HasSynced
	return a, nil
}

// Run registers the node and runs its pods until ctx ends. Containers keep running when the
// agent stops: a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	if err := a.startNetwork(ctx); err != nil {
		return err
	}
	a.recorder.Eventf(nodeRef(a.cfg.NodeName), corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	for _, f := range a.factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.podsSeen, a.svcSeen) {
		return ctx.Err()
	}
	if err := a.relist(ctx); err != nil {
		return fmt.Errorf("list the runtime's pods: %w", err)
	}
	close(a.synced)
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){a.renewLease, a.reportStatus, a.relistLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	a.log.Info("node agent running", "ip", a.cfg.NodeIP, "port", a.cfg.Port)
	<-ctx.Done()
	for _, f := range a.factories {
		f.Shutdown()
	}
	wg.Wait()
	a.stopWorkers()
	return nil
}

func podsDir(root string) string { return filepath.Join(root, "pods") }
func logsDir(root string) string { return filepath.Join(root, "logs") }

// podDir holds what the agent makes for one pod besides its volumes.
func (a *Agent) podDir(uid types.UID) string { return filepath.Join(podsDir(a.cfg.Root), string(uid)) }
