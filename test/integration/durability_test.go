package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestDurabilityAfterKill9 kills `gantry server` with SIGKILL while service creates are in
// flight and checks, after a restart on the same data directory, that nothing acknowledged
// was lost, that resourceVersions keep growing, that no cluster IP or node port is handed
// out twice, and that the cluster's pkiFiles are reused. It ends with SIGTERM, which
// must stop the server cleanly.
func TestDurabilityAfterKill9(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	port := freeLoopbackPort(t)

	srv := startServerProcess(t, dataDir, port)
	config := srv.waitReady(t)
	client := kubernetes.NewForConfigOrDie(config)
	creds := readPKIFiles(t, dataDir)
	acked := &ackLedger{}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "durable"}}
	created, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acked.add(ackedObject{kind: "Namespace", name: created.Name, uid: created.UID, rv: rvOf(t, created)})

	// 1,000 objects from 8 workers: every 20th a NodePort service, the rest configmaps.
	const objects, workers = 1000, 8
	err = forEachParallel(objects, workers, func(i int) error {
		if i%20 == 0 {
			return createNodePortService(ctx, client, fmt.Sprintf("svc-%04d", i), acked)
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%04d", i), Namespace: "durable"},
			Data:       map[string]string{"index": strconv.Itoa(i), "payload": string(bytes.Repeat([]byte{'x'}, 512))},
		}
		got, err := client.CoreV1().ConfigMaps("durable").Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		rv, err := parseRV(got)
		if err != nil {
			return err
		}
		acked.add(ackedObject{kind: "ConfigMap", name: got.Name, uid: got.UID, rv: rv})
		return nil
	})
	if err != nil {
		t.Fatalf("create objects: %v", err)
	}

	// More services, created until the server dies; it is killed once a few of them have
	// been acknowledged, so that several are in flight at that moment.
	var (
		inflight atomic.Int64
		done     atomic.Int64
		failed   atomic.Int64
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				name := fmt.Sprintf("live-%04d", inflight.Add(1))
				if err := createNodePortService(ctx, client, name, acked); err != nil {
					failed.Add(1)
					return
				}
				done.Add(1)
			}
		})
	}
	eventually(t, "service creates to flow", func() bool { return done.Load() >= 40 })
	srv.kill(t)
	wg.Wait()
	t.Logf("killed the server with %d service creates acknowledged in the last phase and %d cut off", done.Load(), failed.Load())
	if failed.Load() == 0 {
		t.Fatal("no create was in flight when the server was killed")
	}
	before := acked.snapshot()
	maxBefore := int64(0)
	for _, r := range before {
		maxBefore = max(maxBefore, r.rv)
	}

	srv = startServerProcess(t, dataDir, port)
	srv.waitReady(t)
	if diff := creds.changed(t); diff != "" {
		t.Errorf("pkiFiles were not reused across the restart: %s", diff)
	}
	// The client built from the first start's kubeconfig must still work.
	for _, r := range before {
		var obj metav1.Object
		var err error
		switch r.kind {
		case "Namespace":
			obj, err = client.CoreV1().Namespaces().Get(ctx, r.name, metav1.GetOptions{})
		case "ConfigMap":
			obj, err = client.CoreV1().ConfigMaps("durable").Get(ctx, r.name, metav1.GetOptions{})
		case "Service":
			var svc *corev1.Service
			svc, err = client.CoreV1().Services("durable").Get(ctx, r.name, metav1.GetOptions{})
			if err == nil {
				if got := allocationOf(svc); got != r.alloc {
					t.Errorf("service %s: allocation after restart %s, acknowledged %s", r.name, got, r.alloc)
				}
				obj = svc
			}
		}
		if err != nil {
			t.Errorf("acknowledged %s %s lost: %v", r.kind, r.name, err)
			continue
		}
		if obj.GetUID() != r.uid || obj.GetResourceVersion() != strconv.FormatInt(r.rv, 10) {
			t.Errorf("%s %s after restart: uid %s rv %s, acknowledged uid %s rv %d", r.kind, r.name, obj.GetUID(), obj.GetResourceVersion(), r.uid, r.rv)
		}
	}

	cm, err := client.CoreV1().ConfigMaps("durable").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-restart"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rv := rvOf(t, cm); rv <= maxBefore {
		t.Errorf("first write after restart has resourceVersion %d, not above %d acknowledged before the kill", rv, maxBefore)
	}
	after := &ackLedger{}
	if err := forEachParallel(50, workers, func(i int) error {
		return createNodePortService(ctx, client, fmt.Sprintf("after-%04d", i), after)
	}); err != nil {
		t.Fatalf("create services after restart: %v", err)
	}
	for _, r := range after.snapshot() {
		if r.rv <= maxBefore {
			t.Errorf("service %s created after restart has resourceVersion %d, not above %d", r.name, r.rv, maxBefore)
		}
	}

	// No cluster IP and no node port may belong to two services, whether they were created
	// before the kill, in flight during it (acknowledged or not) or after the restart.
	all, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips, ports := map[string]string{}, map[int32]string{}
	for _, svc := range all.Items {
		name := svc.Namespace + "/" + svc.Name
		for _, ip := range svc.Spec.ClusterIPs {
			if other, dup := ips[ip]; dup {
				t.Errorf("cluster IP %s belongs to both %s and %s", ip, other, name)
			}
			ips[ip] = name
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort == 0 {
				continue
			}
			if other, dup := ports[p.NodePort]; dup {
				t.Errorf("node port %d belongs to both %s and %s", p.NodePort, other, name)
			}
			ports[p.NodePort] = name
		}
	}
	wantServices := 1 + len(after.snapshot()) // the kubernetes service and the new ones
	for _, r := range before {
		if r.kind == "Service" {
			wantServices++
		}
	}
	if len(all.Items) < wantServices || len(all.Items) > wantServices+int(failed.Load()) {
		t.Errorf("%d services stored, want %d acknowledged plus at most %d cut off", len(all.Items), wantServices, failed.Load())
	}
	t.Logf("%d services, %d cluster IPs, %d node ports, all distinct", len(all.Items), len(ips), len(ports))

	// SIGTERM stops the server cleanly, and what it stored is there on the next start.
	srv.terminate(t)
	srv = startServerProcess(t, dataDir, port)
	srv.waitReady(t)
	again, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Items) != len(all.Items) {
		t.Errorf("after a clean restart %d services, want %d", len(again.Items), len(all.Items))
	}
	srv.terminate(t)
}

// serverProcess is `gantry server` running as a child process, for tests that kill it.
type serverProcess struct {
	cmd        *exec.Cmd
	kubeconfig string
	logPath    string
	exited     chan struct{}
	err        error // what cmd.Wait returned; read it only after exited is closed
}

// startServerProcess starts `gantry server` on dataDir and port. The process is killed when
// the test ends, if it still runs; its output is logged if the test failed.
func startServerProcess(t *testing.T, dataDir string, port int) *serverProcess {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := gantryCmd(context.Background(), nil, "server",
		"--data-dir", dataDir, "--https-port", strconv.Itoa(port), "--bind-address", "127.0.0.1", "--registry-port", "0", "--disable-agent")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start gantry server: %v", err)
	}
	p := &serverProcess{cmd: cmd, kubeconfig: filepath.Join(dataDir, "admin.kubeconfig"), logPath: logFile.Name(), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(p.logPath)
			if len(out) > 8192 {
				out = out[len(out)-8192:]
			}
			t.Logf("gantry server (pid %d) output, last 8 KiB:\n%s", cmd.Process.Pid, out)
		}
	})
	return p
}

func (p *serverProcess) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitReady waits until /readyz answers ok with the admin kubeconfig and returns that
// kubeconfig's client configuration.
func (p *serverProcess) waitReady(t *testing.T) *rest.Config {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		if p.hasExited() {
			t.Fatalf("gantry server exited before it was ready: %v", p.err)
		}
		config, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig)
		if err == nil {
			config.QPS, config.Burst = 1000, 2000
			config.Timeout = 30 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var body []byte
			body, err = kubernetes.NewForConfigOrDie(config).Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			cancel()
			if err == nil && string(body) == "ok" {
				return config
			}
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gantry server not ready after a minute: %v", last)
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill gantry server: %v", err)
	}
	<-p.exited
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("gantry server ended with %v, not by SIGKILL", p.err)
	}
}

// terminate sends SIGTERM and expects the process to exit with status 0 within a few seconds.
func (p *serverProcess) terminate(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal gantry server: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("gantry server still running 15s after SIGTERM")
	}
	if p.err != nil {
		t.Errorf("gantry server exited with %v after SIGTERM, want status 0", p.err)
	}
	t.Logf("gantry server exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pkiFiles are the bytes of the files a restart must reuse.
type pkiFiles map[string][]byte

var pkiFileNames = []string{"pki/ca.crt", "pki/ca.key", "pki/server.crt", "pki/admin.crt", "admin.kubeconfig", "token"}

func readPKIFiles(t *testing.T, dataDir string) pkiFiles {
	t.Helper()
	c := pkiFiles{}
	for _, f := range pkiFileNames {
		data, err := os.ReadFile(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		c[filepath.Join(dataDir, f)] = data
	}
	return c
}

// changed names the files whose bytes differ from c now.
func (c pkiFiles) changed(t *testing.T) string {
	t.Helper()
	var diff []string
	for path, want := range c {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			diff = append(diff, filepath.Base(path))
		}
	}
	if len(diff) == 0 {
		return ""
	}
	return fmt.Sprint(diff)
}

// ackedObject is an object whose create the server acknowledged.
type ackedObject struct {
	kind, name string
	uid        types.UID
	rv         int64
	alloc      string // a service's cluster IPs and node ports
}

// ackLedger collects acknowledged objects from concurrent workers.
type ackLedger struct {
	mu      sync.Mutex
	objects []ackedObject
}

func (l *ackLedger) add(r ackedObject) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.objects = append(l.objects, r)
}

func (l *ackLedger) snapshot() []ackedObject {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ackedObject(nil), l.objects...)
}

// createNodePortService creates a NodePort service with two ports in namespace durable and records
// it in l if the server acknowledges it.
func createNodePortService(ctx context.Context, client kubernetes.Interface, name string, l *ackLedger) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "durable"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)},
			},
		},
	}
	got, err := client.CoreV1().Services("durable").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	rv, err := parseRV(got)
	if err != nil {
		return err
	}
	l.add(ackedObject{kind: "Service", name: got.Name, uid: got.UID, rv: rv, alloc: allocationOf(got)})
	return nil
}

func allocationOf(svc *corev1.Service) string {
	ports := make([]int32, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.NodePort)
	}
	return fmt.Sprintf("ips=%v nodePorts=%v", svc.Spec.ClusterIPs, ports)
}

func parseRV(obj metav1.Object) (int64, error) {
	rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: resourceVersion %q: %w", obj.GetName(), obj.GetResourceVersion(), err)
	}
	return rv, nil
}

func rvOf(t *testing.T, obj metav1.Object) int64 {
	t.Helper()
	rv, err := parseRV(obj)
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

// forEachParallel calls f(0) … f(n-1) from the given number of goroutines and returns the first
// error; after an error no new calls start.
func forEachParallel(n, workers int, f func(i int) error) error {
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
