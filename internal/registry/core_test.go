package registry

import (
	"context"
	"slices"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestServiceTable(t *testing.T) {
	k := lookup(t, corev1.SchemeGroupVersion.WithKind("Service"))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: metav1.NewTime(time.Now().Add(-90 * time.Second))},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP,
			// The printer shows clusterIPs[0]; the allocator sets both.
			ClusterIP:  "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10"},
			Selector:   map[string]string{"app": "web"},
			Ports:      []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}},
		},
	}
	list := &corev1.ServiceList{Items: []corev1.Service{*svc}}

	tests := []struct {
		wide    bool
		columns []string
		cells   []any
	}{
		{false, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"},
			[]any{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "90s"}},
		{true, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"},
			[]any{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "90s", "app=web"}},
	}
	for _, tt := range tests {
		table, err := k.Strategy.Table(context.Background(), list, TableOptions{Wide: tt.wide})
		if err != nil {
			t.Fatal(err)
		}
		if got := columnNames(table); !slices.Equal(got, tt.columns) {
			t.Errorf("wide=%v: columns = %q, want %q", tt.wide, got, tt.columns)
		}
		if len(table.Rows) != 1 || !slices.Equal(table.Rows[0].Cells, tt.cells) {
			t.Errorf("wide=%v: rows = %v, want %v", tt.wide, table.Rows, tt.cells)
		}
	}
}

// TestDefaultTable covers the kinds kube-apiserver prints without pkg/printers.
func TestDefaultTable(t *testing.T) {
	k := lookup(t, rbacv1.SchemeGroupVersion.WithKind("ClusterRole"))
	created := metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	list := &rbacv1.ClusterRoleList{Items: []rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: "admin", CreationTimestamp: created}}}}
	table, err := k.Strategy.Table(context.Background(), list, TableOptions{Wide: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := columnNames(table); !slices.Equal(got, []string{"Name", "Created At"}) {
		t.Errorf("columns = %q", got)
	}
	if len(table.Rows) != 1 || !slices.Equal(table.Rows[0].Cells, []any{"admin", "2025-03-01T12:00:00Z"}) || table.Rows[0].Object.Object != nil {
		t.Errorf("rows = %+v", table.Rows)
	}
}

func TestEventFields(t *testing.T) {
	regarding := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u-1", APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec.containers{app}"}
	common := fields.Set{
		"metadata.name":                  "web.1",
		"metadata.namespace":             "default",
		"involvedObject.kind":            "Pod",
		"involvedObject.namespace":       "default",
		"involvedObject.name":            "web",
		"involvedObject.uid":             "u-1",
		"involvedObject.apiVersion":      "v1",
		"involvedObject.resourceVersion": "7",
		"involvedObject.fieldPath":       "spec.containers{app}",
		"reason":                         "Pulled",
		"reportingComponent":             "kubelet",
		"source":                         "kubelet",
		"type":                           "Normal",
	}
	eventsV1Fields := fields.Set{
		"regarding.kind":            "Pod",
		"regarding.namespace":       "default",
		"regarding.name":            "web",
		"regarding.uid":             "u-1",
		"regarding.apiVersion":      "v1",
		"regarding.resourceVersion": "7",
		"regarding.fieldPath":       "spec.containers{app}",
		"reportingController":       "kubelet",
	}
	for k, v := range common {
		eventsV1Fields[k] = v
	}
	meta := metav1.ObjectMeta{Name: "web.1", Namespace: "default"}

	tests := []struct {
		name   string
		gvk    schema.GroupVersionKind
		event  runtime.Object
		fields fields.Set
		labels map[string]string // selector label -> the label it converts to, "" if unsupported
	}{
		{
			name: "core/v1",
			gvk:  corev1.SchemeGroupVersion.WithKind("Event"),
			event: &corev1.Event{ObjectMeta: meta, InvolvedObject: regarding, Reason: "Pulled", Type: "Normal",
				ReportingController: "kubelet"}, // source falls back to it
			fields: common,
			labels: map[string]string{"involvedObject.name": "involvedObject.name", "source": "source", "regarding.name": ""},
		},
		{
			name: "events.k8s.io/v1",
			gvk:  eventsv1.SchemeGroupVersion.WithKind("Event"),
			event: &eventsv1.Event{ObjectMeta: meta, Regarding: regarding, Reason: "Pulled", Type: "Normal",
				ReportingController: "kubelet", DeprecatedSource: corev1.EventSource{Component: "kubelet"}},
			fields: eventsV1Fields,
			labels: map[string]string{"regarding.name": "involvedObject.name", "reportingController": "reportingComponent", "source": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := lookup(t, tt.gvk)
			if got := k.Strategy.Fields(tt.event); !equalFields(got, tt.fields) {
				t.Errorf("Fields = %v\nwant     %v", got, tt.fields)
			}
			for label, want := range tt.labels {
				got, _, err := k.ConvertFieldLabel(label, "x")
				if want == "" && err == nil || want != "" && got != want {
					t.Errorf("ConvertFieldLabel(%q) = %q, %v; want %q", label, got, err, want)
				}
			}
		})
	}
}

func TestNamespacePrepare(t *testing.T) {
	k := lookup(t, corev1.SchemeGroupVersion.WithKind("Namespace"))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	k.Strategy.PrepareForCreate(context.Background(), ns)
	if errs := k.Strategy.Validate(context.Background(), ns); len(errs) != 0 {
		t.Fatalf("Validate:\n%s", errorsString(errs))
	}
	if ns.Status.Phase != corev1.NamespaceActive || !slices.Equal(ns.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) ||
		ns.Labels[corev1.LabelMetadataName] != "team-a" {
		t.Errorf("prepared namespace = %+v", ns)
	}
	if got := k.Strategy.Fields(ns)["status.phase"]; got != "Active" {
		t.Errorf("status.phase field = %q", got)
	}

	update := ns.DeepCopy()
	update.Spec.Finalizers = nil // only namespaces/finalize may change them
	update.Labels = nil
	k.Strategy.PrepareForUpdate(context.Background(), update, ns)
	if len(update.Spec.Finalizers) != 1 || update.Labels[corev1.LabelMetadataName] != "team-a" {
		t.Errorf("updated namespace = %+v", update)
	}
}

func TestJobSelectorGenerated(t *testing.T) {
	k := lookup(t, batchv1.SchemeGroupVersion.WithKind("Job"))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "0b0e3e2a-0000-4000-8000-000000000001"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl:5.34"}},
		}}},
	}
	job = stored(t, k, job)
	uid := string(job.UID)
	if got := job.Spec.Selector.MatchLabels; len(got) != 1 || got["batch.kubernetes.io/controller-uid"] != uid {
		t.Errorf("selector = %v", got)
	}
	for key, want := range map[string]string{"batch.kubernetes.io/job-name": "pi", "job-name": "pi", "controller-uid": uid} {
		if got := job.Spec.Template.Labels[key]; got != want {
			t.Errorf("template label %s = %q, want %q", key, got, want)
		}
	}
	if ptr.Deref(job.Spec.ManualSelector, true) || job.Generation != 1 {
		t.Errorf("manualSelector %v, generation %d", job.Spec.ManualSelector, job.Generation)
	}
}

// TestHorizontalPodAutoscalerVersions: both served versions share Kubernetes' rules.
func TestHorizontalPodAutoscalerVersions(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Namespace: "default"}
	target := func() (string, string, string) { return "apps/v1", "Deployment", "web" }
	v2 := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5}}
	v2.Spec.ScaleTargetRef.APIVersion, v2.Spec.ScaleTargetRef.Kind, v2.Spec.ScaleTargetRef.Name = target()
	v1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: meta, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
		TargetCPUUtilizationPercentage: ptr.To[int32](80)}}
	v1.Spec.ScaleTargetRef.APIVersion, v1.Spec.ScaleTargetRef.Kind, v1.Spec.ScaleTargetRef.Name = target()

	for _, tt := range []struct {
		gvk schema.GroupVersionKind
		obj runtime.Object
	}{{autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), v2}, {autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), v1}} {
		t.Run(tt.gvk.Version, func(t *testing.T) {
			k := lookup(t, tt.gvk)
			obj := stored(t, k, tt.obj)
			table, err := k.Strategy.Table(context.Background(), obj, TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"}
			if got := columnNames(table); !slices.Equal(got, want) {
				t.Errorf("columns = %q, want %q", got, want)
			}
			if got := table.Rows[0].Cells[1:5]; !slices.Equal(got, []any{"Deployment/web", "cpu: <unknown>/80%", "1", int64(5)}) {
				t.Errorf("cells = %#v", got)
			}
			invalid := obj.DeepCopyObject()
			switch h := invalid.(type) {
			case *autoscalingv2.HorizontalPodAutoscaler:
				h.Spec.MinReplicas = ptr.To[int32](9)
			case *autoscalingv1.HorizontalPodAutoscaler:
				h.Spec.MinReplicas = ptr.To[int32](9)
			}
			k.Strategy.PrepareForUpdate(context.Background(), invalid, obj)
			errs := k.Strategy.ValidateUpdate(context.Background(), invalid, obj)
			if len(errs) != 1 || errs[0].Field != "spec.maxReplicas" || errs[0].Detail != "must be greater than or equal to `minReplicas`" {
				t.Errorf("ValidateUpdate:\n%s", errorsString(errs))
			}
		})
	}
}

func TestAllowCreateOnUpdate(t *testing.T) {
	// As upstream: the kinds controllers write with PUT whether or not the object exists.
	want := map[string]bool{"services": true, "endpoints": true, "events": true, "limitranges": true, "leases": true,
		"roles": true, "clusterroles": true, "rolebindings": true, "clusterrolebindings": true}
	for _, k := range Kinds() {
		if got := k.Strategy.AllowCreateOnUpdate(); got != want[k.Resource] {
			t.Errorf("%s: AllowCreateOnUpdate = %v", k.GroupVersionResource(), got)
		}
	}
}

// TestEventValidationByVersion: one set of rules, validation as strict as the version served.
func TestEventValidationByVersion(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web.1", Namespace: "default"}
	regarding := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}
	tests := []struct {
		name   string
		gvk    schema.GroupVersionKind
		event  runtime.Object
		errors []string
	}{
		{
			name:  "core/v1 needs no event time",
			gvk:   corev1.SchemeGroupVersion.WithKind("Event"),
			event: &corev1.Event{ObjectMeta: meta, InvolvedObject: regarding, Reason: "Pulled", Type: "Normal"},
		},
		{
			name: "events.k8s.io/v1 does",
			gvk:  eventsv1.SchemeGroupVersion.WithKind("Event"),
			event: &eventsv1.Event{ObjectMeta: meta, Regarding: regarding, Reason: "Pulled", Type: "Normal",
				Action: "Pull", ReportingController: "example.com/kubelet", ReportingInstance: "node-1"},
			errors: []string{"eventTime: Required value"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lookup(t, tt.gvk).Strategy
			s.PrepareForCreate(context.Background(), tt.event)
			var got []string
			for _, e := range s.Validate(context.Background(), tt.event) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.errors) {
				t.Errorf("errors = %q, want %q", got, tt.errors)
			}
		})
	}
}

// TestConvertFieldLabel: which labels Kubernetes accepts in a field selector, per kind.
func TestConvertFieldLabel(t *testing.T) {
	tests := []struct {
		gvk   schema.GroupVersionKind
		label string
		err   string
	}{
		{corev1.SchemeGroupVersion.WithKind("Node"), "spec.unschedulable", ""},
		{corev1.SchemeGroupVersion.WithKind("Node"), "metadata.namespace", "field label not supported: metadata.namespace"},
		{corev1.SchemeGroupVersion.WithKind("Secret"), "type", ""},
		{corev1.SchemeGroupVersion.WithKind("Namespace"), "status.phase", ""},
		{corev1.SchemeGroupVersion.WithKind("Service"), "spec.clusterIP", ""},
		{corev1.SchemeGroupVersion.WithKind("ConfigMap"), "metadata.namespace", ""},
		{corev1.SchemeGroupVersion.WithKind("ConfigMap"), "data", `"data" is not a known field selector: only "metadata.name", "metadata.namespace"`},
		{batchv1.SchemeGroupVersion.WithKind("Job"), "status.successful", ""},
		// apps/v1 registers no conversion: the status.replicas the replica set strategy offers
		// is out of reach in this version, as in Kubernetes.
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, "status.replicas", `"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"`},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.Kind+"/"+tt.label, func(t *testing.T) {
			label, _, err := lookup(t, tt.gvk).ConvertFieldLabel(tt.label, "x")
			switch {
			case tt.err == "" && (err != nil || label != tt.label):
				t.Errorf("got %q, %v", label, err)
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Errorf("got error %v, want %q", err, tt.err)
			}
		})
	}
}
