package score_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
	"github.com/gantryhq/gantry/internal/scheduler/score"
)

type scoreCase struct {
	name  string
	pod   *st.PodWrapper
	nodes []*v1.Node
	pods  []*v1.Pod
	// want holds the normalized score of each node; nil when the scorer should skip the pod.
	want map[string]int64
}

func runScoreCases(t *testing.T, s framework.Scorer, cases []scoreCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := st.Snapshot(tc.nodes, tc.pods)
			pod := tc.pod.Info()
			nodes := snap.Nodes()
			state, ok := s.PreScore(pod, snap, nodes)
			if !ok {
				if tc.want != nil {
					t.Fatal("PreScore skipped the pod")
				}
				return
			}
			if tc.want == nil {
				t.Fatal("PreScore should have skipped the pod")
			}
			scores := make([]int64, len(nodes))
			for i, n := range nodes {
				scores[i] = s.Score(state, pod, n)
			}
			if nz, ok := s.(framework.Normalizer); ok {
				nz.Normalize(state, scores)
			}
			for i, n := range nodes {
				if scores[i] != tc.want[n.Name] {
					t.Errorf("node %s: score %d, want %d", n.Name, scores[i], tc.want[n.Name])
				}
			}
		})
	}
}

func nodes(ns ...*st.NodeWrapper) []*v1.Node {
	var out []*v1.Node
	for _, n := range ns {
		out = append(out, n.Obj())
	}
	return out
}

func pods(ps ...*st.PodWrapper) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range ps {
		out = append(out, p.Obj())
	}
	return out
}

func TestLeastAllocated(t *testing.T) {
	ns := nodes(st.Node("busy"), st.Node("idle"))
	runScoreCases(t, score.LeastAllocated{}, []scoreCase{
		{name: "free capacity after placing", pod: st.Pod("p").Req("1", "2Gi"), nodes: ns, pods: pods(st.Pod("x").Node("busy").Req("2", "4Gi")),
			want: map[string]int64{"busy": 25, "idle": 75}},
		{name: "best effort counts with the defaults (100m, 200Mi)", pod: st.Pod("p"), nodes: ns,
			want: map[string]int64{"busy": 97, "idle": 97}},
		{name: "overcommitted resources score 0", pod: st.Pod("p").Req("5", "1Gi"), nodes: ns,
			want: map[string]int64{"busy": 43, "idle": 43}},
	})
}

func TestBalancedAllocation(t *testing.T) {
	ns := nodes(st.Node("empty"), st.Node("memheavy"))
	runScoreCases(t, score.BalancedAllocation{}, []scoreCase{
		{name: "a placement that evens cpu and memory out wins", pod: st.Pod("p").Req("1", "1Gi"), nodes: ns,
			pods: pods(st.Pod("x").Node("memheavy").Req("", "3Gi")),
			want: map[string]int64{"empty": 71, "memheavy": 78}},
		{name: "best effort pods skip", pod: st.Pod("p"), nodes: ns},
	})
}

func TestImageLocality(t *testing.T) {
	const mb = 1024 * 1024
	ns := nodes(st.Node("a").Image("big:1", 500*mb), st.Node("b").Image("big:1", 500*mb), st.Node("c"))
	runScoreCases(t, score.ImageLocality{}, []scoreCase{
		{name: "image on two of three nodes", pod: st.Pod("p").Image("big:1"), nodes: ns,
			want: map[string]int64{"a": 31, "b": 31, "c": 0}},
		{name: "untagged image means latest", pod: st.Pod("p").Image("big"), nodes: nodes(st.Node("a").Image("big:latest", 1000*mb), st.Node("b")),
			want: map[string]int64{"a": 48, "b": 0}},
		{name: "image nowhere", pod: st.Pod("p").Image("small"), nodes: ns,
			want: map[string]int64{"a": 0, "b": 0, "c": 0}},
	})
}

func TestTaintTolerationScore(t *testing.T) {
	ns := nodes(
		st.Node("clean"),
		st.Node("one").Taint("k1", "v", v1.TaintEffectPreferNoSchedule),
		st.Node("two").Taint("k1", "v", v1.TaintEffectPreferNoSchedule).Taint("k2", "v", v1.TaintEffectPreferNoSchedule).Taint("k3", "v", v1.TaintEffectNoSchedule),
	)
	runScoreCases(t, score.TaintToleration{}, []scoreCase{
		{name: "fewer PreferNoSchedule taints score higher", pod: st.Pod("p"), nodes: ns,
			want: map[string]int64{"clean": 100, "one": 50, "two": 0}},
		{name: "tolerated taints do not count", pod: st.Pod("p").Toleration("k1", "v", v1.TaintEffectPreferNoSchedule), nodes: ns,
			want: map[string]int64{"clean": 100, "one": 100, "two": 0}},
		{name: "no taints anywhere", pod: st.Pod("p"), nodes: nodes(st.Node("a"), st.Node("b")),
			want: map[string]int64{"a": 100, "b": 100}},
	})
}

func TestNodeAffinityScore(t *testing.T) {
	ns := nodes(st.Node("x").Zone("a").Label("disk", "ssd"), st.Node("y").Zone("a"), st.Node("z"))
	runScoreCases(t, score.NodeAffinity{}, []scoreCase{
		{name: "weights add up", pod: st.Pod("p").PreferNode(10, v1.LabelTopologyZone, "a").PreferNode(5, "disk", "ssd"), nodes: ns,
			want: map[string]int64{"x": 100, "y": 66, "z": 0}},
		{name: "no preference skips", pod: st.Pod("p"), nodes: ns},
	})
}

func TestPodTopologySpreadScore(t *testing.T) {
	zones := nodes(st.Node("a1").Zone("a"), st.Node("a2").Zone("a"), st.Node("b1").Zone("b"))
	web := pods(st.Pod("w1").Node("a1").Label("app", "web"), st.Pod("w2").Node("a2").Label("app", "web"))
	hosts := nodes(st.Node("n1"), st.Node("n2"), st.Node("n3"))
	owned := pods(st.Pod("r1").Node("n1").Owner("rs"), st.Pod("r2").Node("n1").Owner("rs"), st.Pod("r3").Node("n2").Owner("rs"),
		st.Pod("gone").Node("n3").Owner("rs").Terminating(), st.Pod("stranger").Node("n3").Owner("other"))
	runScoreCases(t, score.PodTopologySpread{}, []scoreCase{
		{name: "soft constraint favours the empty zone", pod: st.Pod("p").Label("app", "web").Spread(1, v1.LabelTopologyZone, v1.ScheduleAnyway, "app", "web"),
			nodes: zones, pods: web, want: map[string]int64{"a1": 0, "a2": 0, "b1": 100}},
		{name: "nodes without the key are ignored", pod: st.Pod("p").Label("app", "web").Spread(1, v1.LabelTopologyZone, v1.ScheduleAnyway, "app", "web"),
			nodes: append(zones, st.Node("nozone").Obj()), pods: web, want: map[string]int64{"a1": 0, "a2": 0, "b1": 100, "nozone": 0}},
		{name: "replicas of one owner spread over hosts by default", pod: st.Pod("p").Owner("rs"),
			nodes: hosts, pods: owned, want: map[string]int64{"n1": 40, "n2": 60, "n3": 100}},
		{name: "no owner, no constraints: skip", pod: st.Pod("p"), nodes: hosts, pods: owned},
		{name: "hard constraints only: no default spreading", pod: st.Pod("p").Owner("rs").Spread(1, v1.LabelHostname, v1.DoNotSchedule, "app", "x"), nodes: hosts, pods: owned},
	})
}

func TestInterPodAffinityScore(t *testing.T) {
	ns := nodes(st.Node("a1").Zone("a"), st.Node("a2").Zone("a"), st.Node("b1").Zone("b"))
	cache := st.Pod("cache").Node("a1").Label("app", "cache")
	shy := st.Pod("shy").Node("b1").Label("app", "shy").PreferAffinity(-5, v1.LabelHostname, "app", "web")
	runScoreCases(t, score.InterPodAffinity{}, []scoreCase{
		{name: "preferred affinity to a zone", pod: st.Pod("p").PreferAffinity(10, v1.LabelTopologyZone, "app", "cache"), nodes: ns, pods: pods(cache),
			want: map[string]int64{"a1": 100, "a2": 100, "b1": 0}},
		{name: "preferred anti-affinity", pod: st.Pod("p").PreferAffinity(-10, v1.LabelTopologyZone, "app", "cache"), nodes: ns, pods: pods(cache),
			want: map[string]int64{"a1": 0, "a2": 0, "b1": 100}},
		{name: "an existing pod's preferred anti-affinity pushes the pod away", pod: st.Pod("p").Label("app", "web"), nodes: ns, pods: pods(cache, shy),
			want: map[string]int64{"a1": 100, "a2": 100, "b1": 0}},
		{name: "an existing pod's required affinity attracts (weight 1)", pod: st.Pod("p").Label("app", "web"), nodes: ns,
			pods: pods(st.Pod("fan").Node("b1").Affinity(v1.LabelTopologyZone, "app", "web")),
			want: map[string]int64{"a1": 0, "a2": 0, "b1": 100}},
		{name: "nothing relevant: skip", pod: st.Pod("p"), nodes: ns, pods: pods(cache)},
	})
}
