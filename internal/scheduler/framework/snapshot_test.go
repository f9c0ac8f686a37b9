package framework_test

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

// The label index must find exactly what a scan of every pod finds.
func TestMatchingPodsAgreesWithAScan(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	snap := framework.NewSnapshot()
	snap.SetNode(st.Node("n").Obj())
	snap.SetNamespace("default", nil)
	snap.SetNamespace("other", map[string]string{"team": "x"})
	var all []*v1.Pod
	for i := 0; i < 300; i++ {
		p := st.Pod(fmt.Sprintf("p%d", i)).Node("n").Namespace([]string{"default", "other"}[r.Intn(2)])
		p.Label("app", fmt.Sprint("a", r.Intn(4)))
		if r.Intn(2) == 0 {
			p.Label("tier", fmt.Sprint("t", r.Intn(3)))
		}
		all = append(all, p.Obj())
		snap.AddPod(framework.NewPodInfo(p.Obj(), 0))
	}
	// Churn: remove a third, so the index must have forgotten them.
	for i := 0; i < 100; i++ {
		snap.RemovePod(types.UID(fmt.Sprintf("p%d", i*3)))
	}
	selectors := []string{"", "app=a1", "app in (a1,a2)", "app=a1,tier=t2", "tier", "!tier", "app!=a1", "tier=nothere", "app=a3,tier notin (t1)"}
	for _, sel := range selectors {
		for _, nsSel := range []labels.Selector{nil, labels.Everything(), labels.SelectorFromSet(labels.Set{"team": "x"})} {
			s, err := labels.Parse(sel)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			snap.MatchingPods([]string{"default"}, nsSel, s, func(p *framework.PodInfo) { got = append(got, p.Pod.Name) })
			for _, p := range all {
				if snap.Pod(p.UID) == nil {
					continue
				}
				inNS := p.Namespace == "default" || (nsSel != nil && nsSel.Matches(snap.NamespaceLabels(p.Namespace)))
				if inNS && s.Matches(labels.Set(p.Labels)) {
					want = append(want, p.Name)
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("selector %q ns %v: got %d pods, want %d", sel, nsSel, len(got), len(want))
			}
		}
	}
	// labels.Nothing (a nil selector) matches nothing.
	nothing, _ := metav1.LabelSelectorAsSelector(nil)
	snap.MatchingPods([]string{"default"}, nil, nothing, func(*framework.PodInfo) { t.Error("Nothing matched a pod") })
}

func TestSnapshotAggregates(t *testing.T) {
	snap := st.Snapshot(
		[]*v1.Node{st.Node("a").Image("nginx", 100).Obj(), st.Node("b").Image("nginx:latest", 100).Obj()},
		[]*v1.Pod{
			st.Pod("p1").Node("a").Req("1", "1Gi").Owner("rs").Obj(),
			st.Pod("p2").Node("a").Req("500m", "").Owner("rs").Obj(),
			st.Pod("p3").Node("b").Owner("rs").Terminating().Obj(),
			st.Pod("p4").Node("ghost").Obj(), // bound to a node not known yet
		})
	a := snap.NodeInfo("a")
	if a.Requested.MilliCPU != 1500 || a.Requested.Memory != 1<<30 || len(a.Pods) != 2 {
		t.Errorf("node a requested = %+v with %d pods", a.Requested, len(a.Pods))
	}
	if got := snap.OwnerPods("rs"); got["a"] != 2 || got["b"] != 0 {
		t.Errorf("owner pods = %v (terminating pods do not count)", got)
	}
	if snap.ImageNumNodes("nginx:latest") != 2 {
		t.Errorf("image on %d nodes, want 2", snap.ImageNumNodes("nginx:latest"))
	}
	if snap.NumNodes() != 2 || snap.NodeInfo("ghost") == nil || snap.NodeInfo("ghost").Node != nil {
		t.Error("a pod's unknown node must be known but not listed")
	}
	snap.SetNode(st.Node("ghost").Obj())
	if snap.NumNodes() != 3 || len(snap.NodeInfo("ghost").Pods) != 1 {
		t.Error("the node arriving late must keep its pod")
	}
	snap.RemoveNode("a")
	if snap.NumNodes() != 2 || snap.NodeInfo("a") == nil {
		t.Error("a removed node with pods stays known, unlisted")
	}
	if snap.ImageNumNodes("nginx:latest") != 1 {
		t.Error("removing a node must release its images")
	}
	snap.RemovePod("p1")
	snap.RemovePod("p2")
	if snap.NodeInfo("a") != nil {
		t.Error("an unlisted node without pods must be forgotten")
	}
	if snap.OwnerPods("rs") != nil {
		t.Error("owner counts must be dropped with the last pod")
	}
}

// The term index must find exactly the placed pods' terms that select a pod.
func TestTermsMatchingAgreesWithAScan(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	snap := framework.NewSnapshot()
	snap.SetNode(st.Node("n").Obj())
	var placed []*framework.PodInfo
	for i := 0; i < 200; i++ {
		p := st.Pod(fmt.Sprintf("p%d", i)).Node("n")
		for j := 0; j < r.Intn(3); j++ {
			kv := []string{"app", fmt.Sprint("a", r.Intn(5))}
			switch r.Intn(4) {
			case 0:
				p.AntiAffinity(v1.LabelHostname, kv...)
			case 1:
				p.Affinity(v1.LabelHostname, kv...)
			case 2:
				p.PreferAffinity(int32(1+r.Intn(9)), v1.LabelHostname, kv...)
			default:
				p.PreferAffinity(-int32(1+r.Intn(9)), v1.LabelHostname, kv...)
			}
		}
		if r.Intn(10) == 0 { // a term selecting every pod of the namespace
			p.Obj().Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{}}}}}
		}
		pi := framework.NewPodInfo(p.Obj(), 0)
		snap.AddPod(pi)
		placed = append(placed, pi)
	}
	for i := 0; i < 50; i++ {
		snap.RemovePod(types.UID(fmt.Sprintf("p%d", i*4)))
	}
	kinds := map[framework.TermKind]func(*framework.PodInfo) []framework.AffinityTerm{
		framework.RequiredAffinity:     func(p *framework.PodInfo) []framework.AffinityTerm { return p.RequiredAffinity },
		framework.RequiredAntiAffinity: func(p *framework.PodInfo) []framework.AffinityTerm { return p.RequiredAntiAffinity },
		framework.PreferredAffinity: func(p *framework.PodInfo) (out []framework.AffinityTerm) {
			for _, w := range p.PreferredAffinity {
				out = append(out, w.AffinityTerm)
			}
			return out
		},
		framework.PreferredAntiAffinity: func(p *framework.PodInfo) (out []framework.AffinityTerm) {
			for _, w := range p.PreferredAntiAffinity {
				out = append(out, w.AffinityTerm)
			}
			return out
		},
	}
	for kind, terms := range kinds {
		for a := 0; a < 6; a++ {
			incoming := st.Pod("in").Label("app", fmt.Sprint("a", a)).Obj()
			got, want := 0, 0
			snap.TermsMatching(kind, incoming, nil, func(*framework.PodInfo, *framework.AffinityTerm, int32) { got++ })
			for _, p := range placed {
				if snap.Pod(p.Pod.UID) == nil {
					continue
				}
				for _, t := range terms(p) {
					if t.Matches(incoming, nil) {
						want++
					}
				}
			}
			if got != want {
				t.Errorf("kind %d, app=a%d: %d terms found, want %d", kind, a, got, want)
			}
		}
	}
}

// PodsPerNode, once asked for, must follow every later AddPod and RemovePod exactly as a
// fresh count would.
func TestPodsPerNodeStaysCurrent(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	snap := framework.NewSnapshot()
	for _, n := range []string{"n1", "n2", "n3"} {
		snap.SetNode(st.Node(n).Obj())
	}
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	fresh := func() map[string]int {
		want := map[string]int{}
		snap.MatchingPods([]string{"default"}, nil, sel, func(p *framework.PodInfo) {
			if !p.Terminating {
				want[p.Pod.Spec.NodeName]++
			}
		})
		return want
	}
	snap.PodsPerNode("default", sel) // start the memo before the churn
	for i := 0; i < 400; i++ {
		name := fmt.Sprintf("p%d", r.Intn(60))
		if r.Intn(3) == 0 {
			snap.RemovePod(types.UID(name))
			continue
		}
		p := st.Pod(name).Node([]string{"n1", "n2", "n3"}[r.Intn(3)]).Namespace([]string{"default", "other"}[r.Intn(2)]).
			Label("app", []string{"web", "db"}[r.Intn(2)]).Obj()
		if r.Intn(4) == 0 {
			p.DeletionTimestamp = &metav1.Time{}
		}
		snap.AddPod(framework.NewPodInfo(p, 0))
		got, want := snap.PodsPerNode("default", sel), fresh()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after %d changes: memo %v, fresh count %v", i, got, want)
		}
	}
}
