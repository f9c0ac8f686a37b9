package podnet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/vishvananda/netlink"

	"github.com/gantryhq/gantry/internal/network/cni"
)

const (
	// resync re-applies the plan now and then, repairing what someone else changed.
	resync = time.Minute
	// Failed syncs are retried after minRetry, doubling up to maxRetry.
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// Network keeps this node's routes to the other nodes' pods in line with the Nodes.
type Network struct {
	cfg    Config
	nodes  corelisters.NodeLister
	synced cache.InformerSynced
	dp     *dataplane
	// forward turns on IP forwarding (a field so that tests can do it in their namespace).
	forward func() error
	kick    chan struct{}
	log     *slog.Logger
}

// New returns the pod network of this node (the process's network namespace), driven by the
// Nodes informer.
func New(cfg Config, nodes coreinformers.NodeInformer) (*Network, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("pod network: netlink: %w", err)
	}
	n, err := newNetwork(cfg, nodes, h)
	if err != nil {
		h.Close()
	}
	return n, err
}

// newNetwork is New over the network namespace of h, which the Network then owns.
func newNetwork(cfg Config, nodes coreinformers.NodeInformer, h *netlink.Handle) (*Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := slog.Default().With("component", "podnet", "mode", cfg.Mode)
	n := &Network{
		cfg:     cfg,
		nodes:   nodes.Lister(),
		synced:  nodes.Informer().HasSynced,
		dp:      &dataplane{h: h, cfg: cfg, log: log},
		forward: cni.EnableForwarding,
		kick:    make(chan struct{}, 1),
		log:     log,
	}
	kick := func(any) {
		select {
		case n.kick <- struct{}{}:
		default:
		}
	}
	// Nodes post status every minute or so; only changes to what routes are made of count.
	_, err = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: kick,
		UpdateFunc: func(old, obj any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := obj.(*corev1.Node)
			if !ok1 || !ok2 || routingChanged(o, n) {
				kick(obj)
			}
		},
		DeleteFunc: kick,
	})
	if err != nil {
		return nil, fmt.Errorf("pod network: watch nodes: %w", err)
	}
	return n, nil
}

// Run keeps the routes in line with the Nodes until ctx is done. It leaves them in place when
// it returns: pods keep talking while the agent restarts. Remove takes them away.
func (n *Network) Run(ctx context.Context) error {
	defer n.dp.h.Close()
	if err := n.forward(); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	if !cache.WaitForCacheSync(ctx.Done(), n.synced) {
		return fmt.Errorf("pod network: caches did not sync: %w", ctx.Err())
	}
	retry := minRetry
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.kick:
		case <-timer.C:
		}
		next := resync
		if err := n.sync(ctx); err != nil {
			n.log.Error("pod network sync failed", "err", err, "retry", retry)
			next, retry = retry, min(2*retry, maxRetry)
		} else {
			retry = minRetry
		}
		timer.Reset(next)
	}
}

// sync applies the plan of the Nodes as the cache has them.
func (n *Network) sync(ctx context.Context) error {
	nodes, err := n.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	if err := n.dp.apply(desired(n.cfg, nodes, n.log)); err != nil {
		return err
	}
	if n.cfg.Mode == ModeVXLAN {
		return n.publishVTEP(ctx)
	}
	return nil
}

// publishVTEP writes this node's VTEP MAC into its Node, where the other nodes read it.
func (n *Network) publishVTEP(ctx context.Context) error {
	mac := vtepMAC(n.cfg.NodeIP).String()
	node, err := n.nodes.Get(n.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.cfg.NodeName, err)
	}
	if node.Annotations[AnnotationVTEPMAC] == mac {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationVTEPMAC: mac}}})
	if err != nil {
		return err
	}
	if _, err := n.cfg.Client.CoreV1().Nodes().Patch(ctx, n.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("publish VTEP MAC of node %s: %w", n.cfg.NodeName, err)
	}
	return nil
}

// Remove deletes what the pod network made in this network namespace: the routes marked with
// RouteProtocol and the VXLAN device (`gantry uninstall`).
func Remove() error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("pod network: netlink: %w", err)
	}
	defer h.Close()
	return remove(h)
}

// PodMTU is the MTU the pods' interfaces (cni.Config.MTU) should have in cfg's mode: 0 (the
// device default) in host-gw mode; in vxlan mode that of the device holding the node IP less
// the VXLAN overhead, so that pods never send packets the tunnel cannot carry.
func PodMTU(cfg Config) (int, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return 0, fmt.Errorf("pod network: netlink: %w", err)
	}
	defer h.Close()
	return podMTU(h, cfg)
}

func podMTU(h *netlink.Handle, cfg Config) (int, error) {
	if cfg.Mode != ModeVXLAN {
		return 0, nil
	}
	parent, err := (&dataplane{h: h}).linkWithAddr(cfg.NodeIP)
	if err != nil {
		return 0, fmt.Errorf("pod network: %w", err)
	}
	return parent.Attrs().MTU - vxlanOverhead, nil
}
