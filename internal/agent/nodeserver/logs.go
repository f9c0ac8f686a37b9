package nodeserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"k8s.io/cri-client/pkg/logs"
)

// containerLogs streams a container's log file, as the kubelet's /containerLogs does.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, previous, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		s.writeError(w, err)
		return
	}
	id, path, err := s.logFile(r.Context(), ns, pod, container, previous)
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w, rc: http.NewResponseController(w)}
	// The headers go out now, so that a followed log that has nothing to say yet is not
	// mistaken for a hung request.
	out.rc.Flush()
	err = logs.ReadLogs(r.Context(), path, id, opts, s.cfg.Runtime, out, out)
	if err != nil && r.Context().Err() == nil {
		// The status is sent already; the kubelet writes the error into the body too.
		s.log.Warn("read container log", "pod", ns+"/"+pod, "container", container, "path", path, "err", err)
		out.Write([]byte(err.Error()))
	}
}

// logFile finds the container whose log is asked for and its log file.
func (s *Server) logFile(ctx context.Context, ns, pod, container string, previous bool) (id, path string, err error) {
	list, err := s.containers(ctx, ns, pod, container)
	if err != nil {
		return "", "", err
	}
	pick := 0
	if previous {
		pick = 1
	}
	if len(list) <= pick {
		if previous {
			return "", "", badRequest("previous terminated container %q in pod %q not found", container, pod)
		}
		// What the kubelet says while the container is being created.
		return "", "", badRequest("container %q in pod %q is waiting to start: ContainerCreating", container, pod)
	}
	id = list[pick].Id
	status, err := s.cfg.Runtime.ContainerStatus(ctx, id, false)
	if err != nil || status.GetStatus() == nil {
		s.log.Warn("container status", "id", id, "err", err)
		return "", "", badRequest("unable to retrieve container logs for containerd://%s", id)
	}
	return id, status.GetStatus().GetLogPath(), nil
}

// parseLogOptions reads the query parameters of /containerLogs, which the API server sets
// from a validated PodLogOptions.
func parseLogOptions(q url.Values, now time.Time) (opts *logs.LogOptions, previous bool, err error) {
	opts = &logs.LogOptions{}
	bools := map[string]*bool{"follow": &opts.Follow, "previous": &previous, "timestamps": &opts.Timestamp}
	for name, dst := range bools {
		if v := q.Get(name); v != "" {
			if *dst, err = strconv.ParseBool(v); err != nil {
				return nil, false, badRequest("invalid %s %q", name, v)
			}
		}
	}
	var since *int64
	ints := map[string]**int64{"tailLines": &opts.TailLines, "limitBytes": &opts.LimitBytes, "sinceSeconds": &since}
	for name, dst := range ints {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, false, badRequest("invalid %s %q", name, v)
			}
			*dst = &n
		}
	}
	if since != nil {
		opts.Since = now.Add(-time.Duration(*since) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, false, badRequest("invalid sinceTime %q", v)
		}
		if t.After(opts.Since) {
			opts.Since = t
		}
	}
	return opts, previous, nil
}

// flushWriter sends every write to the client at once: a followed log is read as it grows.
// ReadLogs writes stdout and stderr lines to it from one goroutine; the lock is for safety
// against a future change there, not for speed.
type flushWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}

// writeError answers a request that failed before its response began.
func (s *Server) writeError(w http.ResponseWriter, err error) {
	var re *requestError
	if errors.As(err, &re) {
		writeText(w, re.code, re.msg)
		return
	}
	s.log.Error("node API request", "err", err)
	writeText(w, http.StatusInternalServerError, err.Error())
}
