package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/gantryhq/gantry/internal/agent/simulate"
)

// forTest is c with its failures reported to t: subtests share one cluster.
func (c *cluster) forTest(t *testing.T) *cluster {
	cc := *c
	cc.t = t
	return &cc
}

// kubectlRun runs kubectl with extra environment and a deadline. It returns the combined
// output, the exit code (-1 if kubectl did not exit by itself) and how long it took.
func (c *cluster) kubectlRun(timeout time.Duration, env []string, args ...string) (string, int, time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	env = append([]string{"KUBECONFIG=" + c.kubeconfig, "HOME=" + c.home()}, env...)
	cmd := gantryCmd(ctx, env, append([]string{"kubectl"}, args...)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0, took
	case ctx.Err() != nil:
		return string(out), -1, took
	case errors.As(err, &exit):
		return string(out), exit.ExitCode(), took
	}
	c.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	return "", 0, 0
}

// lockedBuffer collects a background process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// kubectlBackground starts a long-running kubectl, such as `get -w`, that is killed after at
// most a minute or when the test ends. Its output collects in the returned buffer.
func (c *cluster) kubectlBackground(args ...string) *lockedBuffer {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	out := &lockedBuffer{}
	cmd := gantryCmd(ctx, []string{"KUBECONFIG=" + c.kubeconfig, "HOME=" + c.home()}, append([]string{"kubectl"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return out
}

// columnGap separates the columns of kubectl's tables (cells such as "NOMINATED NODE" contain
// single spaces).
var columnGap = regexp.MustCompile(`\s{2,}`)

// tableRows splits kubectl table output into rows of cells.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			rows = append(rows, columnGap.Split(line, -1))
		}
	}
	return rows
}

// age matches kubectl's AGE cells: 0s, 12s, 3m4s...
var age = regexp.MustCompile(`^([0-9]+[smhdy])+$`)

// rowMatches reports whether row has the cells of want; "AGE" in want matches any age.
func rowMatches(row, want []string) bool {
	if len(row) != len(want) {
		return false
	}
	for i := range want {
		if want[i] == "AGE" && age.MatchString(row[i]) {
			continue
		}
		if row[i] != want[i] {
			return false
		}
	}
	return true
}

// expectTable checks the header of kubectl table output and that it has each of rows.
func expectTable(t *testing.T, out string, header []string, rows ...[]string) {
	t.Helper()
	got := tableRows(out)
	if len(got) == 0 || !slices.Equal(got[0], header) {
		t.Errorf("table header: want %q in\n%s", header, out)
		return
	}
	for _, want := range rows {
		if !slices.ContainsFunc(got[1:], func(row []string) bool { return rowMatches(row, want) }) {
			t.Errorf("table has no row %q:\n%s", want, out)
		}
	}
}

// squashed returns out's lines with each run of blanks made one space, for describe output
// whose alignment depends on the longest label.
func squashed(out string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	return lines
}

func expectLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	lines := squashed(out)
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("%s has no line %q:\n%s", what, w, out)
		}
	}
}

func expectOutput(t *testing.T, cmd, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("kubectl %s printed\n%q\nwant\n%q", cmd, got, want)
	}
}

func deploymentYAML(name string, replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: web
        image: %[3]s
        ports:
        - containerPort: 80
`, name, replicas, image)
}

const settingsAndPodYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: test
---
apiVersion: v1
kind: Pod
metadata:
  name: web-pod
  labels:
    app: web-pod
spec:
  containers:
  - name: web
    image: nginx:1.19.1
`

// TestKubectl drives the server with the built-in kubectl the way a user does, and checks
// what kubectl prints.
func TestKubectl(t *testing.T) {
	c := startCluster(t)
	opts := simulate.DefaultOptions()
	opts.Nodes, opts.PodStartDelay = 2, 0
	runSimulator(t, c, opts)
	ctx := context.Background()
	deps := c.client.AppsV1().Deployments("default")
	getWeb := func(t *testing.T) *appsv1.Deployment {
		t.Helper()
		d, err := deps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	webPod := func(t *testing.T) *corev1.Pod {
		t.Helper()
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "web-pod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	rolledOut := func(k *cluster, name string) {
		k.t.Helper()
		out := k.kubectl("rollout", "status", "deployment/"+name, "--timeout=60s")
		if !strings.Contains(out, "successfully rolled out") {
			k.t.Fatalf("rollout status: %s", out)
		}
	}
	webFile := c.writeFile("web.yaml", deploymentYAML("web", 2, "nginx:1.19.1"))

	t.Run("create -f", func(t *testing.T) {
		k := c.forTest(t)
		file := k.writeFile("settings.yaml", settingsAndPodYAML)
		expectOutput(t, "create -f", k.kubectl("create", "-f", file), "configmap/settings created\npod/web-pod created\n")
		out, err := k.kubectlErr(nil, "create", "-f", file)
		if err == nil {
			t.Fatalf("creating existing objects succeeded:\n%s", out)
		}
		expectLines(t, "create -f of existing objects", out,
			fmt.Sprintf(`Error from server (AlreadyExists): error when creating "%s": configmaps "settings" already exists`, file),
			fmt.Sprintf(`Error from server (AlreadyExists): error when creating "%s": pods "web-pod" already exists`, file))
	})

	t.Run("apply -f", func(t *testing.T) {
		k := c.forTest(t)
		expectOutput(t, "apply -f", k.kubectl("apply", "-f", webFile), "deployment.apps/web created\n")
		expectOutput(t, "apply -f (again)", k.kubectl("apply", "-f", webFile), "deployment.apps/web unchanged\n")
		if got := getWeb(t); got.Annotations[corev1.LastAppliedConfigAnnotation] == "" || got.Generation != 1 {
			t.Errorf("applied deployment: annotations %v generation %d, want last-applied-configuration and 1", got.Annotations, got.Generation)
		}
		changed := k.writeFile("web-3.yaml", deploymentYAML("web", 3, "nginx:1.19.1"))
		expectOutput(t, "apply -f (changed)", k.kubectl("apply", "-f", changed), "deployment.apps/web configured\n")
		if got := getWeb(t); *got.Spec.Replicas != 3 || got.Generation != 2 {
			t.Errorf("after apply: replicas %d generation %d, want 3 and 2", *got.Spec.Replicas, got.Generation)
		}
		expectOutput(t, "apply -f (back)", k.kubectl("apply", "-f", webFile), "deployment.apps/web configured\n")
		if got := getWeb(t); *got.Spec.Replicas != 2 {
			t.Errorf("after applying the first file again: replicas %d, want 2", *got.Spec.Replicas)
		}
		rolledOut(k, "web")
	})

	t.Run("get", func(t *testing.T) {
		k := c.forTest(t)
		eventually(t, "web-pod to run", func() bool { return isReady(webPod(t)) })
		pod := webPod(t)
		expectTable(t, k.kubectl("get", "pods"), []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"},
			[]string{"web-pod", "1/1", "Running", "0", "AGE"})
		expectTable(t, k.kubectl("get", "services"), []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"},
			[]string{"kubernetes", "ClusterIP", "100.65.0.1", "<none>", "443/TCP", "AGE"})
		expectTable(t, k.kubectl("get", "deployments"), []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
			[]string{"web", "2/2", "2", "2", "AGE"})
		expectTable(t, k.kubectl("get", "deploy", "-o", "wide"),
			[]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
			[]string{"web", "2/2", "2", "2", "AGE", "web", "nginx:1.19.1", "app=web"})
		expectTable(t, k.kubectl("get", "po", "-o", "wide"),
			[]string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"},
			[]string{"web-pod", "1/1", "Running", "0", "AGE", pod.Status.PodIP, pod.Spec.NodeName, "<none>", "<none>"})
		expectTable(t, k.kubectl("get", "cm", "settings"), []string{"NAME", "DATA", "AGE"}, []string{"settings", "1", "AGE"})
		expectTable(t, k.kubectl("get", "deploy", "-l", "app=web", "--show-labels"), []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "LABELS"},
			[]string{"web", "2/2", "2", "2", "AGE", "app=web"})
		expectOutput(t, "get -o name", k.kubectl("get", "deploy", "web", "-o", "name"), "deployment.apps/web\n")
		expectOutput(t, "get with no match", k.kubectl("get", "deploy", "-l", "app=none"), "No resources found in default namespace.\n")
		out, err := k.kubectlErr(nil, "get", "deploy", "missing")
		if err == nil || out != "Error from server (NotFound): deployments.apps \"missing\" not found\n" {
			t.Errorf("get of a missing object: %v\n%q", err, out)
		}
	})

	t.Run("output formats", func(t *testing.T) {
		k := c.forTest(t)
		want := getWeb(t)
		var fromYAML, fromJSON appsv1.Deployment
		out := k.kubectl("get", "deploy", "web", "-o", "yaml")
		if !strings.HasPrefix(out, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n") {
			t.Errorf("-o yaml does not start with apiVersion, kind and metadata:\n%s", out)
		}
		if err := yaml.UnmarshalStrict([]byte(out), &fromYAML); err != nil {
			t.Errorf("-o yaml: %v\n%s", err, out)
		}
		out = k.kubectl("get", "deploy", "web", "-o", "json")
		if err := json.Unmarshal([]byte(out), &fromJSON); err != nil {
			t.Errorf("-o json: %v\n%s", err, out)
		}
		for format, got := range map[string]*appsv1.Deployment{"yaml": &fromYAML, "json": &fromJSON} {
			if got.APIVersion != "apps/v1" || got.Kind != "Deployment" || got.Name != "web" || got.UID != want.UID ||
				got.ResourceVersion != want.ResourceVersion || got.Spec.Replicas == nil || *got.Spec.Replicas != 2 ||
				got.Spec.Template.Spec.Containers[0].Image != "nginx:1.19.1" {
				t.Errorf("-o %s: %s %s %s uid %s rv %s spec %+v, want the deployment as stored", format, got.APIVersion, got.Kind, got.Name, got.UID, got.ResourceVersion, got.Spec)
			}
		}
		expectOutput(t, "-o jsonpath", k.kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"), "2")
		expectOutput(t, "-o jsonpath over a list", k.kubectl("get", "pods", "-l", "app=web-pod", "-o", "jsonpath={.items[*].metadata.name} {.items[0].spec.nodeName}"), "web-pod "+webPod(t).Spec.NodeName)
		expectOutput(t, "-o custom-columns", k.kubectl("get", "deploy", "-o", "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas", "--no-headers"), "web   2\n")
	})

	t.Run("describe", func(t *testing.T) {
		k := c.forTest(t)
		describe := k.kubectl("describe", "deployment", "web")
		expectLines(t, "describe deployment", describe,
			"Name: web",
			"Namespace: default",
			"Labels: app=web",
			"Selector: app=web",
			"Replicas: 2 desired | 2 updated | 2 total | 2 available | 0 unavailable",
			"StrategyType: RollingUpdate",
			"MinReadySeconds: 0",
			"RollingUpdateStrategy: 25% max unavailable, 25% max surge",
			"Pod Template:",
			"Containers:",
			"web:",
			"Image: nginx:1.19.1",
			"Port: 80/TCP",
			"Events:",
			"Type Reason Age From Message")
		scaled := regexp.MustCompile(`^Normal ScalingReplicaSet \S+ deployment-controller Scaled up replica set web-[a-z0-9]+ from 0 to 2$`)
		if !slices.ContainsFunc(squashed(describe), scaled.MatchString) {
			t.Errorf("describe deployment shows no ScalingReplicaSet event:\n%s", describe)
		}

		pod, err := c.client.CoreV1().Pods("default").Get(ctx, "web-pod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ev := coreEvent("default", "web-pod.scheduled", "web-pod")
		ev.InvolvedObject.UID = pod.UID
		if _, err := c.client.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		other := coreEvent("default", "other-pod.scheduled", "other-pod")
		other.Message = "not about web-pod"
		if _, err := c.client.CoreV1().Events("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out := k.kubectl("describe", "pod", "web-pod")
		expectLines(t, "describe pod", out,
			"Name: web-pod",
			"Namespace: default",
			"Node: "+pod.Spec.NodeName+"/"+pod.Status.HostIP,
			"Labels: app=web-pod",
			"Status: Running",
			"Containers:",
			"Image: nginx:1.19.1",
			"QoS Class: BestEffort",
			"Events:",
			"Type Reason Age From Message")
		// The pod's events are found with involvedObject field selectors; the other pod's
		// event is not one of them.
		rows := tableRows(out[strings.LastIndex(out, "Events:"):])
		if !slices.ContainsFunc(rows, func(r []string) bool {
			return rowMatches(r, []string{"Normal", "Tested", "AGE", "gantry-test", "hello from the test"})
		}) || strings.Contains(out, "not about web-pod") {
			t.Errorf("describe pod shows the wrong events:\n%s", out)
		}
	})

	t.Run("label and annotate", func(t *testing.T) {
		k := c.forTest(t)
		expectOutput(t, "label", k.kubectl("label", "deployment", "web", "tier=front"), "deployment.apps/web labeled\n")
		expectOutput(t, "annotate", k.kubectl("annotate", "deployment", "web", "owner=team-a"), "deployment.apps/web annotated\n")
		got := getWeb(t)
		if got.Labels["tier"] != "front" || got.Labels["app"] != "web" || got.Annotations["owner"] != "team-a" {
			t.Errorf("labels %v annotations %v, want tier=front and owner=team-a added", got.Labels, got.Annotations)
		}
		expectOutput(t, "label (remove)", k.kubectl("label", "deployment", "web", "tier-"), "deployment.apps/web unlabeled\n")
		if got := getWeb(t); got.Labels["tier"] != "" {
			t.Errorf("labels after removing tier: %v", got.Labels)
		}
		out, err := k.kubectlErr(nil, "label", "deployment", "web", "app=other")
		if err == nil || !strings.Contains(out, "error: 'app' already has a value (web), and --overwrite is false") {
			t.Errorf("label without --overwrite: %v\n%s", err, out)
		}
	})

	t.Run("patch", func(t *testing.T) {
		k := c.forTest(t)
		expectOutput(t, "patch (strategic)", k.kubectl("patch", "deployment", "web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.20"}]}}}}`), "deployment.apps/web patched\n")
		got := getWeb(t)
		if c := got.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Image != "nginx:1.20" || len(c[0].Ports) != 1 {
			t.Errorf("after strategic merge patch: containers %+v, want the one container with the new image and its port", c)
		}
		expectOutput(t, "patch --type=merge", k.kubectl("patch", "deployment", "web", "--type=merge", "-p", `{"metadata":{"labels":{"merged":"yes"}}}`), "deployment.apps/web patched\n")
		expectOutput(t, "patch --type=json", k.kubectl("patch", "deployment", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":4}]`), "deployment.apps/web patched\n")
		got = getWeb(t)
		if got.Labels["merged"] != "yes" || *got.Spec.Replicas != 4 {
			t.Errorf("after merge and json patches: labels %v replicas %d", got.Labels, *got.Spec.Replicas)
		}
		// A patch that changes nothing stores nothing. (A config map: no controller writes it.)
		cms := c.client.CoreV1().ConfigMaps("default")
		before, err := cms.Get(ctx, "settings", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expectOutput(t, "patch (no change)", k.kubectl("patch", "configmap", "settings", "--type=merge", "-p", `{"data":{"mode":"test"}}`), "configmap/settings patched (no change)\n")
		if again, err := cms.Get(ctx, "settings", metav1.GetOptions{}); err != nil || again.ResourceVersion != before.ResourceVersion {
			t.Errorf("a patch without change: %v, resourceVersion from %s to %s", err, before.ResourceVersion, again.ResourceVersion)
		}
		out, err := k.kubectlErr(nil, "patch", "deployment", "web", "--type=json", "-p", `[{"op":"test","path":"/spec/replicas","value":99}]`)
		if err == nil || out != "The request is invalid: the server rejected our request due to an error in our request\n" {
			t.Errorf("failing json patch: %v\n%s", err, out)
		}
	})

	t.Run("scale", func(t *testing.T) {
		k := c.forTest(t)
		expectOutput(t, "scale", k.kubectl("scale", "deployment", "web", "--replicas=3"), "deployment.apps/web scaled\n")
		if got := getWeb(t); *got.Spec.Replicas != 3 {
			t.Errorf("after scale: replicas %d, want 3", *got.Spec.Replicas)
		}
		// With a precondition kubectl reads and writes the scale subresource.
		expectOutput(t, "scale --current-replicas", k.kubectl("scale", "deploy/web", "--current-replicas=3", "--replicas=5"), "deployment.apps/web scaled\n")
		out, err := k.kubectlErr(nil, "scale", "deploy/web", "--current-replicas=9", "--replicas=1")
		if err == nil || out != "error: Expected replicas to be 9, was 5\n" {
			t.Errorf("scale with a wrong precondition: %v\n%q", err, out)
		}
		if got := getWeb(t); *got.Spec.Replicas != 5 {
			t.Errorf("after scale: replicas %d, want 5", *got.Spec.Replicas)
		}
	})

	t.Run("edit", func(t *testing.T) {
		k := c.forTest(t)
		editor := filepath.Join(c.dataDir, "editor.sh")
		script := "#!/bin/sh\nsed -i 's/^  replicas: 5$/  replicas: 7/' \"$1\"\n"
		if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		out, code, _ := k.kubectlRun(time.Minute, []string{"EDITOR=" + editor, "KUBE_EDITOR=" + editor}, "edit", "deployment", "web")
		if code != 0 {
			t.Fatalf("kubectl edit exited %d:\n%s", code, out)
		}
		expectOutput(t, "edit", out, "deployment.apps/web edited\n")
		if got := getWeb(t); *got.Spec.Replicas != 7 {
			t.Errorf("after edit: replicas %d, want 7", *got.Spec.Replicas)
		}
		rolledOut(k, "web")
	})

	t.Run("get -w", func(t *testing.T) {
		k := c.forTest(t)
		deployWatch := k.kubectlBackground("get", "deployment", "web", "--watch")
		podWatch := k.kubectlBackground("get", "pods", "--watch", "--output-watch-events")
		hasRow := func(out *lockedBuffer, want ...string) func() bool {
			return func() bool {
				return slices.ContainsFunc(tableRows(out.String()), func(r []string) bool { return rowMatches(r, want) })
			}
		}
		eventually(t, "kubectl get -w to list the deployment", hasRow(deployWatch, "web", "7/7", "7", "7", "AGE"))
		eventually(t, "kubectl get -w to list the pods", hasRow(podWatch, "ADDED", "web-pod", "1/1", "Running", "0", "AGE"))

		scale, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scale.Spec.Replicas = 6
		if _, err := deps.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := c.client.CoreV1().Pods("default")
		// A scheduler name nobody answers to: the pod stays Pending until it is deleted.
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "watched"}, Spec: testPodSpec("")}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "watched", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "kubectl get -w to show the scaled deployment", hasRow(deployWatch, "web", "6/6", "6", "6", "AGE"))
		eventually(t, "kubectl get -w to show the new pod", hasRow(podWatch, "ADDED", "watched", "0/1", "Pending", "0", "AGE"))
		eventually(t, "kubectl get -w to show the deleted pod", hasRow(podWatch, "DELETED", "watched", "0/1", "Pending", "0", "AGE"))
		if rows := tableRows(deployWatch.String()); !slices.Equal(rows[0], []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}) {
			t.Errorf("kubectl get -w header: %q", rows[0])
		}
	})

	t.Run("explain", func(t *testing.T) {
		k := c.forTest(t)
		out := k.kubectl("explain", "deployment.spec.replicas")
		want := "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nFIELD: replicas <integer>\n"
		if !strings.HasPrefix(out, want) || !strings.Contains(out, "DESCRIPTION:\n    Number of desired pods.") {
			t.Errorf("explain deployment.spec.replicas printed\n%s\nwant it to start with\n%s", out, want)
		}
	})

	t.Run("api-resources", func(t *testing.T) {
		k := c.forTest(t)
		expectTable(t, k.kubectl("api-resources"), []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"},
			[]string{"deployments", "deploy", "apps/v1", "true", "Deployment"},
			[]string{"pods", "po", "v1", "true", "Pod"},
			[]string{"namespaces", "ns", "v1", "false", "Namespace"},
			[]string{"services", "svc", "v1", "true", "Service"},
			[]string{"horizontalpodautoscalers", "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"},
			[]string{"clusterroles", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"})
	})

	t.Run("diff", func(t *testing.T) {
		k := c.forTest(t)
		file := k.writeFile("differ.yaml", deploymentYAML("differ", 2, "nginx:1.19.1"))
		expectOutput(t, "apply -f", k.kubectl("apply", "-f", file), "deployment.apps/differ created\n")
		// Once rolled out, nothing but the diff's dry runs touches the deployment.
		rolledOut(k, "differ")
		out, code, _ := k.kubectlRun(time.Minute, nil, "diff", "-f", file)
		if code != 0 || out != "" {
			t.Errorf("kubectl diff without changes exited %d, want 0 and no output:\n%s", code, out)
		}
		changed := k.writeFile("differ-5.yaml", deploymentYAML("differ", 5, "nginx:1.19.1"))
		out, code, _ = k.kubectlRun(time.Minute, nil, "diff", "-f", changed)
		if code != 1 {
			t.Errorf("kubectl diff with a change exited %d, want 1:\n%s", code, out)
		}
		lines := strings.Split(out, "\n")
		for _, want := range []string{"-  generation: 1", "+  generation: 2", "-  replicas: 2", "+  replicas: 5"} {
			if !slices.Contains(lines, want) {
				t.Errorf("kubectl diff has no line %q:\n%s", want, out)
			}
		}
		if got, _ := deps.Get(ctx, "differ", metav1.GetOptions{}); got == nil || *got.Spec.Replicas != 2 || got.Generation != 1 {
			t.Errorf("kubectl diff changed the deployment: %+v", got)
		}
	})

	t.Run("apply --dry-run=server", func(t *testing.T) {
		k := c.forTest(t)
		before, err := deps.Get(ctx, "differ", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		changed := k.writeFile("differ-9.yaml", deploymentYAML("differ", 9, "nginx:1.19.1"))
		expectOutput(t, "apply --dry-run=server", k.kubectl("apply", "--dry-run=server", "-f", changed), "deployment.apps/differ configured (server dry run)\n")
		fresh := k.writeFile("dry.yaml", deploymentYAML("dry", 1, "nginx:1.19.1"))
		expectOutput(t, "apply --dry-run=server (new)", k.kubectl("apply", "--dry-run=server", "-f", fresh), "deployment.apps/dry created (server dry run)\n")
		after, err := deps.Get(ctx, "differ", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != before.ResourceVersion || *after.Spec.Replicas != 2 {
			t.Errorf("server dry run changed the deployment: resourceVersion %s -> %s, replicas %d", before.ResourceVersion, after.ResourceVersion, *after.Spec.Replicas)
		}
		if _, err := deps.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("server dry run created the deployment: %v", err)
		}
	})

	t.Run("strict field validation", func(t *testing.T) {
		k := c.forTest(t)
		manifest := strings.Replace(deploymentYAML("strict", 1, "nginx:1.19.1"), "spec:\n  replicas: 1\n", "spec:\n  replicas: 1\n  replicaz: 2\n", 1)
		file := k.writeFile("strict.yaml", manifest)
		out, err := k.kubectlErr(nil, "apply", "-f", file)
		want := fmt.Sprintf(`Error from server (BadRequest): error when creating "%s": Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"`+"\n", file)
		if err == nil || out != want {
			t.Errorf("apply with an unknown field: %v\n%q\nwant\n%q", err, out, want)
		}
		if _, err := deps.Get(ctx, "strict", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the deployment with an unknown field was created: %v", err)
		}
	})

	t.Run("create deployment and expose", func(t *testing.T) {
		k := c.forTest(t)
		// kubectl create deployment uses the typed client: a protobuf body.
		expectOutput(t, "create deployment", k.kubectl("create", "deployment", "nginx", "--image=nginx:1.19.1"), "deployment.apps/nginx created\n")
		expectOutput(t, "expose", k.kubectl("expose", "deployment", "nginx", "--port=80", "--type=NodePort"), "service/nginx exposed\n")
		svc, err := c.client.CoreV1().Services("default").Get(ctx, "nginx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !netip.MustParsePrefix("100.65.0.0/16").Contains(ip) || !slices.Equal(svc.Spec.ClusterIPs, []string{svc.Spec.ClusterIP}) {
			t.Errorf("cluster IP %q (IPs %v), want one address in 100.65.0.0/16", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
		}
		if len(svc.Spec.Ports) != 1 {
			t.Fatalf("ports %+v, want one", svc.Spec.Ports)
		}
		p := svc.Spec.Ports[0]
		if p.NodePort < 30000 || p.NodePort > 32767 || p.Port != 80 || p.TargetPort != intstr.FromInt32(80) || p.Protocol != corev1.ProtocolTCP {
			t.Errorf("port %+v, want 80 -> 80/TCP with a node port in 30000-32767", p)
		}
		if svc.Spec.Type != corev1.ServiceTypeNodePort || !maps.Equal(svc.Spec.Selector, map[string]string{"app": "nginx"}) {
			t.Errorf("type %s selector %v, want NodePort and app=nginx", svc.Spec.Type, svc.Spec.Selector)
		}
		expectTable(t, k.kubectl("get", "svc", "nginx"), []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"},
			[]string{"nginx", "NodePort", svc.Spec.ClusterIP, "<none>", fmt.Sprintf("80:%d/TCP", p.NodePort), "AGE"})
		d, err := deps.Get(ctx, "nginx", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Name != "nginx" || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.19.1" {
			t.Errorf("created deployment: %+v", d.Spec)
		}
	})

	t.Run("namespaces", func(t *testing.T) {
		k := c.forTest(t)
		expectOutput(t, "create namespace", k.kubectl("create", "namespace", "x"), "namespace/x created\n")
		expectTable(t, k.kubectl("get", "ns"), []string{"NAME", "STATUS", "AGE"},
			[]string{"default", "Active", "AGE"},
			[]string{"kube-node-lease", "Active", "AGE"},
			[]string{"kube-public", "Active", "AGE"},
			[]string{"kube-system", "Active", "AGE"},
			[]string{"x", "Active", "AGE"})
		expectOutput(t, "create configmap -n x", k.kubectl("create", "configmap", "in-x", "-n", "x", "--from-literal=a=b"), "configmap/in-x created\n")
		expectTable(t, k.kubectl("get", "cm", "-A", "--field-selector", "metadata.name=in-x"), []string{"NAMESPACE", "NAME", "DATA", "AGE"},
			[]string{"x", "in-x", "1", "AGE"})
	})

	t.Run("version", func(t *testing.T) {
		k := c.forTest(t)
		out, err := k.kubectlErr(nil, "version")
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.HasPrefix(l, "Server Version: v1.37.") }) {
			t.Errorf("kubectl version shows no v1.37 server:\n%s", out)
		}
		// The built-in kubectl must know its own version too: without one, kubectl cannot
		// compute the version skew and fails.
		if err != nil || !strings.HasPrefix(out, "Client Version: v1.37.") {
			t.Errorf("kubectl version: %v, want success and a v1.37 client:\n%s", err, out)
		}
		var v struct {
			ServerVersion struct{ Major, Minor, GitVersion string } `json:"serverVersion"`
		}
		out, _ = k.kubectlErr(nil, "version", "-o", "json")
		start, end := strings.Index(out, "{"), strings.LastIndex(out, "}")
		if start < 0 || end < start {
			t.Fatalf("kubectl version -o json printed no JSON:\n%s", out)
		}
		if err := json.Unmarshal([]byte(out[start:end+1]), &v); err != nil || v.ServerVersion.Major != "1" || v.ServerVersion.Minor != "37" {
			t.Errorf("kubectl version -o json: %v, server %+v\n%s", err, v.ServerVersion, out)
		}
	})

	t.Run("delete", func(t *testing.T) {
		k := c.forTest(t)
		// kubectl delete waits, with a watch, until the object is gone.
		out, code, took := k.kubectlRun(30*time.Second, nil, "delete", "deployment", "web")
		if code != 0 {
			t.Fatalf("kubectl delete exited %d after %v:\n%s", code, took, out)
		}
		expectOutput(t, "delete", out, "deployment.apps \"web\" deleted from default namespace\n")
		if took > 10*time.Second {
			t.Errorf("kubectl delete took %v", took)
		}
		expectOutput(t, "delete configmap", k.kubectl("delete", "configmap", "settings"), "configmap \"settings\" deleted from default namespace\n")
		out, err := k.kubectlErr(nil, "get", "deployment", "web")
		if err == nil || out != "Error from server (NotFound): deployments.apps \"web\" not found\n" {
			t.Errorf("get after delete: %v\n%q", err, out)
		}
		out, err = k.kubectlErr(nil, "delete", "deployment", "web")
		if err == nil || out != "Error from server (NotFound): deployments.apps \"web\" not found\n" {
			t.Errorf("second delete: %v\n%q", err, out)
		}
	})
}
