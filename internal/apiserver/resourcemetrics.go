package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// The resource metrics API (metrics.k8s.io/v1beta1, what `kubectl top` and the HPA read) is
// served by the server itself, as metrics-server would serve it: each request asks the agents
// concerned for their /stats/summary, in parallel and briefly, and leaves out the nodes that
// do not answer in time. Nothing is stored.

// metricsTimeout bounds one request's wait for the agents.
const metricsTimeout = 5 * time.Second

// metricsWindow is the window reported with every sample. A Summary does not say over how long
// its usageNanoCores was averaged; 10s is the kubelet's housekeeping interval.
const metricsWindow = 10 * time.Second

var metricsGV = metricsv1beta1.SchemeGroupVersion

// metricsResources are the resources of metricsGV, for discovery.
var metricsResources = []metav1.APIResource{
	{Name: "nodes", Kind: "NodeMetrics", Verbs: metav1.Verbs{"get", "list"}},
	{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: metav1.Verbs{"get", "list"}},
}

// serveMetrics answers GET and LIST of nodes and pods in metrics.k8s.io/v1beta1.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, info requestInfo) {
	gr := schema.GroupResource{Group: metricsGV.Group, Resource: info.Resource}
	if info.Version != metricsGV.Version || info.Subresource != "" ||
		(info.Resource != "nodes" && info.Resource != "pods") || (info.Resource == "nodes" && info.Namespace != "") {
		s.writeError(w, r, notFound())
		return
	}
	if info.Verb != "get" && info.Verb != "list" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, info.Verb))
		return
	}
	selector, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	ctx := r.Context()
	var list runtime.Object
	if info.Resource == "nodes" {
		list, err = s.nodeMetrics(ctx, info.Name, selector)
	} else {
		list, err = s.podMetrics(ctx, info.Namespace, info.Name, selector)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if info.Verb == "list" {
		s.writeJSON(w, http.StatusOK, list)
		return
	}
	var item any
	switch l := list.(type) {
	case *metricsv1beta1.NodeMetricsList:
		if len(l.Items) == 1 {
			item = &l.Items[0]
		}
	case *metricsv1beta1.PodMetricsList:
		if len(l.Items) == 1 {
			item = &l.Items[0]
		}
	}
	if item == nil {
		s.writeError(w, r, apierrors.NewNotFound(gr, info.Name))
		return
	}
	s.writeJSON(w, http.StatusOK, item)
}

// nodeMetrics lists the usage of the nodes matching selector, or of the node name.
func (s *Server) nodeMetrics(ctx context.Context, name string, selector labels.Selector) (*metricsv1beta1.NodeMetricsList, error) {
	nodes, err := s.listForMetrics(ctx, corev1.SchemeGroupVersion.WithResource("nodes"), "", name, selector)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, obj := range nodes {
		names = append(names, obj.(*corev1.Node).Name)
	}
	summaries := s.summaries(ctx, names)
	out := &metricsv1beta1.NodeMetricsList{TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsGV.String()}}
	for _, obj := range nodes {
		node := obj.(*corev1.Node)
		sum, ok := summaries[node.Name]
		if !ok {
			continue
		}
		ts, usage, ok := usageOf(sum.Node.CPU, sum.Node.Memory)
		if !ok {
			continue
		}
		out.Items = append(out.Items, metricsv1beta1.NodeMetrics{
			TypeMeta:   metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: metricsGV.String()},
			ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: node.Labels, CreationTimestamp: metav1.Now()},
			Timestamp:  ts, Window: metav1.Duration{Duration: metricsWindow}, Usage: usage,
		})
	}
	return out, nil
}

// podMetrics lists the usage of the pods in namespace ("" for all) matching selector, or of
// the pod name, per container. A pod some of whose containers have no figures yet is left
// out, as metrics-server leaves it out.
func (s *Server) podMetrics(ctx context.Context, namespace, name string, selector labels.Selector) (*metricsv1beta1.PodMetricsList, error) {
	pods, err := s.listForMetrics(ctx, corev1.SchemeGroupVersion.WithResource("pods"), namespace, name, selector)
	if err != nil {
		return nil, err
	}
	nodeSet := map[string]bool{}
	var nodes []string
	for _, obj := range pods {
		if n := obj.(*corev1.Pod).Spec.NodeName; n != "" && !nodeSet[n] {
			nodeSet[n] = true
			nodes = append(nodes, n)
		}
	}
	byPod := map[string]statsv1alpha1.PodStats{}
	for _, sum := range s.summaries(ctx, nodes) {
		for _, p := range sum.Pods {
			byPod[p.PodRef.Namespace+"/"+p.PodRef.Name] = p
		}
	}
	out := &metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsGV.String()}}
	for _, obj := range pods {
		pod := obj.(*corev1.Pod)
		stats, ok := byPod[pod.Namespace+"/"+pod.Name]
		if !ok || len(stats.Containers) == 0 {
			continue
		}
		m := metricsv1beta1.PodMetrics{
			TypeMeta:   metav1.TypeMeta{Kind: "PodMetrics", APIVersion: metricsGV.String()},
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: metav1.Now()},
			Window:     metav1.Duration{Duration: metricsWindow},
		}
		complete := true
		for _, c := range stats.Containers {
			ts, usage, ok := usageOf(c.CPU, c.Memory)
			if !ok {
				complete = false
				break
			}
			if ts.After(m.Timestamp.Time) {
				m.Timestamp = ts
			}
			m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: usage})
		}
		if complete {
			out.Items = append(out.Items, m)
		}
	}
	return out, nil
}

// usageOf is metrics-server's reading of a Summary entry: CPU from usageNanoCores, memory from
// the working set; ok is false when either is missing.
func usageOf(cpu *statsv1alpha1.CPUStats, mem *statsv1alpha1.MemoryStats) (metav1.Time, corev1.ResourceList, bool) {
	if cpu == nil || cpu.UsageNanoCores == nil || mem == nil || mem.WorkingSetBytes == nil {
		return metav1.Time{}, nil, false
	}
	ts := cpu.Time
	if mem.Time.After(ts.Time) {
		ts = mem.Time
	}
	return ts, corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(*cpu.UsageNanoCores), -9),
		corev1.ResourceMemory: *resource.NewQuantity(int64(*mem.WorkingSetBytes), resource.BinarySI),
	}, true
}

// listForMetrics lists the objects of resource in namespace that match selector, or only the
// one called name.
func (s *Server) listForMetrics(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string, selector labels.Selector) ([]runtime.Object, error) {
	all, err := admissionObjects{s}.List(ctx, gvr, namespace)
	if err != nil {
		return nil, err
	}
	var out []runtime.Object
	for _, obj := range all {
		meta := obj.(metav1.Object)
		if (name == "" || meta.GetName() == name) && selector.Matches(labels.Set(meta.GetLabels())) {
			out = append(out, obj)
		}
	}
	return out, nil
}

// summaries fetches /stats/summary from the agents of nodes, in parallel; the nodes that fail
// or do not answer within metricsTimeout are missing from the result.
func (s *Server) summaries(ctx context.Context, nodes []string) map[string]*statsv1alpha1.Summary {
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]*statsv1alpha1.Summary{}
	for _, name := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := s.summary(ctx, name)
			if err != nil {
				slog.Warn("node left out of resource metrics", "node", name, "err", err)
				return
			}
			mu.Lock()
			out[name] = sum
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (s *Server) summary(ctx context.Context, node string) (*statsv1alpha1.Summary, error) {
	loc, err := s.nodeLocation(ctx, node)
	if err != nil {
		return nil, err
	}
	loc.Path, loc.RawQuery = "/stats/summary", "only_cpu_and_memory=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.nodeTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", loc, resp.Status)
	}
	sum := &statsv1alpha1.Summary{}
	if err := json.NewDecoder(resp.Body).Decode(sum); err != nil {
		return nil, fmt.Errorf("decode summary of node %s: %w", node, err)
	}
	return sum, nil
}
