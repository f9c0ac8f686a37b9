package framework_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

func TestPodRequests(t *testing.T) {
	const mi = 1024 * 1024
	tests := []struct {
		name              string
		pod               *v1.Pod
		cpu, mem          int64
		nonZeroCPU, nzMem int64
	}{
		{"nothing requested", st.Pod("p").Obj(), 0, 0, framework.DefaultMilliCPURequest, framework.DefaultMemoryRequest},
		{"containers add up", st.Pod("p").Req("100m", "100Mi").Container("d", "img", "200m", "50Mi").Obj(), 300, 150 * mi, 300, 150 * mi},
		{"init container larger than the app containers wins", st.Pod("p").Req("100m", "100Mi").Init("i", "1", "10Mi", false).Obj(), 1000, 100 * mi, 1000, 100 * mi},
		{"sidecars add to the containers", st.Pod("p").Req("100m", "100Mi").Init("s", "200m", "10Mi", true).Obj(), 300, 110 * mi, 300, 110 * mi},
		{"overhead is added", st.Pod("p").Req("100m", "100Mi").Overhead("50m", "1Mi").Obj(), 150, 101 * mi, 150, 101 * mi},
		{"only memory requested: cpu defaults for scoring", st.Pod("p").Req("", "1Gi").Obj(), 0, 1024 * mi, framework.DefaultMilliCPURequest, 1024 * mi},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pi := framework.NewPodInfo(tc.pod, 0)
			if pi.Requests.MilliCPU != tc.cpu || pi.Requests.Memory != tc.mem {
				t.Errorf("requests = %dm, %d; want %dm, %d", pi.Requests.MilliCPU, pi.Requests.Memory, tc.cpu, tc.mem)
			}
			if pi.NonZeroMilliCPU != tc.nonZeroCPU || pi.NonZeroMemory != tc.nzMem {
				t.Errorf("non-zero = %dm, %d; want %dm, %d", pi.NonZeroMilliCPU, pi.NonZeroMemory, tc.nonZeroCPU, tc.nzMem)
			}
		})
	}
}

func TestExtendedResources(t *testing.T) {
	pi := framework.NewPodInfo(st.Pod("p").ReqResource("example.com/gpu", "2").ReqResource("hugepages-2Mi", "4Mi").Obj(), 0)
	if pi.Requests.Scalar["example.com/gpu"] != 2 || pi.Requests.Scalar["hugepages-2Mi"] != 4*1024*1024 {
		t.Errorf("scalar = %v", pi.Requests.Scalar)
	}
}

func TestEffectiveTaints(t *testing.T) {
	tests := []struct {
		name string
		node *v1.Node
		want []string
	}{
		{"ready", st.Node("n").Obj(), nil},
		{"not ready", st.Node("n").Ready(v1.ConditionFalse).Obj(), []string{framework.TaintNodeNotReady}},
		{"unknown", st.Node("n").Ready(v1.ConditionUnknown).Obj(), []string{framework.TaintNodeUnreachable}},
		{"already tainted by the lifecycle controller", st.Node("n").Ready(v1.ConditionFalse).Taint(framework.TaintNodeNotReady, "", v1.TaintEffectNoExecute).Obj(), []string{framework.TaintNodeNotReady}},
		{"no conditions at all", func() *v1.Node { n := st.Node("n").Obj(); n.Status.Conditions = nil; return n }(), []string{framework.TaintNodeNotReady}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := st.Snapshot([]*v1.Node{tc.node}, nil)
			var got []string
			for _, taint := range s.NodeInfo("n").Taints {
				got = append(got, taint.Key)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Errorf("taints = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPortConflict(t *testing.T) {
	s := st.Snapshot([]*v1.Node{st.Node("n").Obj()}, []*v1.Pod{
		st.Pod("a").Node("n").HostPort(80, "").Obj(),
		st.Pod("b").Node("n").HostPort(443, "10.0.0.1").Obj(),
	})
	n := s.NodeInfo("n")
	tests := []struct {
		port framework.HostPort
		want bool
	}{
		{framework.HostPort{IP: "0.0.0.0", Protocol: v1.ProtocolTCP, Port: 80}, true},
		{framework.HostPort{IP: "10.0.0.2", Protocol: v1.ProtocolTCP, Port: 80}, true}, // 80 is bound on all addresses
		{framework.HostPort{IP: "0.0.0.0", Protocol: v1.ProtocolUDP, Port: 80}, false}, // other protocol
		{framework.HostPort{IP: "0.0.0.0", Protocol: v1.ProtocolTCP, Port: 443}, true}, // any address conflicts with 10.0.0.1
		{framework.HostPort{IP: "10.0.0.2", Protocol: v1.ProtocolTCP, Port: 443}, false},
		{framework.HostPort{IP: "10.0.0.1", Protocol: v1.ProtocolTCP, Port: 443}, true},
	}
	for _, tc := range tests {
		if got := n.PortConflict(tc.port); got != tc.want {
			t.Errorf("PortConflict(%v) = %v, want %v", tc.port, got, tc.want)
		}
	}
	s.RemovePod("a")
	if n.PortConflict(framework.HostPort{IP: "0.0.0.0", Protocol: v1.ProtocolTCP, Port: 80}) {
		t.Error("port 80 still taken after its pod left")
	}
}
