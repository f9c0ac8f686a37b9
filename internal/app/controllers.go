package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"

	"github.com/gantryhq/gantry/internal/controllers/cronjob"
	"github.com/gantryhq/gantry/internal/controllers/csrsigning"
	"github.com/gantryhq/gantry/internal/controllers/daemonset"
	"github.com/gantryhq/gantry/internal/controllers/deployment"
	"github.com/gantryhq/gantry/internal/controllers/disruption"
	"github.com/gantryhq/gantry/internal/controllers/endpoints"
	"github.com/gantryhq/gantry/internal/controllers/garbagecollector"
	"github.com/gantryhq/gantry/internal/controllers/job"
	"github.com/gantryhq/gantry/internal/controllers/localpath"
	"github.com/gantryhq/gantry/internal/controllers/namespace"
	"github.com/gantryhq/gantry/internal/controllers/nodeipam"
	"github.com/gantryhq/gantry/internal/controllers/nodelifecycle"
	"github.com/gantryhq/gantry/internal/controllers/persistentvolume"
	"github.com/gantryhq/gantry/internal/controllers/podgc"
	"github.com/gantryhq/gantry/internal/controllers/replicaset"
	"github.com/gantryhq/gantry/internal/controllers/resourcequota"
	"github.com/gantryhq/gantry/internal/controllers/rootcacert"
	"github.com/gantryhq/gantry/internal/controllers/serviceaccount"
	"github.com/gantryhq/gantry/internal/controllers/servicelb"
	"github.com/gantryhq/gantry/internal/controllers/statefulset"
	"github.com/gantryhq/gantry/internal/controllers/ttlafterfinished"
	"github.com/gantryhq/gantry/internal/pki"
	"github.com/gantryhq/gantry/internal/scheduler"
)

// runnable is a long-running part: it works until ctx is done.
type runnable interface {
	Run(ctx context.Context) error
}

// controllerOptions are the settings of the controllers that have any.
type controllerOptions struct {
	caPEM []byte
	// ca signs approved certificate requests.
	ca *pki.CA
	// nodeGracePeriod is how long a node may be silent before it is marked Unknown.
	nodeGracePeriod time.Duration
	// localPathDir is where nodes keep local-path volumes.
	localPathDir string
	// ipam hands out the nodes' pod ranges.
	ipam nodeipam.Options
}

// runControllers builds every controller over one shared informer factory and runs them until
// ctx is done. It runs only while this server leads.
func runControllers(ctx context.Context, cfg *rest.Config, opts controllerOptions) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// One event broadcaster for all, as in kube-controller-manager: newer controllers record
	// events.k8s.io Events, older ones core Events through the legacy recorder.
	recorders := events.NewEventBroadcasterAdapterWithContext(ctx, client)
	recorders.StartRecordingToSink(ctx.Done())
	defer recorders.Shutdown()
	factory := informers.NewSharedInformerFactory(client, 0)
	ipam, err := nodeipam.New(client, factory, recorders.DeprecatedNewLegacyRecorder("cidrAllocator"), opts.ipam)
	if err != nil {
		return err
	}
	controllers := map[string]runnable{
		"nodeipam":         ipam,
		"garbagecollector": garbagecollector.New(client.Discovery(), meta),
		"namespace":        namespace.New(client, meta, factory),
		"serviceaccount":   serviceaccount.New(client, factory),
		"rootcacert":       rootcacert.New(client, factory, opts.caPEM),
		"replicaset":       replicaset.New(client, factory, recorders.DeprecatedNewLegacyRecorder("replicaset-controller")),
		"replicationcontroller": replicaset.NewFor(replicaset.ReplicationControllers(client, factory), client, factory,
			recorders.DeprecatedNewLegacyRecorder("replication-controller")),
		"deployment": deployment.New(client, factory, recorders.DeprecatedNewLegacyRecorder("deployment-controller")),
		"nodelifecycle": nodelifecycle.New(client, factory, recorders.NewRecorder("node-controller"),
			opts.nodeGracePeriod),
		"job":              job.New(client, factory, recorders.DeprecatedNewLegacyRecorder("job-controller")),
		"ttlafterfinished": ttlafterfinished.New(client, factory),
		"cronjob":          cronjob.New(client, factory, recorders.DeprecatedNewLegacyRecorder("cronjob-controller")),
		"daemonset":        daemonset.New(client, factory),
		"endpoints":        endpoints.NewEndpoints(client, factory),
		"endpointslice":    endpoints.NewSlices(client, factory, recorders.DeprecatedNewLegacyRecorder("endpoint-slice-controller")),
		"statefulset":      statefulset.New(client, factory, recorders.NewRecorder("statefulset-controller")),
		"resourcequota":    resourcequota.New(client, factory),
		"podgc":            podgc.New(client, factory),
		"persistentvolume": persistentvolume.New(client, factory, recorders.DeprecatedNewLegacyRecorder("persistentvolume-controller")),
		"localpath":        localpath.New(client, factory, recorders.DeprecatedNewLegacyRecorder(localpath.Provisioner), opts.localPathDir),
		"disruption":       disruption.New(client, factory, recorders.DeprecatedNewLegacyRecorder("disruption-controller")),
		"servicelb":        servicelb.New(client, factory, recorders.DeprecatedNewLegacyRecorder("service-lb-controller")),
		"csrsigning":       csrsigning.New(client, factory, opts.ca),
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	return runAll(ctx, controllers)
}

// ipamOptions are the settings of the nodes' pod ranges in sc.
func ipamOptions(sc ServerConfig) (nodeipam.Options, error) {
	cluster, err := netip.ParsePrefix(sc.ClusterCIDR)
	if err != nil {
		return nodeipam.Options{}, fmt.Errorf("--cluster-cidr: %w", err)
	}
	service, err := netip.ParsePrefix(sc.ServiceCIDR)
	if err != nil {
		return nodeipam.Options{}, fmt.Errorf("--service-cidr: %w", err)
	}
	opts := nodeipam.Options{ClusterCIDR: cluster, NodeMaskSize: sc.NodeCIDRMaskSize, ServiceCIDR: service}
	if err := opts.Validate(); err != nil {
		return nodeipam.Options{}, fmt.Errorf("--cluster-cidr, --node-cidr-mask-size: %w", err)
	}
	return opts, nil
}

// runScheduler runs the scheduler until ctx is done.
func runScheduler(ctx context.Context, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	s := scheduler.New(client, factory, scheduler.Options{})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	return s.Run(ctx)
}

// runAll runs every part until ctx is done or one of them fails.
func runAll(ctx context.Context, parts map[string]runnable) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(parts))
	for name, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil && ctx.Err() == nil {
				slog.Error("control loop failed", "name", name, "err", err)
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
