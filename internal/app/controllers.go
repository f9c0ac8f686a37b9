package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/controllers/garbagecollector"
	"github.com/gantryhq/gantry/internal/controllers/namespace"
	"github.com/gantryhq/gantry/internal/controllers/persistentvolume"
	"github.com/gantryhq/gantry/internal/controllers/resourcequota"
	"github.com/gantryhq/gantry/internal/controllers/rootcacert"
	"github.com/gantryhq/gantry/internal/controllers/serviceaccount"
	"github.com/gantryhq/gantry/internal/scheduler"
)

// runnable is a long-running part: it works until ctx is done.
type runnable interface {
	Run(ctx context.Context) error
}

// runControllers builds every controller over one shared informer factory and runs them until
// ctx is done, except those named in disabled. It runs only while this server leads.
func runControllers(ctx context.Context, cfg *rest.Config, caPEM []byte, disabled []string) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	builders := map[string]func() runnable{
		"garbagecollector": func() runnable { return garbagecollector.New(client.Discovery(), meta) },
		"namespace":        func() runnable { return namespace.New(client, meta, factory) },
		"serviceaccount":   func() runnable { return serviceaccount.New(client, factory) },
		"rootcacert":       func() runnable { return rootcacert.New(client, factory, caPEM) },
		"resourcequota":    func() runnable { return resourcequota.New(client, factory) },
		"persistentvolume": func() runnable { return persistentvolume.New(client, factory) },
	}
	controllers := map[string]runnable{}
	for name, build := range builders {
		if !slices.Contains(disabled, name) {
			controllers[name] = build()
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	return runAll(ctx, controllers)
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
