package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// testPod is a pod running the test image with args.
func testPod(name string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "main", Image: testImage, Args: args,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
}

func (s *server) create(ns string, pod *corev1.Pod) {
	s.t.Helper()
	if _, err := s.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		s.t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

// get fetches url from the host and returns the body; errors are returned, not fatal.
func get(url string) (string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(body), err
}

// The seed's Deployment: three replicas of the test HTTP image become Ready, each on its own
// pod IP, and each answers with its own hostname (its pod name).
func TestDeploymentServesHostnames(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("deploy")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: testImage, Args: []string{"serve"},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}
	if _, err := s.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=120s")
	pods, err := s.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]bool{}
	for _, p := range pods.Items {
		if p.Status.PodIP == "" || ips[p.Status.PodIP] {
			t.Fatalf("pod %s has IP %q (seen: %v)", p.Name, p.Status.PodIP, ips)
		}
		ips[p.Status.PodIP] = true
		body, err := get("http://" + p.Status.PodIP + ":8080/")
		if err != nil {
			t.Fatalf("GET pod %s: %v", p.Name, err)
		}
		if strings.TrimSpace(body) != p.Name {
			t.Errorf("pod %s at %s answered %q, want its own name", p.Name, p.Status.PodIP, body)
		}
		if p.Status.QOSClass != corev1.PodQOSBestEffort || p.Status.HostIP != "127.0.0.1" {
			t.Errorf("pod %s: qosClass %q hostIP %q", p.Name, p.Status.QOSClass, p.Status.HostIP)
		}
	}
	if len(ips) != 3 {
		t.Fatalf("%d pods, want 3", len(ips))
	}
}

// A container whose liveness endpoint turns unhealthy is killed and restarted, with the
// kubelet's events.
func TestLivenessRestart(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("liveness")
	pod := testPod("live", "serve")
	pod.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds:    1,
		FailureThreshold: 2,
	}
	s.create(ns, pod)
	p := s.waitReady(ns, "live")
	first := p.Status.ContainerStatuses[0].ContainerID
	// Ready before its server listens (the probe is only for liveness): retry until it answers.
	eventually(t, 30*time.Second, "the container made unhealthy", func() bool {
		_, err := get("http://" + p.Status.PodIP + ":8080/fail")
		return err == nil
	})
	eventually(t, 60*time.Second, "the container restarted", func() bool {
		statuses := s.pod(ns, "live").Status.ContainerStatuses
		if len(statuses) == 0 {
			return false
		}
		cs := statuses[0]
		return cs.RestartCount == 1 && cs.ContainerID != first && cs.State.Running != nil
	})
	s.waitReady(ns, "live")
	events := s.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=live")
	for _, want := range []string{"Liveness probe failed", "failed liveness probe, will be restarted", "Started"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q:\n%s", want, events)
		}
	}
}

// A container that keeps exiting goes into CrashLoopBackOff, its restarts waiting 10 s, then
// 20 s, as the kubelet's back-off; lastState keeps its exit code.
func TestCrashLoopBackOff(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("crash")
	s.create(ns, testPod("crash", "crash", "--code", "3"))
	var cs corev1.ContainerStatus
	backoffs := map[string]bool{}
	re := regexp.MustCompile(`back-off (\S+) restarting failed container=main pod=crash_crash`)
	eventually(t, 90*time.Second, "back-offs of 10s and 20s", func() bool {
		statuses := s.pod(ns, "crash").Status.ContainerStatuses
		if len(statuses) == 0 {
			return false
		}
		cs = statuses[0]
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			if m := re.FindStringSubmatch(w.Message); m != nil {
				backoffs[m[1]] = true
			}
		}
		return backoffs["10s"] && backoffs["20s"]
	})
	if cs.RestartCount < 2 {
		t.Errorf("restartCount %d, want at least 2", cs.RestartCount)
	}
	last := cs.LastTerminationState.Terminated
	if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
		t.Errorf("lastState %+v, want terminated with exit code 3 (Error)", cs.LastTerminationState)
	}
	if p := s.pod(ns, "crash"); p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running (restartPolicy Always)", p.Status.Phase)
	}
}

// A container over its memory limit is killed by the kernel and reported OOMKilled; with
// restartPolicy Never the pod fails.
func TestOOMKilled(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("oom")
	pod := testPod("hog", "hog")
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
	}
	s.create(ns, pod)
	eventually(t, 90*time.Second, "the hog OOMKilled", func() bool {
		p := s.pod(ns, "hog")
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		term := p.Status.ContainerStatuses[0].State.Terminated
		return term != nil && term.Reason == "OOMKilled" && term.ExitCode == 137 && p.Status.Phase == corev1.PodFailed
	})
}

// exec, logs -f, cp and port-forward through the API server with the built-in kubectl.
func TestKubectlDayTwo(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("daytwo")
	s.create(ns, testPod("box", "serve"))
	s.waitReady(ns, "box")

	if out := s.kubectl("exec", "-n", ns, "box", "--", "cat", "/etc/hostname"); strings.TrimSpace(out) != "box" {
		t.Errorf("exec cat /etc/hostname = %q, want box", out)
	}
	if out, err := s.kubectlErr(nil, "exec", "-n", ns, "box", "--", "sh", "-c", "exit 7"); err == nil {
		t.Errorf("exec of a failing command succeeded: %s", out)
	}
	if out := s.kubectl("exec", "-i", "-n", ns, "box", "--", "cat"); out != "" {
		t.Errorf("exec -i cat with no input = %q", out)
	}

	// logs -f streams until stopped; the server logs a line on start.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := s.kubectlCmd(ctx, "logs", "-f", "-n", ns, "box")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := stdout.Read(buf)
	if err != nil || n == 0 {
		t.Errorf("logs -f printed nothing: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if out := s.kubectl("logs", "-n", ns, "box", "--tail=1", "--timestamps"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT`).MatchString(out) {
		t.Errorf("logs --timestamps = %q", out)
	}

	// cp a file in and out.
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello from the host\n"), 0o644)
	s.kubectl("cp", src, ns+"/box:/tmp/hello.txt")
	if out := s.kubectl("exec", "-n", ns, "box", "--", "cat", "/tmp/hello.txt"); out != "hello from the host\n" {
		t.Errorf("file copied in reads %q", out)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	s.kubectl("cp", ns+"/box:/tmp/hello.txt", back)
	if data, _ := os.ReadFile(back); string(data) != "hello from the host\n" {
		t.Errorf("file copied out reads %q", data)
	}

	// top: the agents' CRI stats through metrics.k8s.io.
	eventually(t, 30*time.Second, "kubectl top pod box", func() bool {
		out, err := s.kubectlErr(nil, "top", "pod", "-n", ns, "box")
		return err == nil && regexp.MustCompile(`(?m)^box\s+\d+m\s+\d+Mi`).MatchString(out)
	})
	if out := s.kubectl("top", "node"); !strings.Contains(out, s.node) || !strings.Contains(out, "%") {
		t.Errorf("kubectl top node:\n%s", out)
	}

	// port-forward a local port to the pod's 8080.
	local := freePort(t)
	pf := s.kubectlCmd(ctx, "port-forward", "-n", ns, "pod/box", fmt.Sprintf("%d:8080", local))
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pf.Process.Kill()
		pf.Wait()
	}()
	var body string
	eventually(t, 20*time.Second, "an answer through port-forward", func() bool {
		body, err = get(fmt.Sprintf("http://127.0.0.1:%d/", local))
		return err == nil
	})
	if strings.TrimSpace(body) != "box" {
		t.Errorf("port-forward answered %q, want box", body)
	}
}

// A ConfigMap mounted as a volume: an update reaches the file in the running container.
func TestConfigMapUpdateReachesFile(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("configmap")
	cms := s.client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf"}, Data: map[string]string{"greeting": "hello"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := testPod("reader", "serve")
	pod.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/conf"}}
	s.create(ns, pod)
	p := s.waitReady(ns, "reader")
	read := func() string {
		body, _ := get("http://" + p.Status.PodIP + ":8080/file?path=/etc/conf/greeting")
		return body
	}
	// The pod is Ready as soon as it runs (no probe): the server may still be starting.
	eventually(t, 30*time.Second, "the mounted file reading hello", func() bool { return read() == "hello" })
	cm.Data["greeting"] = "bonjour"
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the update in the mounted file", func() bool { return read() == "bonjour" })
}

// Data written to a PersistentVolumeClaim of the default class (local-path) outlives the pod.
func TestPersistentVolumeSurvivesPodDeletion(t *testing.T) {
	s := cluster(t)
	ns := s.namespace("pvc")
	_, err := s.client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withClaim := func(name string) *corev1.Pod {
		pod := testPod(name, "serve")
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		return pod
	}
	s.create(ns, withClaim("writer"))
	s.waitReady(ns, "writer")
	src := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(src, []byte("kept\n"), 0o644)
	s.kubectl("cp", src, ns+"/writer:/data/note.txt")
	s.kubectl("delete", "pod", "-n", ns, "writer", "--wait=true")

	s.create(ns, withClaim("reader"))
	s.waitReady(ns, "reader")
	if out := s.kubectl("exec", "-n", ns, "reader", "--", "cat", "/data/note.txt"); out != "kept\n" {
		t.Errorf("the new pod reads %q from the claim, want the old pod's file", out)
	}
}
