package probe

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func intstrName(name string) intstr.IntOrString { return intstr.FromString(name) }

func readinessProbe(h corev1.ProbeHandler) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1, TimeoutSeconds: 5000, FailureThreshold: 1, SuccessThreshold: 1}
}

func serverPort(t *testing.T, rawURL string) int32 {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return int32(port)
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusOK
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/healthz" || r.URL.RawQuery != "full=1" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		seen = r.Header.Clone()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)

	f := newFixture(t, newScriptedExec())
	probe := readinessProbe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz?full=1", Port: intstrName("web"),
		HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}},
	}})
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: probe,
		Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: serverPort(t, srv.URL)}}})
	f.run(pod)
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
	mu.Lock()
	if ua := seen.Get("User-Agent"); ua != "kube-probe/1.37" {
		t.Errorf("User-Agent %q, want kube-probe/1.37", ua)
	}
	if h := seen.Get("X-Probe"); h != "yes" {
		t.Errorf("X-Probe header %q, want yes", h)
	}
	if a := seen.Get("Accept"); a != "*/*" {
		t.Errorf("Accept %q, want */*", a)
	}
	status = http.StatusInternalServerError
	mu.Unlock()

	eventually(t, "not ready", func() bool { return !f.m.Ready(pod.UID, "app") })
	e, ok := f.rec.find("Readiness probe failed: ")
	if !ok {
		t.Fatal("no readiness failure event")
	}
	want := event{corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500", "spec.containers{app}"}
	if e != want {
		t.Errorf("event %+v, want %+v", e, want)
	}
}

func TestHTTPSProbeSkipsVerification(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	// Removing the pod cancels a probe mid-handshake; the server need not log that.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	f := newFixture(t, newScriptedExec())
	probe := readinessProbe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(serverPort(t, srv.URL)),
	}})
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: probe})
	f.run(pod)
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
}

func TestHTTPProbeRedirects(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	port := serverPort(t, srv.URL)
	mux.HandleFunc("/local", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/bad", http.StatusFound) })
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+strconv.Itoa(int(port))+"/bad", http.StatusFound)
	})

	f := newFixture(t, newScriptedExec())
	local := readinessProbe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/local", Port: intstr.FromInt32(port)}})
	away := readinessProbe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/away", Port: intstr.FromInt32(port)}})
	pod := newPod(corev1.Container{Name: "local", ReadinessProbe: local}, corev1.Container{Name: "away", ReadinessProbe: away})
	f.run(pod)

	// A redirect to the same host is followed (and here fails); one to another host is
	// not followed, and passes with a warning.
	eventually(t, "the followed redirect fails", func() bool {
		_, ok := f.rec.find("Readiness probe failed: HTTP probe failed with statuscode: 503")
		return ok
	})
	eventually(t, "away ready", func() bool { return f.m.Ready(pod.UID, "away") })
	e, ok := f.rec.find("Readiness probe warning: Probe terminated redirects")
	if !ok || e.reason != "ProbeWarning" || e.fieldPath != "spec.containers{away}" {
		t.Errorf("redirect warning event %+v (found %v)", e, ok)
	}
	if f.m.Ready(pod.UID, "local") {
		t.Error("local ready though its redirect target fails")
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	f := newFixture(t, newScriptedExec())
	probe := readinessProbe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}})
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: probe})
	f.run(pod)
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })

	ln.Close()
	eventually(t, "not ready", func() bool { return !f.m.Ready(pod.UID, "app") })
	want := "Readiness probe failed: dial tcp 127.0.0.1:" + strconv.Itoa(int(port)) + ": connect: connection refused"
	if _, ok := f.rec.find(want); !ok {
		t.Errorf("no event %q", want)
	}
}

func TestGRPCProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	f := newFixture(t, newScriptedExec())
	probe := readinessProbe(corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(ln.Addr().(*net.TCPAddr).Port), Service: ptrTo("db")}})
	pod := newPod(corev1.Container{Name: "app", ReadinessProbe: probe})
	f.run(pod)
	eventually(t, "the NOT_SERVING event", func() bool {
		_, ok := f.rec.find(`Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`)
		return ok
	})
	if f.m.Ready(pod.UID, "app") {
		t.Error("ready while NOT_SERVING")
	}
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	eventually(t, "ready", func() bool { return f.m.Ready(pod.UID, "app") })
}

func TestGRPCProbeTimesOutConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	h := grpcHandler("127.0.0.1", port, "")
	out, output, err := h(context.Background(), 50*time.Millisecond)
	if err != nil || out != failed {
		t.Fatalf("outcome %v, err %v; want failed", out, err)
	}
	want := `timeout: failed to connect service "127.0.0.1:` + strconv.Itoa(port) + `" within 50ms: context deadline exceeded`
	if output != want {
		t.Errorf("output %q, want %q", output, want)
	}
}
