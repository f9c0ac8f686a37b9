package scheduler

import (
	"errors"
	"testing"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

func pdb(name string, allowed int32, kv ...string) *policyv1.PodDisruptionBudget {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: m}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

func TestPreempt(t *testing.T) {
	small := func(name string) *st.NodeWrapper { return st.Node(name).Capacity("4", "8Gi", "110") }
	tests := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		pdbs  []*policyv1.PodDisruptionBudget
		pod   *st.PodWrapper
		// wantNode/wantVictims describe the candidate; wantMsg the message when there is none.
		wantNode       string
		wantVictims    []string
		wantViolations int
		wantMsg        string
	}{
		{
			name:  "reprieve the most important pods: the lowest-priority ones go",
			nodes: nodeList(small("a")),
			pods: podList(
				st.Pod("p1").Node("a").Req("1", "").Priority(1),
				st.Pod("p2").Node("a").Req("1", "").Priority(2),
				st.Pod("p3").Node("a").Req("2", "").Priority(3),
			),
			pod:         st.Pod("vip").Req("2", "").Priority(10),
			wantNode:    "a",
			wantVictims: []string{"p2", "p1"},
		},
		{
			name:  "only as many victims as needed",
			nodes: nodeList(small("a")),
			pods: podList(
				st.Pod("p1").Node("a").Req("1", "").Priority(1),
				st.Pod("p2").Node("a").Req("1", "").Priority(1).StartTime(10),
				st.Pod("p3").Node("a").Req("1", "").Priority(1).StartTime(20),
				st.Pod("p4").Node("a").Req("1", "").Priority(1).StartTime(30),
			),
			pod:         st.Pod("vip").Req("1", "").Priority(10),
			wantNode:    "a",
			wantVictims: []string{"p4"}, // the youngest of equals goes; older ones are reprieved first
		},
		{
			name:  "higher or equal priority pods are never victims",
			nodes: nodeList(small("a")),
			pods: podList(
				st.Pod("p1").Node("a").Req("2", "").Priority(10),
				st.Pod("p2").Node("a").Req("2", "").Priority(20),
			),
			pod:     st.Pod("vip").Req("1", "").Priority(10),
			wantMsg: "0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:  "the node whose most important victim matters least",
			nodes: nodeList(small("a"), small("b")),
			pods: podList(
				st.Pod("a1").Node("a").Req("4", "").Priority(5),
				st.Pod("b1").Node("b").Req("4", "").Priority(1),
			),
			pod:         st.Pod("vip").Req("2", "").Priority(10),
			wantNode:    "b",
			wantVictims: []string{"b1"},
		},
		{
			name:  "fewer victims when priorities tie",
			nodes: nodeList(small("a"), small("b")),
			pods: podList(
				st.Pod("a1").Node("a").Req("2", "").Priority(1), st.Pod("a2").Node("a").Req("2", "").Priority(1),
				st.Pod("b1").Node("b").Req("4", "").Priority(1),
			),
			pod:         st.Pod("vip").Req("4", "").Priority(10),
			wantNode:    "b",
			wantVictims: []string{"b1"},
		},
		{
			name:  "a PodDisruptionBudget steers preemption to another node",
			nodes: nodeList(small("a"), small("b")),
			pods: podList(
				st.Pod("guarded").Node("a").Req("4", "").Priority(1).Label("app", "db"),
				st.Pod("free").Node("b").Req("4", "").Priority(1).Label("app", "batch"),
			),
			pdbs:        []*policyv1.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			pod:         st.Pod("vip").Req("4", "").Priority(10),
			wantNode:    "b",
			wantVictims: []string{"free"},
		},
		{
			name:     "a budget with disruptions left is no obstacle",
			nodes:    nodeList(small("a")),
			pods:     podList(st.Pod("guarded").Node("a").Req("4", "").Priority(1).Label("app", "db")),
			pdbs:     []*policyv1.PodDisruptionBudget{pdb("db", 1, "app", "db")},
			pod:      st.Pod("vip").Req("4", "").Priority(10),
			wantNode: "a", wantVictims: []string{"guarded"},
		},
		{
			name:     "the budget is violated only when nothing else works, and the victim is marked",
			nodes:    nodeList(small("a")),
			pods:     podList(st.Pod("guarded").Node("a").Req("4", "").Priority(1).Label("app", "db")),
			pdbs:     []*policyv1.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			pod:      st.Pod("vip").Req("4", "").Priority(10),
			wantNode: "a", wantVictims: []string{"guarded"}, wantViolations: 1,
		},
		{
			name:  "prefer reprieving budget-protected pods on the same node",
			nodes: nodeList(small("a")),
			pods: podList(
				st.Pod("guarded").Node("a").Req("2", "").Priority(1).Label("app", "db"),
				st.Pod("plain").Node("a").Req("2", "").Priority(1),
			),
			pdbs:     []*policyv1.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			pod:      st.Pod("vip").Req("2", "").Priority(10),
			wantNode: "a", wantVictims: []string{"plain"},
		},
		{
			name:    "a request larger than any node: preemption is not helpful",
			nodes:   nodeList(small("a")),
			pods:    podList(st.Pod("x").Node("a").Req("1", "").Priority(1)),
			pod:     st.Pod("vip").Req("8", "").Priority(10),
			wantMsg: "0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:     "evicting a pod whose anti-affinity repels the preemptor",
			nodes:    nodeList(small("a").Zone("z")),
			pods:     podList(st.Pod("hermit").Node("a").Priority(1).AntiAffinity(v1.LabelTopologyZone, "app", "web")),
			pod:      st.Pod("vip").Label("app", "web").Priority(10),
			wantNode: "a", wantVictims: []string{"hermit"},
		},
		{
			name:  "a victim of an earlier preemption is still terminating on the nominated node",
			nodes: nodeList(small("a")),
			pods: podList(func() *st.PodWrapper {
				p := st.Pod("leaving").Node("a").Req("4", "").Priority(1).Terminating()
				p.Status.Conditions = []v1.PodCondition{{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler}}
				return p
			}()),
			pod:     st.Pod("vip").Req("4", "").Priority(10).NominatedNode("a"),
			wantMsg: "not eligible due to a terminating pod on the nominated node.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := st.Snapshot(tc.nodes, tc.pods)
			a := NewAlgorithm()
			pod := tc.pod.Info()
			_, err := a.Schedule(pod, snap, nil)
			var fe *framework.FitError
			if !errors.As(err, &fe) {
				t.Fatalf("Schedule: %v, want a FitError", err)
			}
			cand, msg := a.Preempt(pod, snap, nil, fe, tc.pdbs)
			if tc.wantMsg != "" {
				if cand != nil || msg != tc.wantMsg {
					t.Fatalf("got candidate %v, message %q; want %q", cand, msg, tc.wantMsg)
				}
				return
			}
			if cand == nil {
				t.Fatalf("no candidate: %s", msg)
			}
			var victims []string
			for _, v := range cand.Victims {
				victims = append(victims, v.Pod.Name)
			}
			if cand.Node != tc.wantNode || !equal(victims, tc.wantVictims) || cand.NumPDBViolations != tc.wantViolations {
				t.Errorf("got node %s victims %v (%d violations), want %s %v (%d)", cand.Node, victims, cand.NumPDBViolations, tc.wantNode, tc.wantVictims, tc.wantViolations)
			}
			violating := 0
			for _, v := range cand.Violating {
				if v {
					violating++
				}
			}
			if violating != cand.NumPDBViolations {
				t.Errorf("%d victims marked violating, %d violations", violating, cand.NumPDBViolations)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
