package scheduler

import (
	"errors"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

func nodeList(ns ...*st.NodeWrapper) []*v1.Node {
	var out []*v1.Node
	for _, n := range ns {
		out = append(out, n.Obj())
	}
	return out
}

func podList(ps ...*st.PodWrapper) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range ps {
		out = append(out, p.Obj())
	}
	return out
}

// scheduleAndPreempt runs a full decision as the scheduler does and returns the node or the
// FailedScheduling message.
func scheduleAndPreempt(a *Algorithm, snap *framework.Snapshot, pod *framework.PodInfo) (string, error) {
	res, err := a.Schedule(pod, snap, nil)
	var fe *framework.FitError
	if errors.As(err, &fe) {
		_, msg := a.Preempt(pod, snap, nil, fe, nil)
		fe.Diagnosis.PostFilterMsg = "preemption: " + msg
	}
	return res.Node, err
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []*v1.Node
		pods    []*v1.Pod
		pod     *st.PodWrapper
		want    string // node, or the error message
		wantErr bool
	}{
		{
			name:  "only one node passes the filters",
			nodes: nodeList(st.Node("a").Taint("k", "v", v1.TaintEffectNoSchedule), st.Node("b").Unschedulable(), st.Node("c")),
			pod:   st.Pod("p"),
			want:  "c",
		},
		{
			name:  "the least allocated node wins",
			nodes: nodeList(st.Node("a"), st.Node("b"), st.Node("c")),
			pods:  podList(st.Pod("x").Node("a").Req("2", "2Gi"), st.Pod("y").Node("c").Req("1", "1Gi")),
			pod:   st.Pod("p").Req("500m", "512Mi"),
			want:  "b",
		},
		{
			name:  "a PreferNoSchedule taint outweighs free capacity",
			nodes: nodeList(st.Node("a").Taint("k", "v", v1.TaintEffectPreferNoSchedule), st.Node("b")),
			pods:  podList(st.Pod("x").Node("b").Req("1", "1Gi")),
			pod:   st.Pod("p"),
			want:  "b",
		},
		{
			name:    "no node at all",
			pod:     st.Pod("p"),
			want:    "no nodes available to schedule pods",
			wantErr: true,
		},
		{
			name:    "insufficient cpu everywhere, nothing to preempt",
			nodes:   nodeList(st.Node("a").Capacity("1", "1Gi", "10"), st.Node("b").Capacity("1", "1Gi", "10"), st.Node("c").Capacity("1", "1Gi", "10")),
			pods:    podList(st.Pod("x").Node("a").Req("500m", ""), st.Pod("y").Node("b").Req("500m", ""), st.Pod("z").Node("c").Req("500m", "")),
			pod:     st.Pod("p").Req("800m", ""),
			want:    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
			wantErr: true,
		},
		{
			name: "mixed reasons are counted and sorted",
			nodes: nodeList(
				st.Node("a").Taint("k", "v", v1.TaintEffectNoSchedule),
				st.Node("b").Label("disk", "hdd"),
				st.Node("c").Label("disk", "ssd").Capacity("1", "1Gi", "10")),
			pod:     st.Pod("p").Req("2", "").NodeSelector("disk", "ssd"),
			want:    "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s). preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
			wantErr: true,
		},
		{
			name:    "a node that is not Ready reads as upstream's not-ready taint",
			nodes:   nodeList(st.Node("a").Ready(v1.ConditionFalse)),
			pod:     st.Pod("p"),
			want:    "0/1 nodes are available: 1 node(s) had untolerated taint(s). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
			wantErr: true,
		},
		{
			name:    "too many pods",
			nodes:   nodeList(st.Node("a").Capacity("4", "8Gi", "1")),
			pods:    podList(st.Pod("x").Node("a")),
			pod:     st.Pod("p"),
			want:    "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
			wantErr: true,
		},
		{
			name:    "preemptionPolicy Never",
			nodes:   nodeList(st.Node("a").Capacity("1", "1Gi", "10")),
			pods:    podList(st.Pod("x").Node("a").Req("1", "")),
			pod:     st.Pod("p").Req("1", "").Priority(100).PreemptNever(),
			want:    "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
			wantErr: true,
		},
		{
			name:    "preemption finds a victim",
			nodes:   nodeList(st.Node("a").Capacity("1", "1Gi", "10")),
			pods:    podList(st.Pod("x").Node("a").Req("1", "")),
			pod:     st.Pod("p").Req("1", "").Priority(100),
			want:    "0/1 nodes are available: 1 Insufficient cpu. preemption: found a potential placement for pod on node a, preempting 1 victims",
			wantErr: true,
		},
		{
			name:  "a nominated node that fits is taken first",
			nodes: nodeList(st.Node("a"), st.Node("b").Capacity("8", "16Gi", "110")),
			pod:   st.Pod("p").NominatedNode("a"),
			want:  "a",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := st.Snapshot(tc.nodes, tc.pods)
			node, err := scheduleAndPreempt(NewAlgorithm(), snap, tc.pod.Info())
			got := node
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got  %q (err %v)\nwant %q", got, err, tc.want)
			}
		})
	}
}

// Assuming each placed pod, replicas of one owner spread evenly, and so do pods under a
// hard zone spread constraint.
func TestScheduleSpreads(t *testing.T) {
	t.Run("default spreading of an owner's replicas", func(t *testing.T) {
		snap := st.Snapshot(nodeList(st.Node("a"), st.Node("b"), st.Node("c")), nil)
		counts := placeAll(t, snap, 9, func(i int) *st.PodWrapper { return st.Pod(fmt.Sprint("r", i)).Owner("rs") })
		if counts["a"] != 3 || counts["b"] != 3 || counts["c"] != 3 {
			t.Errorf("placements %v, want 3 each", counts)
		}
	})
	t.Run("zone spread constraint", func(t *testing.T) {
		snap := st.Snapshot(nodeList(st.Node("a1").Zone("a"), st.Node("a2").Zone("a"), st.Node("a3").Zone("a"), st.Node("b1").Zone("b")), nil)
		byNode := placeAll(t, snap, 6, func(i int) *st.PodWrapper {
			return st.Pod(fmt.Sprint("w", i)).Label("app", "web").Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web")
		})
		if zoneB := byNode["b1"]; zoneB != 3 {
			t.Errorf("zone b got %d of 6 pods (%v), want 3", zoneB, byNode)
		}
	})
}

func placeAll(t *testing.T, snap *framework.Snapshot, n int, pod func(i int) *st.PodWrapper) map[string]int {
	t.Helper()
	a := NewAlgorithm()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		p := pod(i).Obj()
		res, err := a.Schedule(framework.NewPendingPodInfo(p, 0), snap, nil)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		p.Spec.NodeName = res.Node
		snap.AddPod(framework.NewPodInfo(p, 0))
		counts[res.Node]++
	}
	return counts
}

func TestScheduleSamplesLargeClusters(t *testing.T) {
	var ns []*v1.Node
	for i := 0; i < 2000; i++ {
		ns = append(ns, st.Node(fmt.Sprintf("n%04d", i)).Obj())
	}
	snap := st.Snapshot(ns, nil)
	a := NewAlgorithm()
	res, err := a.Schedule(st.Pod("p").Info(), snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 50% - 2000/125 = 34% of 2000 nodes.
	if res.Evaluated != 680 || res.Feasible != 680 {
		t.Errorf("evaluated %d, feasible %d; want 680", res.Evaluated, res.Feasible)
	}
	if a.nextStart != 680 {
		t.Errorf("next search starts at %d, want 680", a.nextStart)
	}
	// All of them: one batch, filtered and scored in parallel.
	a.PercentageOfNodesToScore, a.Parallelism = 100, 4
	if res, _ := a.Schedule(st.Pod("q").Info(), snap, nil); res.Evaluated != 2000 || res.Feasible != 2000 {
		t.Errorf("with 100%% evaluated %d", res.Evaluated)
	}
}

// The same inputs always give the same placement.
func TestScheduleIsDeterministic(t *testing.T) {
	build := func() *framework.Snapshot {
		var ns []*v1.Node
		for i := 0; i < 300; i++ {
			ns = append(ns, st.Node(fmt.Sprintf("n%03d", i)).Zone(fmt.Sprint("z", i%3)).Obj())
		}
		return st.Snapshot(ns, nil)
	}
	run := func() []string {
		snap, a := build(), NewAlgorithm()
		var out []string
		for i := 0; i < 50; i++ {
			p := st.Pod(fmt.Sprint("p", i)).Owner("rs").Req("100m", "100Mi").Obj()
			res, err := a.Schedule(framework.NewPendingPodInfo(p, 0), snap, nil)
			if err != nil {
				t.Fatal(err)
			}
			p.Spec.NodeName = res.Node
			snap.AddPod(framework.NewPodInfo(p, 0))
			out = append(out, res.Node)
		}
		return out
	}
	if a, b := fmt.Sprint(run()), fmt.Sprint(run()); a != b {
		t.Errorf("two runs differ:\n%s\n%s", a, b)
	}
}

// Room made by preemption is kept for the nominated pod: a lower-priority pod may not take it.
func TestNominatedPodsHoldTheirRoom(t *testing.T) {
	snap := st.Snapshot(nodeList(st.Node("a").Capacity("2", "4Gi", "10")), nil)
	nominee := st.Pod("vip").Req("2", "").Priority(100).NominatedNode("a").Info()
	nominated := func(node string) []*framework.PodInfo {
		if node == "a" {
			return []*framework.PodInfo{nominee}
		}
		return nil
	}
	a := NewAlgorithm()
	if _, err := a.Schedule(st.Pod("low").Req("1", "").Info(), snap, nominated); err == nil {
		t.Error("a lower-priority pod took the nominated room")
	}
	if res, err := a.Schedule(st.Pod("high").Req("1", "").Priority(200).Info(), snap, nominated); err != nil || res.Node != "a" {
		t.Errorf("a higher-priority pod should pass the nominee: %v %v", res, err)
	}
	if res, err := a.Schedule(nominee, snap, nominated); err != nil || res.Node != "a" {
		t.Errorf("the nominee itself should fit: %v %v", res, err)
	}
}
