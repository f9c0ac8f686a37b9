package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
)

// podLog answers GET pods/log by streaming the container's log from the pod's node agent, as
// kube-apiserver's LogREST does.
func (s *Server) podLog(w http.ResponseWriter, r *http.Request, q *request) {
	if q.info.Verb != "get" {
		s.writeError(w, r, methodNotAllowed(q))
		return
	}
	opts := &api.PodLogOptions{}
	if err := legacyscheme.ParameterCodec.DecodeParameters(r.URL.Query(), corev1.SchemeGroupVersion, opts); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if errs := corevalidation.ValidatePodLogOptions(opts, false); len(errs) > 0 {
		s.writeError(w, r, apierrors.NewInvalid(api.Kind("PodLogOptions"), q.info.Name, errs))
		return
	}
	pod, err := s.getPod(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	container, err := podContainer(pod, opts.Container)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pod.Spec.NodeName == "" {
		// Nothing has run yet: kube-apiserver answers with an empty log.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return
	}
	loc, err := s.nodeLocation(r.Context(), pod.Spec.NodeName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
	loc.RawQuery = logParams(opts).Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.nodeTransport.RoundTrip(req)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("get logs from node %s: %w", pod.Spec.NodeName, err)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 206 {
		s.writeError(w, r, nodeResponseError(resp, api.Resource("pods/log"), pod.Name))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	if !opts.Follow {
		io.Copy(w, resp.Body)
		return
	}
	// A followed log reaches the client as the agent sends it.
	rc := http.NewResponseController(w)
	rc.Flush()
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// logParams are the agent's /containerLogs query parameters for opts.
func logParams(opts *api.PodLogOptions) url.Values {
	params := url.Values{}
	if opts.Follow {
		params.Set("follow", "true")
	}
	if opts.Previous {
		params.Set("previous", "true")
	}
	if opts.Timestamps {
		params.Set("timestamps", "true")
	}
	if opts.SinceSeconds != nil {
		params.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		params.Set("sinceTime", opts.SinceTime.Format(time.RFC3339))
	}
	if opts.TailLines != nil {
		params.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		params.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	return params
}

// getPod reads the pod a pods/* subresource request names.
func (s *Server) getPod(ctx context.Context, q *request) (*corev1.Pod, error) {
	obj, err := s.objects.get(ctx, q.kind, q.info.Namespace, q.info.Name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

// podContainer checks the container a request names, or picks the pod's only one, with
// kube-apiserver's messages.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			names = append(names, c.Name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	if name != "" {
		for _, n := range names {
			if n == name {
				return name, nil
			}
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
}
