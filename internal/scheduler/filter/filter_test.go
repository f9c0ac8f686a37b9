package filter_test

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/internal/scheduler/filter"
	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

// filterCase runs one filter for pod on every node of a snapshot; want maps node name to the
// expected "code: reasons" ("" for a pass).
type filterCase struct {
	name  string
	pod   *st.PodWrapper
	nodes []*v1.Node
	pods  []*v1.Pod
	want  map[string]string
	// preFilter, if set, is the expected PreFilter rejection.
	preFilter string
}

func runFilterCases(t *testing.T, f framework.Filter, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := st.Snapshot(tc.nodes, tc.pods)
			pod := tc.pod.Info()
			state, skip, status := f.PreFilter(pod, snap)
			if tc.preFilter != "" || status != nil {
				if got := describe(status); got != tc.preFilter {
					t.Fatalf("PreFilter = %q, want %q", got, tc.preFilter)
				}
				return
			}
			for _, n := range snap.Nodes() {
				got := ""
				if !skip {
					got = describe(f.Filter(state, pod, n))
				}
				if got != tc.want[n.Name] {
					t.Errorf("node %s: got %q, want %q", n.Name, got, tc.want[n.Name])
				}
			}
		})
	}
}

func describe(s *framework.Status) string {
	if s == nil {
		return ""
	}
	code := map[framework.Code]string{framework.Unschedulable: "Unschedulable", framework.UnschedulableAndUnresolvable: "Unresolvable", framework.Error: "Error"}[s.Code()]
	return code + ": " + strings.Join(s.Reasons(), "; ")
}

const (
	unres = "Unresolvable: "
	unsch = "Unschedulable: "
)

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

func TestNodeName(t *testing.T) {
	runFilterCases(t, filter.NodeName{}, []filterCase{
		{name: "no node named", pod: st.Pod("p"), nodes: nodes(st.Node("a")), want: map[string]string{}},
		{name: "node named", pod: st.Pod("p").Node("b"), nodes: nodes(st.Node("a"), st.Node("b")),
			want: map[string]string{"a": unres + filter.ErrReasonNodeName}},
	})
}

func TestNodeUnschedulable(t *testing.T) {
	runFilterCases(t, filter.NodeUnschedulable{}, []filterCase{
		{name: "cordoned node", pod: st.Pod("p"), nodes: nodes(st.Node("a"), st.Node("b").Unschedulable()),
			want: map[string]string{"b": unres + filter.ErrReasonUnschedulable}},
		{name: "pod tolerates cordoning", pod: st.Pod("p").Toleration(framework.TaintNodeUnschedulable, "", v1.TaintEffectNoSchedule),
			nodes: nodes(st.Node("b").Unschedulable()), want: map[string]string{}},
	})
}

func TestNodeAffinity(t *testing.T) {
	ns := nodes(st.Node("a").Label("disk", "ssd").Zone("z1"), st.Node("b").Label("disk", "hdd").Zone("z2"), st.Node("c"))
	runFilterCases(t, filter.NodeAffinity{}, []filterCase{
		{name: "none", pod: st.Pod("p"), nodes: ns, want: map[string]string{}},
		{name: "nodeSelector", pod: st.Pod("p").NodeSelector("disk", "ssd"), nodes: ns,
			want: map[string]string{"b": unres + filter.ErrReasonNodeAffinity, "c": unres + filter.ErrReasonNodeAffinity}},
		{name: "required affinity In", pod: st.Pod("p").NodeAffinityIn(v1.LabelTopologyZone, "z1", "z2"), nodes: ns,
			want: map[string]string{"c": unres + filter.ErrReasonNodeAffinity}},
		{name: "selector and affinity both apply", pod: st.Pod("p").NodeSelector("disk", "hdd").NodeAffinityIn(v1.LabelTopologyZone, "z1"), nodes: ns,
			want: map[string]string{"a": unres + filter.ErrReasonNodeAffinity, "b": unres + filter.ErrReasonNodeAffinity, "c": unres + filter.ErrReasonNodeAffinity}},
		// How a DaemonSet pins its pods: matchFields on the node's name.
		{name: "matchFields metadata.name", pod: st.Pod("p").NodeNameIn("b"), nodes: ns,
			want: map[string]string{"a": unres + filter.ErrReasonNodeAffinity, "c": unres + filter.ErrReasonNodeAffinity}},
	})
}

func TestTaintToleration(t *testing.T) {
	ns := nodes(
		st.Node("clean"),
		st.Node("noschedule").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule),
		st.Node("noexecute").Taint("dedicated", "gpu", v1.TaintEffectNoExecute),
		st.Node("prefer").Taint("dedicated", "gpu", v1.TaintEffectPreferNoSchedule),
		st.Node("notready").Ready(v1.ConditionFalse),
		st.Node("unknown").Ready(v1.ConditionUnknown),
	)
	bad := unres + filter.ErrReasonTaints
	runFilterCases(t, filter.TaintToleration{}, []filterCase{
		{name: "no tolerations", pod: st.Pod("p"), nodes: ns,
			want: map[string]string{"noschedule": bad, "noexecute": bad, "notready": bad, "unknown": bad}},
		{name: "tolerates the NoSchedule taint only", pod: st.Pod("p").Toleration("dedicated", "gpu", v1.TaintEffectNoSchedule), nodes: ns,
			want: map[string]string{"noexecute": bad, "notready": bad, "unknown": bad}},
		{name: "tolerates any effect of the key", pod: st.Pod("p").Toleration("dedicated", "", ""), nodes: ns,
			want: map[string]string{"notready": bad, "unknown": bad}},
		{name: "wrong value", pod: st.Pod("p").Toleration("dedicated", "cpu", ""), nodes: ns,
			want: map[string]string{"noschedule": bad, "noexecute": bad, "notready": bad, "unknown": bad}},
		{name: "daemon-like pod tolerates not-ready and unreachable", pod: st.Pod("p").
			Toleration(framework.TaintNodeNotReady, "", v1.TaintEffectNoSchedule).Toleration(framework.TaintNodeUnreachable, "", v1.TaintEffectNoSchedule), nodes: ns,
			want: map[string]string{"noschedule": bad, "noexecute": bad}},
	})
}

func TestNodePorts(t *testing.T) {
	ns := nodes(st.Node("a"), st.Node("b"))
	ps := pods(st.Pod("web").Node("a").HostPort(80, ""), st.Pod("dns").Node("b").HostPort(53, "10.1.1.1"))
	bad := unsch + filter.ErrReasonNodePorts
	runFilterCases(t, filter.NodePorts{}, []filterCase{
		{name: "no ports", pod: st.Pod("p"), nodes: ns, pods: ps, want: map[string]string{}},
		{name: "port taken on all addresses", pod: st.Pod("p").HostPort(80, "10.1.1.1"), nodes: ns, pods: ps, want: map[string]string{"a": bad}},
		{name: "same port, other address", pod: st.Pod("p").HostPort(53, "10.1.1.2"), nodes: ns, pods: ps, want: map[string]string{}},
		{name: "all addresses conflict with a specific one", pod: st.Pod("p").HostPort(53, ""), nodes: ns, pods: ps, want: map[string]string{"b": bad}},
	})
}

func TestNodeResourcesFit(t *testing.T) {
	ns := nodes(
		st.Node("big").Capacity("8", "16Gi", "110"),
		st.Node("small").Capacity("1", "1Gi", "110"),
		st.Node("full").Capacity("4", "8Gi", "2"),
		st.Node("gpu").Resource("example.com/gpu", "2"),
	)
	ps := pods(
		st.Pod("f1").Node("full"), st.Pod("f2").Node("full"),
		st.Pod("b1").Node("big").Req("6", "4Gi"),
		st.Pod("g1").Node("gpu").ReqResource("example.com/gpu", "1"),
	)
	runFilterCases(t, filter.NodeResourcesFit{}, []filterCase{
		{name: "best effort fits where there is room for a pod", pod: st.Pod("p"), nodes: ns, pods: ps,
			want: map[string]string{"full": unsch + "Too many pods"}},
		{name: "cpu: used on big, too small for small (unresolvable)", pod: st.Pod("p").Req("3", ""), nodes: ns, pods: ps,
			want: map[string]string{"big": unsch + "Insufficient cpu", "small": unres + "Insufficient cpu", "full": unsch + "Too many pods"}},
		{name: "cpu and memory", pod: st.Pod("p").Req("3", "10Gi"), nodes: ns, pods: ps,
			want: map[string]string{
				"big":   unsch + "Insufficient cpu",
				"small": unres + "Insufficient cpu; Insufficient memory",
				"full":  unres + "Too many pods; Insufficient memory",
				"gpu":   unres + "Insufficient memory",
			}},
		{name: "init container rule: the largest init container counts", pod: st.Pod("p").Req("100m", "").Init("i", "2", "", false), nodes: ns, pods: ps,
			want: map[string]string{"small": unres + "Insufficient cpu", "full": unsch + "Too many pods"}},
		{name: "extended resource", pod: st.Pod("p").ReqResource("example.com/gpu", "1"), nodes: ns, pods: ps,
			want: map[string]string{
				"big": unres + "Insufficient example.com/gpu", "small": unres + "Insufficient example.com/gpu",
				"full": unres + "Too many pods; Insufficient example.com/gpu",
			}},
		{name: "extended resource, all used", pod: st.Pod("p").ReqResource("example.com/gpu", "2"), nodes: nodes(st.Node("gpu").Resource("example.com/gpu", "2")), pods: ps,
			want: map[string]string{"gpu": unsch + "Insufficient example.com/gpu"}},
		{name: "ephemeral storage", pod: st.Pod("p").ReqResource(v1.ResourceEphemeralStorage, "200Gi"), nodes: nodes(st.Node("a")),
			want: map[string]string{"a": unres + "Insufficient ephemeral-storage"}},
	})
}

func TestPodTopologySpread(t *testing.T) {
	zones := nodes(
		st.Node("a1").Zone("a"), st.Node("a2").Zone("a"),
		st.Node("b1").Zone("b"),
		st.Node("nozone"),
	)
	ps := pods(
		st.Pod("x1").Node("a1").Label("app", "web"), st.Pod("x2").Node("a2").Label("app", "web"),
		st.Pod("x3").Node("b1").Label("app", "web").Terminating(), // terminating pods do not count
		st.Pod("other").Node("b1").Label("app", "db"),
		st.Pod("x4").Node("b1").Label("app", "web").Namespace("elsewhere"),
	)
	skew := unsch + filter.ErrReasonSpread
	missing := unres + filter.ErrReasonSpreadMissingLabel
	runFilterCases(t, filter.PodTopologySpread{}, []filterCase{
		{name: "zone a has 2, zone b 0: maxSkew 1 allows only b", pod: st.Pod("p").Label("app", "web").Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web"),
			nodes: zones, pods: ps, want: map[string]string{"a1": skew, "a2": skew, "nozone": missing}},
		{name: "maxSkew 2 allows a too", pod: st.Pod("p").Label("app", "web").Spread(3, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web"),
			nodes: zones, pods: ps, want: map[string]string{"nozone": missing}},
		{name: "a pod that does not match its own selector does not count itself", pod: st.Pod("p").Spread(2, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web"),
			nodes: zones, pods: ps, want: map[string]string{"nozone": missing}},
		{name: "node affinity narrows the domains: only zone a is eligible", pod: st.Pod("p").Label("app", "web").NodeAffinityIn(v1.LabelTopologyZone, "a").
			Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", "web"),
			nodes: zones, pods: ps, want: map[string]string{"nozone": missing}},
		{name: "hostname spreading", pod: st.Pod("p").Label("app", "web").Spread(1, v1.LabelHostname, v1.DoNotSchedule, "app", "web"),
			nodes: zones, pods: ps, want: map[string]string{"a1": skew, "a2": skew}},
		{name: "ScheduleAnyway does not filter", pod: st.Pod("p").Label("app", "web").Spread(1, v1.LabelTopologyZone, v1.ScheduleAnyway, "app", "web"),
			nodes: zones, pods: ps, want: map[string]string{}},
	})
}

func TestInterPodAffinity(t *testing.T) {
	ns := nodes(
		st.Node("a1").Zone("a"), st.Node("a2").Zone("a"),
		st.Node("b1").Zone("b"),
	)
	ps := pods(
		st.Pod("cache").Node("a1").Label("app", "cache"),
		st.Pod("loner").Node("b1").Label("app", "loner").AntiAffinity(v1.LabelTopologyZone, "app", "web"),
	)
	aff := unres + filter.ErrReasonAffinity
	anti := unsch + filter.ErrReasonAntiAffinity
	existing := unsch + filter.ErrReasonExistingAntiAffinity
	runFilterCases(t, filter.InterPodAffinity{}, []filterCase{
		{name: "nothing to check", pod: st.Pod("p").Label("app", "db"), nodes: ns, pods: ps, want: map[string]string{}},
		{name: "affinity to cache by zone", pod: st.Pod("p").Affinity(v1.LabelTopologyZone, "app", "cache"), nodes: ns, pods: ps,
			want: map[string]string{"b1": aff}},
		{name: "affinity to cache by host", pod: st.Pod("p").Affinity(v1.LabelHostname, "app", "cache"), nodes: ns, pods: ps,
			want: map[string]string{"a2": aff, "b1": aff}},
		{name: "affinity nobody matches", pod: st.Pod("p").Affinity(v1.LabelHostname, "app", "nobody"), nodes: ns, pods: ps,
			want: map[string]string{"a1": aff, "a2": aff, "b1": aff}},
		{name: "the first pod of a self-affine group goes anywhere", pod: st.Pod("p").Label("app", "group").Affinity(v1.LabelTopologyZone, "app", "group"), nodes: ns, pods: ps,
			want: map[string]string{}},
		{name: "anti-affinity to cache by zone", pod: st.Pod("p").AntiAffinity(v1.LabelTopologyZone, "app", "cache"), nodes: ns, pods: ps,
			want: map[string]string{"a1": anti, "a2": anti}},
		{name: "an existing pod's anti-affinity keeps web out of its zone", pod: st.Pod("p").Label("app", "web"), nodes: ns, pods: ps,
			want: map[string]string{"b1": existing}},
		{name: "affinity in another namespace does not match", pod: st.Pod("p").Namespace("other").Affinity(v1.LabelTopologyZone, "app", "cache"), nodes: ns, pods: ps,
			want: map[string]string{"a1": aff, "a2": aff, "b1": aff}},
	})
}
