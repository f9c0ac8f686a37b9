package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.19.1"}}},
			},
		},
	}
}

func TestBuiltinObjects(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		got, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
		if got.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace %s phase = %q, want Active", ns, got.Status.Phase)
		}
	}
	svc, err := c.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "100.65.0.1" {
		t.Errorf("kubernetes service cluster IP = %s, want the first service IP 100.65.0.1", svc.Spec.ClusterIP)
	}
	v, err := c.client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Major != "1" || !strings.HasPrefix(v.GitVersion, "v1.37.") {
		t.Errorf("version = %+v, want a v1.37 Kubernetes version", v)
	}
}

func TestDeploymentLifecycle(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	deps := c.client.AppsV1().Deployments("default")

	created, err := deps.Create(ctx, deployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Errorf("create did not fill uid, resourceVersion and creationTimestamp: %+v", created.ObjectMeta)
	}
	if created.Generation != 1 {
		t.Errorf("generation = %d, want 1", created.Generation)
	}
	// Defaults come from Kubernetes itself.
	if got := created.Spec.Template.Spec.Containers[0].ImagePullPolicy; got != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy default = %q, want IfNotPresent", got)
	}
	if created.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy default = %q", created.Spec.Strategy.Type)
	}

	// A label change does not bump generation; a spec change does.
	created.Labels = map[string]string{"tier": "front"}
	updated, err := deps.Update(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Generation != 1 {
		t.Errorf("generation after label change = %d, want 1", updated.Generation)
	}
	updated.Spec.Replicas = ptr.To[int32](5)
	updated, err = deps.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Generation != 2 {
		t.Errorf("generation after spec change = %d, want 2", updated.Generation)
	}

	// A stale resourceVersion is a conflict.
	created.Spec.Replicas = ptr.To[int32](9)
	if _, err := deps.Update(ctx, created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with stale resourceVersion: err = %v, want 409 Conflict", err)
	}

	// The selector must match the template, with Kubernetes' message.
	bad := deployment("bad", 1)
	bad.Spec.Template.Labels = map[string]string{"app": "other"}
	_, err = deps.Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "`selector` does not match template `labels`") {
		t.Errorf("mismatched selector: err = %v, want 422 with the selector message", err)
	}
	// The selector is immutable.
	sel := updated.DeepCopy()
	sel.Spec.Selector.MatchLabels = map[string]string{"app": "web", "x": "y"}
	sel.Spec.Template.Labels = map[string]string{"app": "web", "x": "y"}
	if _, err := deps.Update(ctx, sel, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "field is immutable") {
		t.Errorf("selector change: err = %v, want 422 field is immutable", err)
	}

	// Scale through the subresource.
	scale, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scale.Spec.Replicas != 5 {
		t.Errorf("scale replicas = %d, want 5", scale.Spec.Replicas)
	}
	scale.Spec.Replicas = 3
	if _, err := deps.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := deps.Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.Replicas != 3 || got.Generation != 3 {
		t.Errorf("after scale: replicas %d generation %d, want 3 and 3", *got.Spec.Replicas, got.Generation)
	}

	// Status writes go through the status subresource only.
	got.Status.Replicas = 7
	got.Spec.Replicas = ptr.To[int32](1)
	st, err := deps.UpdateStatus(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Replicas != 7 || *st.Spec.Replicas != 3 {
		t.Errorf("status update: status.replicas %d spec.replicas %d, want 7 and 3 (spec kept)", st.Status.Replicas, *st.Spec.Replicas)
	}
	st.Status.Replicas = 0
	st.Spec.Replicas = ptr.To[int32](4)
	main, err := deps.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if main.Status.Replicas != 7 {
		t.Errorf("main update changed status: %d", main.Status.Replicas)
	}

	// All three patch types.
	patches := []struct {
		pt   types.PatchType
		body string
	}{
		{types.JSONPatchType, `[{"op":"replace","path":"/spec/replicas","value":6}]`},
		{types.MergePatchType, `{"metadata":{"labels":{"merge":"yes"}}}`},
		{types.StrategicMergePatchType, `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.20"}]}}}}`},
	}
	for _, p := range patches {
		if _, err := deps.Patch(ctx, "web", p.pt, []byte(p.body), metav1.PatchOptions{}); err != nil {
			t.Fatalf("%s: %v", p.pt, err)
		}
	}
	got, _ = deps.Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.Replicas != 6 || got.Labels["merge"] != "yes" || got.Spec.Template.Spec.Containers[0].Image != "nginx:1.20" || len(got.Spec.Template.Spec.Containers) != 1 {
		t.Errorf("patches not applied as Kubernetes would: %+v", got.Spec)
	}
	// A patch that does not apply is a 422, and changes nothing.
	_, err = deps.Patch(ctx, "web", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":99}]`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("failing json patch: err = %v, want 422", err)
	}

	// Dry run changes nothing.
	if _, err := deps.Create(ctx, deployment("dry", 1), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run create was stored: %v", err)
	}

	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	_, err := c.client.CoreV1().ConfigMaps("missing").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "missing" not found`) {
		t.Errorf("create in missing namespace: %v", err)
	}
	if err := c.client.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting default: %v, want 403", err)
	}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.client.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err == nil {
		if ns.Status.Phase != corev1.NamespaceTerminating {
			t.Errorf("deleted namespace phase = %q, want Terminating", ns.Status.Phase)
		}
		_, err = c.client.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "because it is being terminated") {
			t.Errorf("create in terminating namespace: %v", err)
		}
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestServiceAllocation(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	svcs := c.client.CoreV1().Services("default")
	seenIPs := map[string]bool{}
	seenPorts := map[int32]bool{}
	for i := 0; i < 20; i++ {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "svc-"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}
		got, err := svcs.Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip, port := got.Spec.ClusterIP, got.Spec.Ports[0].NodePort
		if !strings.HasPrefix(ip, "100.65.") || seenIPs[ip] {
			t.Errorf("cluster IP %q is outside the service CIDR or handed out twice", ip)
		}
		if port < 30000 || port > 32767 || seenPorts[port] {
			t.Errorf("node port %d is outside 30000-32767 or handed out twice", port)
		}
		seenIPs[ip], seenPorts[port] = true, true
	}
	// Asking for a taken IP is a 422 that says so.
	taken := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "taken"},
		Spec: corev1.ServiceSpec{ClusterIP: "100.65.0.1", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := svcs.Create(ctx, taken, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Errorf("taken cluster IP: %v", err)
	}
	// Deleting frees the IP for reuse.
	fixed := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "fixed"},
		Spec: corev1.ServiceSpec{ClusterIP: "100.65.3.3", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := svcs.Create(ctx, fixed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx, "fixed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	fixed.ResourceVersion = ""
	if _, err := svcs.Create(ctx, fixed, metav1.CreateOptions{}); err != nil {
		t.Errorf("recreate with a freed IP: %v", err)
	}
}

// rawRequest sends a request with the admin credentials and returns the status code and the
// decoded metav1.Status.
func (c *cluster) rawRequest(method, path, contentType string, body []byte) (int, metav1.Status) {
	c.t.Helper()
	rc, err := restClient(c)
	if err != nil {
		c.t.Fatal(err)
	}
	path, query, _ := strings.Cut(path, "?")
	req := rc.Verb(method).AbsPath(path).Body(body)
	if query != "" {
		k, v, _ := strings.Cut(query, "=")
		req.Param(k, v)
	}
	if contentType != "" {
		req.SetHeader("Content-Type", contentType)
	}
	res := req.Do(context.Background())
	var code int
	res.StatusCode(&code)
	raw, _ := res.Raw()
	var st metav1.Status
	json.Unmarshal(raw, &st)
	var se *apierrors.StatusError
	if errors.As(res.Error(), &se) {
		st = se.ErrStatus
	}
	return code, st
}

func TestBadInput(t *testing.T) {
	c := startCluster(t)
	cases := []struct {
		name, method, path, ct, body string
		code                         int
	}{
		{"malformed json", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"metadata":`, http.StatusBadRequest},
		{"malformed yaml", "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", "metadata: [\n", http.StatusBadRequest},
		{"wrong kind", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, http.StatusBadRequest},
		{"unknown field strict", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"bogus":1}`, http.StatusBadRequest},
		{"invalid name", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`, http.StatusUnprocessableEntity},
		{"too large", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"data":{"x":"` + strings.Repeat("a", 3*1024*1024+10) + `"}}`, http.StatusRequestEntityTooLarge},
		{"unsupported media", "POST", "/api/v1/namespaces/default/configmaps", "text/plain", `hello`, http.StatusUnsupportedMediaType},
		{"bad merge patch", "PATCH", "/api/v1/namespaces/default/services/kubernetes", "application/merge-patch+json", `{not json`, http.StatusBadRequest},
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", ``, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, st := c.rawRequest(tc.method, tc.path, tc.ct, []byte(tc.body))
			if code != tc.code {
				t.Errorf("code = %d, want %d (status %+v)", code, tc.code, st)
			}
			if st.Kind != "Status" && st.Message == "" {
				t.Errorf("answer is not a metav1.Status: %+v", st)
			}
		})
	}
	// Nothing half-written.
	cms, err := c.client.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		// kube-root-ca.crt is the rootcacert controller's, in every namespace.
		if cm.Name != "kube-root-ca.crt" {
			t.Errorf("bad requests left configmap %s behind", cm.Name)
		}
	}
}

// TestExpiredContinue checks that a continue token whose revision was compacted gets a 410 with
// a token that goes on from the same place at the latest revision, as in Kubernetes.
func TestExpiredContinue(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	secrets := c.client.CoreV1().Secrets("default")
	for i := 0; i < 6; i++ {
		if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := secrets.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s9"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.server.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.List(ctx, metav1.ListOptions{Limit: 2, Continue: first.Continue})
	status, ok := err.(apierrors.APIStatus)
	if !apierrors.IsResourceExpired(err) || !ok || status.Status().ListMeta.Continue == "" {
		t.Fatalf("continue after compaction: %v, want 410 with a continue token", err)
	}
	var rest []string
	cont := status.Status().ListMeta.Continue
	for cont != "" {
		page, err := secrets.List(ctx, metav1.ListOptions{Limit: 2, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Items {
			rest = append(rest, s.Name)
		}
		cont = page.Continue
	}
	// The inconsistent remainder includes what was created after the first page.
	if fmt.Sprint(rest) != "[s2 s3 s4 s5 s9]" {
		t.Errorf("remainder = %v, want [s2 s3 s4 s5 s9]", rest)
	}
}

// warningCollector records the Warning headers the server sends.
type warningCollector struct{ got []string }

func (w *warningCollector) HandleWarningHeader(code int, agent, text string) {
	w.got = append(w.got, text)
}

// TestFieldValidationWarn checks that fieldValidation=Warn accepts an unknown field and says so
// in a Warning header, and that Ignore drops it silently.
func TestFieldValidationWarn(t *testing.T) {
	c := startCluster(t)
	warnings := &warningCollector{}
	cfg := rest.CopyConfig(c.config)
	cfg.WarningHandler = warnings
	rc, err := restClient(&cluster{t: t, config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"bogus":1}`)
	if err := rc.Post().AbsPath("/api/v1/namespaces/default/configmaps").Param("fieldValidation", "Warn").
		SetHeader("Content-Type", "application/json").Body(body).Do(context.Background()).Error(); err != nil {
		t.Fatalf("Warn: %v", err)
	}
	if len(warnings.got) != 1 || !strings.Contains(warnings.got[0], `unknown field "bogus"`) {
		t.Errorf("warnings = %q, want one about the unknown field", warnings.got)
	}
	warnings.got = nil
	body = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"i"},"bogus":1}`)
	if err := rc.Post().AbsPath("/api/v1/namespaces/default/configmaps").Param("fieldValidation", "Ignore").
		SetHeader("Content-Type", "application/json").Body(body).Do(context.Background()).Error(); err != nil {
		t.Fatalf("Ignore: %v", err)
	}
	if len(warnings.got) != 0 {
		t.Errorf("Ignore sent warnings %q", warnings.got)
	}
}

// TestPrivilegedPods: privileged containers are admitted, as on kubeadm and k3s clusters
// (Kubernetes' own conformance tests create them).
func TestPrivilegedPods(t *testing.T) {
	c := startCluster(t)
	spec := testPodSpec("")
	spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a privileged pod: %v", err)
	}
}
