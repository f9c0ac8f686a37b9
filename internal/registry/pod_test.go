package registry

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var podKind = corev1.SchemeGroupVersion.WithKind("Pod")

func newPod(name string, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: "nginx:1.27"}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "6f1c0c9e-0000-4000-8000-000000000001"},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

func TestPodDefaults(t *testing.T) {
	tests := []struct {
		image      string
		pullPolicy corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.example.com/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			pod := newPod("web", corev1.Container{Name: "app", Image: tt.image})
			lookup(t, podKind).Strategy.Default(pod)

			c := pod.Spec.Containers[0]
			if c.ImagePullPolicy != tt.pullPolicy {
				t.Errorf("imagePullPolicy = %q, want %q", c.ImagePullPolicy, tt.pullPolicy)
			}
			if c.TerminationMessagePath != "/dev/termination-log" || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
				t.Errorf("termination message = %q, %q", c.TerminationMessagePath, c.TerminationMessagePolicy)
			}
			if pod.Spec.DNSPolicy != corev1.DNSClusterFirst {
				t.Errorf("dnsPolicy = %q", pod.Spec.DNSPolicy)
			}
			if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways {
				t.Errorf("restartPolicy = %q", pod.Spec.RestartPolicy)
			}
			if pod.Spec.SchedulerName != corev1.DefaultSchedulerName {
				t.Errorf("schedulerName = %q", pod.Spec.SchedulerName)
			}
			if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
				t.Errorf("terminationGracePeriodSeconds = %v", g)
			}
		})
	}
}

func TestPodPrepareForCreate(t *testing.T) {
	quantity := resource.MustParse
	tests := []struct {
		name      string
		resources corev1.ResourceRequirements
		qos       corev1.PodQOSClass
	}{
		{"no resources", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"requests", corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: quantity("100m")}}, corev1.PodQOSBurstable},
		// Defaulting copies limits into requests; the class is computed after it.
		{"limits only", corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: quantity("1"), corev1.ResourceMemory: quantity("1Gi")}}, corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod("web", corev1.Container{Name: "app", Image: "nginx:1.27", Resources: tt.resources})
			pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
			pod.Generation = 7
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", HostIP: "192.168.0.1"}

			lookup(t, podKind).Strategy.PrepareForCreate(context.Background(), pod)

			if pod.Status.Phase != corev1.PodPending || pod.Status.PodIP != "" || pod.Status.HostIP != "" {
				t.Errorf("status = %+v, want only phase Pending and a QoS class", pod.Status)
			}
			if pod.Status.QOSClass != tt.qos {
				t.Errorf("qosClass = %q, want %q", pod.Status.QOSClass, tt.qos)
			}
			if pod.Generation != 1 {
				t.Errorf("generation = %d, want 1", pod.Generation)
			}
			if pod.Kind != "Pod" || pod.APIVersion != "v1" {
				t.Errorf("TypeMeta changed: %+v", pod.TypeMeta)
			}
		})
	}
}

func TestPodValidate(t *testing.T) {
	tests := []struct {
		name   string
		pod    *corev1.Pod
		errors []string // field: detail substrings, in order; none for a valid pod
	}{
		{name: "valid", pod: newPod("web")},
		{
			name: "name not DNS-1123",
			pod:  newPod("Web_1"),
			errors: []string{`metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', ` +
				`and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		},
		{
			name:   "no containers",
			pod:    &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}},
			errors: []string{"spec.containers: Required value"},
		},
		{
			name:   "bad restart policy",
			pod:    func() *corev1.Pod { p := newPod("web"); p.Spec.RestartPolicy = "Sometimes"; return p }(),
			errors: []string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lookup(t, podKind).Strategy
			s.PrepareForCreate(context.Background(), tt.pod)
			errs := s.Validate(context.Background(), tt.pod)
			if len(errs) != len(tt.errors) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(tt.errors), errorsString(errs))
			}
			for i, want := range tt.errors {
				if !strings.HasPrefix(errs[i].Error(), want) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i].Error(), want)
				}
			}
		})
	}
}

// created returns pod as the server stored it: prepared, defaulted and valid.
func created(t *testing.T, s Strategy, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	s.PrepareForCreate(context.Background(), pod)
	s.Default(pod)
	if errs := s.Validate(context.Background(), pod); len(errs) != 0 {
		t.Fatalf("invalid pod:\n%s", errorsString(errs))
	}
	pod.ResourceVersion = "10"
	pod.CreationTimestamp = metav1.Now()
	return pod
}

func TestPodUpdate(t *testing.T) {
	s := lookup(t, podKind).Strategy
	old := created(t, s, newPod("web"))
	old.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}

	tests := []struct {
		name       string
		change     func(p *corev1.Pod)
		generation int64
	}{
		{"label", func(p *corev1.Pod) { p.Labels = map[string]string{"tier": "web"} }, 1},
		{"status, ignored", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, 1},
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, 2},
		// A client that omits defaulted fields changes nothing.
		{"defaults omitted", func(p *corev1.Pod) { p.Spec.DNSPolicy, p.Spec.Containers[0].TerminationMessagePath = "", "" }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := old.DeepCopy()
			pod.Generation = 99 // clients cannot set it
			tt.change(pod)
			s.PrepareForUpdate(context.Background(), pod, old)
			if errs := s.ValidateUpdate(context.Background(), pod, old); len(errs) != 0 {
				t.Fatalf("ValidateUpdate:\n%s", errorsString(errs))
			}
			if pod.Generation != tt.generation {
				t.Errorf("generation = %d, want %d", pod.Generation, tt.generation)
			}
			if pod.Status.Phase != corev1.PodPending || len(pod.Status.Conditions) != 1 {
				t.Errorf("status not kept: %+v", pod.Status)
			}
		})
	}

	t.Run("status update keeps spec", func(t *testing.T) {
		pod := old.DeepCopy()
		pod.Spec.Containers[0].Image = "nginx:1.28"
		pod.Spec.NodeName = "node-1"
		pod.Status.Phase = corev1.PodRunning
		pod.Status.QOSClass = "" // old kubelets drop it
		s.PrepareForStatusUpdate(context.Background(), pod, old)
		if errs := s.ValidateStatusUpdate(context.Background(), pod, old); len(errs) != 0 {
			t.Fatalf("ValidateStatusUpdate:\n%s", errorsString(errs))
		}
		if pod.Spec.Containers[0].Image != "nginx:1.27" || pod.Spec.NodeName != "" {
			t.Errorf("spec changed through status: %+v", pod.Spec)
		}
		if pod.Status.Phase != corev1.PodRunning || pod.Status.QOSClass != corev1.PodQOSBestEffort || pod.Generation != 1 {
			t.Errorf("status = %+v, generation %d", pod.Status, pod.Generation)
		}
	})

	t.Run("spec change Kubernetes forbids", func(t *testing.T) {
		pod := old.DeepCopy()
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		s.PrepareForUpdate(context.Background(), pod, old)
		errs := s.ValidateUpdate(context.Background(), pod, old)
		if len(errs) != 1 || errs[0].Field != "spec" || errs[0].Type != field.ErrorTypeForbidden ||
			!strings.HasPrefix(errs[0].Detail, "pod updates may not change fields other than") {
			t.Errorf("got:\n%s", errorsString(errs))
		}
	})
}

func TestPodTable(t *testing.T) {
	s := lookup(t, podKind).Strategy
	pending := created(t, s, newPod("web"))
	running := created(t, s, newPod("db"))
	running.Spec.NodeName = "node-1"
	running.Status = corev1.PodStatus{
		Phase:             corev1.PodRunning,
		PodIP:             "10.244.0.5",
		PodIPs:            []corev1.PodIP{{IP: "10.244.0.5"}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	running.CreationTimestamp = metav1.NewTime(time.Now().Add(-3 * time.Hour))
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}, Items: []corev1.Pod{*pending, *running}}

	tests := []struct {
		wide    bool
		columns []string
		rows    [][]any // the cells but the age
	}{
		{false, []string{"Name", "Ready", "Status", "Restarts", "Age"}, [][]any{
			{"web", "0/1", "Pending", "0"},
			{"db", "1/1", "Running", "2"},
		}},
		{true, []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}, [][]any{
			{"web", "0/1", "Pending", "0", "<none>", "<none>", "<none>", "<none>"},
			{"db", "1/1", "Running", "2", "10.244.0.5", "node-1", "<none>", "<none>"},
		}},
	}
	for _, tt := range tests {
		t.Run(map[bool]string{false: "default", true: "wide"}[tt.wide], func(t *testing.T) {
			table, err := s.Table(context.Background(), list, TableOptions{Wide: tt.wide})
			if err != nil {
				t.Fatal(err)
			}
			if got := columnNames(table); !slices.Equal(got, tt.columns) {
				t.Errorf("columns = %q, want %q", got, tt.columns)
			}
			if table.ResourceVersion != "42" || len(table.Rows) != len(tt.rows) {
				t.Fatalf("resourceVersion %q, %d rows", table.ResourceVersion, len(table.Rows))
			}
			for i, want := range tt.rows {
				cells := table.Rows[i].Cells
				if len(cells) != len(tt.columns) {
					t.Fatalf("row %d: %d cells, want %d: %v", i, len(cells), len(tt.columns), cells)
				}
				got := append(append([]any{}, cells[:4]...), cells[5:]...)
				if !slices.Equal(got, want) {
					t.Errorf("row %d = %#v, want %#v (age %v)", i, got, want, cells[4])
				}
				if table.Rows[i].Object.Object != nil {
					t.Errorf("row %d carries an object", i)
				}
			}
		})
	}
	if age := mustTable(t, s, running).Rows[0].Cells[4]; age != "3h" {
		t.Errorf("age = %v, want 3h", age)
	}
}

func mustTable(t *testing.T, s Strategy, obj runtime.Object) *metav1.Table {
	t.Helper()
	table, err := s.Table(context.Background(), obj, TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestPodFields(t *testing.T) {
	pod := newPod("web")
	pod.Spec.NodeName = "node-1"
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	pod.Spec.SchedulerName = "custom"
	pod.Spec.ServiceAccountName = "builder"
	pod.Spec.HostNetwork = true
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.0.0.7"}, {IP: "fd00::7"}}, NominatedNodeName: "node-2"}

	want := fields.Set{
		"metadata.name":            "web",
		"metadata.namespace":       "default",
		"spec.nodeName":            "node-1",
		"spec.restartPolicy":       "OnFailure",
		"spec.schedulerName":       "custom",
		"spec.serviceAccountName":  "builder",
		"spec.hostNetwork":         "true",
		"status.phase":             "Running",
		"status.podIP":             "10.0.0.7",
		"status.nominatedNodeName": "node-2",
	}
	k := lookup(t, podKind)
	if got := k.Strategy.Fields(pod); !equalFields(got, want) {
		t.Errorf("Fields = %v\nwant     %v", got, want)
	}

	// Selectors go through Kubernetes' field label conversion first.
	for _, tt := range []struct{ label, converted, err string }{
		{"spec.nodeName", "spec.nodeName", ""},
		{"spec.host", "spec.nodeName", ""}, // pre-1.0 clients
		{"status.podIP", "status.podIP", ""},
		{"spec.containers", "", "field label not supported: spec.containers"},
	} {
		label, _, err := k.ConvertFieldLabel(tt.label, "x")
		if label != tt.converted || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("ConvertFieldLabel(%q) = %q, %v; want %q, %q", tt.label, label, err, tt.converted, tt.err)
		}
	}
}

func equalFields(a, b fields.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}
