package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	// minSyncInterval batches changes: after a sync the next waits at least this long, so a
	// burst of updates (a rollout) costs a few transactions, while a change after a quiet
	// moment is written at once.
	minSyncInterval = 100 * time.Millisecond
	// checkInterval is how often the proxy makes sure its table still exists; if someone
	// deleted it, the next sync writes it again in full.
	checkInterval = 5 * time.Second
	// maxRetryDelay caps the back-off after a failed sync.
	maxRetryDelay = 30 * time.Second
)

// Proxier keeps the node's nftables table in line with the cluster's Services and
// EndpointSlices. Build it with New, then call Run.
type Proxier struct {
	cfg         Config
	log         *slog.Logger
	nft         nft
	minInterval time.Duration
	checkEvery  time.Duration
	synced      []cache.InformerSynced

	mu       sync.Mutex
	services map[types.NamespacedName]*v1.Service
	slices   map[types.NamespacedName]map[string]*discovery.EndpointSlice // by service
	sliceOf  map[types.NamespacedName]types.NamespacedName                // slice → its service
	dirty    map[types.NamespacedName]bool                                // services to recompute
	wake     chan struct{}

	// state is what the table holds; only Run's goroutine uses it. nil: the next sync is full.
	state *tableState
}

// New returns a Proxier fed by the two informers. It registers its event handlers; the caller
// starts the informers (before or after New) and then calls Run.
func New(cfg Config, services coreinformers.ServiceInformer, slices discoveryinformers.EndpointSliceInformer) (*Proxier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Proxier{
		cfg:         cfg,
		log:         slog.Default().With("component", "proxy", "node", cfg.NodeName),
		nft:         nft{argv: []string{"nft"}},
		minInterval: minSyncInterval,
		checkEvery:  checkInterval,
		services:    map[types.NamespacedName]*v1.Service{},
		slices:      map[types.NamespacedName]map[string]*discovery.EndpointSlice{},
		sliceOf:     map[types.NamespacedName]types.NamespacedName{},
		dirty:       map[types.NamespacedName]bool{},
		wake:        make(chan struct{}, 1),
	}
	svcReg, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.serviceChanged(obj, false) },
		UpdateFunc: func(_, obj any) { p.serviceChanged(obj, false) },
		DeleteFunc: func(obj any) { p.serviceChanged(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	sliceReg, err := slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.sliceChanged(obj, false) },
		UpdateFunc: func(_, obj any) { p.sliceChanged(obj, false) },
		DeleteFunc: func(obj any) { p.sliceChanged(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch endpointslices: %w", err)
	}
	p.synced = []cache.InformerSynced{svcReg.HasSynced, sliceReg.HasSynced}
	return p, nil
}

// Run writes the whole table once both informers have synced (never before: an empty
// table would reject traffic to every service), then keeps it up to date until ctx ends.
// It leaves the table in place when it returns, so traffic flows while the agent restarts;
// Remove deletes it. Failed syncs are retried with back-off, in full.
func (p *Proxier) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return nil // ctx ended first
	}
	check := time.NewTicker(p.checkEvery)
	defer check.Stop()
	retryDelay := time.Duration(0)
	for {
		last := time.Now()
		var retry, cleanup <-chan time.Time
		if err := p.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			retryDelay = min(max(2*retryDelay, time.Second), maxRetryDelay)
			p.log.Error("sync failed; retrying in full", "err", err, "retryIn", retryDelay)
			retry = time.After(retryDelay)
		} else {
			retryDelay = 0
		}
		if p.state != nil && len(p.state.stale) > 0 {
			cleanup = time.After(staleChainDelay)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-retry:
		case <-cleanup:
		case <-check.C:
			p.checkTable(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.minInterval - time.Since(last)):
		}
	}
}

// sync writes what changed since the last sync, or everything if the table is unknown.
func (p *Proxier) sync(ctx context.Context) error {
	start := time.Now()
	p.deleteStaleChains(ctx, start)

	full := p.state == nil
	p.mu.Lock()
	keys := slices.Collect(maps.Keys(p.dirty))
	if full {
		keys = slices.Collect(maps.Keys(p.services))
	}
	clear(p.dirty)
	type input struct {
		svc    *v1.Service
		slices []*discovery.EndpointSlice
	}
	inputs := make(map[types.NamespacedName]input, len(keys))
	for _, k := range keys {
		inputs[k] = input{p.services[k], slices.Collect(maps.Values(p.slices[k]))}
	}
	p.mu.Unlock()
	if len(inputs) == 0 && !full {
		return nil
	}

	changes := make(map[types.NamespacedName]*serviceRules, len(inputs))
	for k, in := range inputs {
		changes[k] = computeService(&p.cfg, in.svc, in.slices)
	}
	state, script := p.state, ""
	if full {
		state = newTableState(p.cfg.Table)
		script = baseTable(&p.cfg)
	}
	script += state.plan(changes, start)
	if script == "" {
		return nil
	}
	if err := p.nft.run(ctx, script); err != nil {
		p.state = nil // the kernel's table is no longer known
		return fmt.Errorf("write nftables table %s (%d services, full %v): %w", p.cfg.Table, len(changes), full, err)
	}
	p.state = state
	p.log.Debug("synced", "full", full, "services", len(changes), "bytes", len(script), "took", time.Since(start))
	return nil
}

// deleteStaleChains deletes chains flushed long enough ago, in a transaction of its own: if
// it fails (a chain still referenced), the chains are only left over until the next try.
func (p *Proxier) deleteStaleChains(ctx context.Context, now time.Time) {
	if p.state == nil {
		return
	}
	names := p.state.staleChains(now)
	if len(names) == 0 {
		return
	}
	w := &scriptWriter{table: p.cfg.Table}
	for _, name := range names {
		w.linef("delete chain ip %s %s", p.cfg.Table, name)
	}
	if err := p.nft.run(ctx, w.String()); err != nil {
		p.log.Warn("delete stale chains; will retry", "chains", len(names), "err", err)
		return
	}
	for _, name := range names {
		delete(p.state.stale, name)
	}
}

// checkTable forgets the table's state if the table is gone, so the next sync recreates it.
func (p *Proxier) checkTable(ctx context.Context) {
	ok, err := p.nft.tableExists(ctx, p.cfg.Table)
	if err != nil {
		p.log.Warn("check nftables table", "err", err)
		return
	}
	if !ok && p.state != nil {
		p.log.Warn("nftables table was deleted; writing it again", "table", p.cfg.Table)
		p.state = nil
	}
}

func (p *Proxier) serviceChanged(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	svc, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	p.mu.Lock()
	if deleted {
		delete(p.services, key)
	} else {
		p.services[key] = svc
	}
	p.dirty[key] = true
	p.mu.Unlock()
	p.poke()
}

// sliceChanged files the slice under its service (the kubernetes.io/service-name label),
// moving it if the label changed, and marks the services concerned for a sync.
func (p *Proxier) sliceChanged(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	slice, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return
	}
	sliceKey := types.NamespacedName{Namespace: slice.Namespace, Name: slice.Name}
	svcName := slice.Labels[discovery.LabelServiceName]
	p.mu.Lock()
	if prev, ok := p.sliceOf[sliceKey]; ok {
		delete(p.slices[prev], slice.Name)
		if len(p.slices[prev]) == 0 {
			delete(p.slices, prev)
		}
		delete(p.sliceOf, sliceKey)
		p.dirty[prev] = true
	}
	if !deleted && svcName != "" {
		key := types.NamespacedName{Namespace: slice.Namespace, Name: svcName}
		if p.slices[key] == nil {
			p.slices[key] = map[string]*discovery.EndpointSlice{}
		}
		p.slices[key][slice.Name] = slice
		p.sliceOf[sliceKey] = key
		p.dirty[key] = true
	}
	p.mu.Unlock()
	p.poke()
}

// poke wakes the sync loop; a pending wake-up already covers this change.
func (p *Proxier) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
