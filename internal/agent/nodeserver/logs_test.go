package nodeserver

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	running = runtimeapi.ContainerState_CONTAINER_RUNNING
	exited  = runtimeapi.ContainerState_CONTAINER_EXITED
)

// writeLog writes a CRI-format log file and returns its path.
func writeLog(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logPod makes the pod default/web: an older pod of the same name whose container has a
// higher attempt, and the current pod with two attempts of "app".
func logPod(t *testing.T, h *harness) (currentLog string) {
	dir := t.TempDir()
	rt := h.runtime
	rt.AddSandbox("old-sandbox", "default", "web", "uid-old", 1)
	rt.AddContainer("old", "old-sandbox", "app", 7, exited, writeLog(t, dir, "old.log", "2026-01-01T00:00:00Z stdout F from the old pod"), 2)
	rt.AddSandbox("sandbox", "default", "web", "uid-new", 10)
	rt.AddContainer("app-0", "sandbox", "app", 0, exited, writeLog(t, dir, "0.log", "2026-01-01T00:00:00Z stdout F before the restart"), 11)
	currentLog = writeLog(t, dir, "1.log",
		"2026-01-01T00:00:00Z stdout F one",
		"2026-01-01T00:00:01Z stderr F two",
		"2026-01-01T00:00:02Z stdout P thr",
		"2026-01-01T00:00:02Z stdout F ee",
		"2026-01-01T00:00:03Z stdout F four")
	rt.AddContainer("app-1", "sandbox", "app", 1, running, currentLog, 12)
	rt.AddContainer("side-0", "sandbox", "side", 0, running, writeLog(t, dir, "side.log", "2026-01-01T00:00:00Z stdout F side"), 12)
	rt.AddSandbox("creating", "default", "new", "uid-3", 20)
	return currentLog
}

func TestContainerLogs(t *testing.T) {
	h := start(t)
	logPod(t, h)
	tests := []struct {
		name, query string
		code        int
		body        string
	}{
		{"current container", "", 200, "one\ntwo\nthree\nfour\n"},
		{"tailLines", "?tailLines=1", 200, "four\n"},
		{"sinceTime", "?sinceTime=2026-01-01T00:00:01Z", 200, "two\nthree\nfour\n"},
		{"sinceSeconds", "?sinceSeconds=60", 200, ""},
		{"limitBytes", "?limitBytes=6", 200, "one\ntw"},
		{"timestamps", "?timestamps=true&tailLines=2",
			200, "2026-01-01T00:00:02.000000000Z ee\n2026-01-01T00:00:03.000000000Z four\n"},
		{"previous", "?previous=true", 200, "before the restart\n"},
		{"bad tailLines", "?tailLines=x", 400, `invalid tailLines "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.getText("/containerLogs/default/web/app" + tt.query)
			if code != tt.code || body != tt.body {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}

	errors := []struct {
		name, path string
		code       int
		body       string
	}{
		{"no previous container", "/containerLogs/default/web/side?previous=true", 400, `previous terminated container "side" in pod "web" not found`},
		{"container not created yet", "/containerLogs/default/new/app", 400, `container "app" in pod "new" is waiting to start: ContainerCreating`},
		{"no such pod", "/containerLogs/other/web/app", 404, `pod "web" does not exist`},
	}
	for _, tt := range errors {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := h.getText(tt.path); code != tt.code || body != tt.body {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
		})
	}
}

// follow starts following the current log of default/web/app and reads its first four lines.
func follow(t *testing.T, h *harness) (*http.Response, *bufio.Reader) {
	t.Helper()
	resp := h.get(context.Background(), h.apiserverTLS(), "/containerLogs/default/web/app?follow=true")
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	for _, want := range []string{"one\n", "two\n", "three\n", "four\n"} {
		if line, err := r.ReadString('\n'); line != want || err != nil {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}
	return resp, r
}

func TestFollowEndsWhenContainerExits(t *testing.T) {
	h := start(t)
	path := logPod(t, h)
	_, r := follow(t, h)

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("2026-01-01T00:00:04Z stdout F five\n")
	f.Close()
	if line, err := r.ReadString('\n'); line != "five\n" || err != nil {
		t.Fatalf("read %q, %v after the log grew", line, err)
	}

	h.runtime.SetState("app-1", exited)
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("after the container exited: %q, %v; want a clean end", rest, err)
	}
}

func TestFollowEndsWithServer(t *testing.T) {
	h := start(t)
	logPod(t, h)
	_, r := follow(t, h)
	h.stop()
	if _, err := io.ReadAll(r); err != nil {
		t.Errorf("after the server stopped: %v; want a clean end", err)
	}
}
