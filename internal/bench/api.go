package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// APIOptions says what API measures. Zero values take the defaults.
type APIOptions struct {
	// Pods is how many pods are created; default 10,000.
	Pods int
	// Clients is how many clients create them concurrently; default 8.
	Clients int
	// Lists is how many times every pod is listed; default 5.
	Lists int
	// Watchers is how many watches receive the updates; default 100.
	Watchers int
	// Updates is how many measured writes the watchers receive; default 100.
	Updates int

	// DataDir is the data directory of the server API starts; default a new temporary
	// directory, removed afterwards unless the run fails.
	DataDir string
	// Kubeconfig, if set, points API at a running server instead: it then creates its pods
	// in a namespace of its own, removes them afterwards, and measures neither start-up nor
	// memory.
	Kubeconfig string
	// Executable is the gantry binary whose `server` command is measured; default the
	// running executable.
	Executable string
	// Env is added to the server process's environment.
	Env []string
}

func (o APIOptions) withDefaults() APIOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Pods, 10000)
	def(&o.Clients, 8)
	def(&o.Lists, 5)
	def(&o.Watchers, 100)
	def(&o.Updates, 100)
	return o
}

const (
	// readyTimeout bounds a server's start.
	readyTimeout = 2 * time.Minute
	// stopTimeout bounds a server's exit after SIGTERM.
	stopTimeout = 30 * time.Second
)

// API measures an API server and writes a table of the figures to w. It starts its own
// `gantry server` unless opts.Kubeconfig names one. If a measurement fails, the figures
// taken so far are still written, and the error says what failed.
func API(ctx context.Context, w io.Writer, opts APIOptions) error {
	opts = opts.withDefaults()
	res := &apiResult{opts: opts}
	var err error
	if opts.Kubeconfig != "" {
		err = measureExisting(ctx, res)
	} else {
		err = measureOwn(ctx, res)
	}
	res.write(w)
	return err
}

// measureOwn starts a server, measures it, and stops it.
func measureOwn(ctx context.Context, res *apiResult) (err error) {
	opts := res.opts
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find the gantry executable: %w", err)
		}
	}
	dir := opts.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gantry-bench-"); err != nil {
			return err
		}
		defer func() {
			if err == nil {
				os.RemoveAll(dir)
			} else {
				err = fmt.Errorf("%w (server data and log kept in %s)", err, dir)
			}
		}()
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	log := slog.Default().With("component", "bench")
	res.server = fmt.Sprintf("%s server --data-dir %s --https-port %d --bind-address 127.0.0.1", exe, dir, port)

	log.Info("starting gantry server", "dataDir", dir, "port", port)
	srv, err := startServer(exe, opts.Env, dir, port, "--disable-agent")
	if err != nil {
		return err
	}
	defer srv.kill()
	took, config, err := srv.waitReady(ctx, readyTimeout)
	if err != nil {
		return err
	}
	res.startup = took
	res.rssStart, _, _ = srv.memory()

	if err := measureClients(ctx, res, config, func() { res.rssPods, _, _ = srv.memory() }); err != nil {
		return err
	}
	_, res.peakRSS, _ = srv.memory()

	log.Info("stopping the server with SIGTERM and starting it again")
	if res.stop, err = srv.terminate(stopTimeout); err != nil {
		return err
	}
	if srv, err = startServer(exe, opts.Env, dir, port, "--disable-agent"); err != nil {
		return err
	}
	defer srv.kill()
	if res.restart, _, err = srv.waitReady(ctx, readyTimeout); err != nil {
		return err
	}
	res.rssRestart, _, _ = srv.memory()
	_, err = srv.terminate(stopTimeout)
	return err
}

// measureExisting measures the server opts.Kubeconfig points at, in a namespace of its own
// that it deletes afterwards.
func measureExisting(ctx context.Context, res *apiResult) error {
	config, err := clientcmd.BuildConfigFromFlags("", res.opts.Kubeconfig)
	if err != nil {
		return err
	}
	res.server = config.Host + " (from " + res.opts.Kubeconfig + ")"
	return measureClients(ctx, res, config, nil)
}

// measureClients takes the client-side measurements: creates, lists and watches, in a new
// namespace. afterCreate, if set, runs once the pods exist.
func measureClients(ctx context.Context, res *apiResult, config *rest.Config, afterCreate func()) error {
	opts := res.opts
	log := slog.Default().With("component", "bench")
	admin, err := newClient(config, "")
	if err != nil {
		return err
	}
	ns, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	if opts.Kubeconfig != "" {
		defer cleanUp(admin, ns.Name)
	}
	res.responseType = responseType(ctx, admin, ns.Name)

	log.Info("creating pods", "pods", opts.Pods, "clients", opts.Clients, "namespace", ns.Name)
	if res.create, err = createPods(ctx, config, ns.Name, opts.Pods, opts.Clients); err != nil {
		return err
	}
	if afterCreate != nil {
		afterCreate()
	}
	log.Info("listing pods", "runs", opts.Lists)
	if res.list, err = listPods(ctx, config, ns.Name, opts.Pods, opts.Lists); err != nil {
		return err
	}
	log.Info("measuring watch delivery", "watchers", opts.Watchers, "updates", opts.Updates)
	if res.watch, err = watchDelivery(ctx, config, ns.Name, benchPodName(0), opts.Watchers, opts.Updates); err != nil {
		return err
	}
	return nil
}

// responseType is the media type the server answers a protobuf-preferring client with.
func responseType(ctx context.Context, c kubernetes.Interface, ns string) string {
	var ct string
	err := c.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").Param("limit", "1").
		SetHeader("Accept", contentProtobuf+","+contentJSON).Do(ctx).ContentType(&ct).Error()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return ct
}

// cleanUp deletes what measureClients made on a server that is not ours.
func cleanUp(c kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := slog.Default().With("component", "bench")
	err := errors.Join(
		c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}),
		c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}),
	)
	if err != nil {
		log.Warn("clean up namespace", "namespace", ns, "err", err)
	}
}
