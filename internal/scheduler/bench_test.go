package scheduler

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
	st "github.com/gantryhq/gantry/internal/scheduler/schedtest"
)

// BenchmarkSchedule measures placement alone: parse a pending pod, filter and score the
// nodes, assume the pod into the snapshot. Nodes and pods follow upstream scheduler_perf's
// templates (4 CPUs, 32 GiB, 110 pods per node; pods request 100m and 500Mi). Run with e.g.
//
//	go test ./internal/scheduler -run '^$' -bench Schedule -benchtime 10000x
//
// GANTRY_BENCH_PARALLELISM sets Algorithm.Parallelism (default GOMAXPROCS).
func BenchmarkSchedule(b *testing.B) {
	basic := func(i int) *v1.Pod { return st.Pod(fmt.Sprint("p", i)).Req("100m", "500Mi").Obj() }
	owned := func(i int) *v1.Pod {
		return st.Pod(fmt.Sprint("p", i)).Req("100m", "500Mi").Owner(fmt.Sprint("rs", i%50)).Obj()
	}
	zoneSpread := func(i int) *v1.Pod {
		app := fmt.Sprint("app", i%50)
		return st.Pod(fmt.Sprint("p", i)).Req("100m", "500Mi").Label("app", app).Owner(app).
			Spread(1, v1.LabelTopologyZone, v1.DoNotSchedule, "app", app).Obj()
	}
	antiAffinity := func(i int) *v1.Pod {
		app := fmt.Sprint("app", i%500)
		return st.Pod(fmt.Sprint("p", i)).Req("100m", "500Mi").Label("app", app).Owner(app).
			AntiAffinity(v1.LabelHostname, "app", app).Obj()
	}
	for _, tc := range []struct {
		name           string
		nodes, initial int
		pod            func(int) *v1.Pod
	}{
		{"5000Nodes/basic", 5000, 1000, basic},
		{"5000Nodes/replicas", 5000, 1000, owned},
		{"5000Nodes/zoneSpread", 5000, 1000, zoneSpread},
		{"5000Nodes/antiAffinity", 5000, 1000, antiAffinity},
		{"500Nodes/basic", 500, 500, basic},
	} {
		b.Run(tc.name, func(b *testing.B) {
			snap := framework.NewSnapshot()
			for i := 0; i < tc.nodes; i++ {
				snap.SetNode(st.Node(fmt.Sprintf("node-%05d", i)).Capacity("4", "32Gi", "110").Zone(fmt.Sprint("zone-", i%10)).Obj())
			}
			a := NewAlgorithm()
			if v, err := strconv.Atoi(os.Getenv("GANTRY_BENCH_PARALLELISM")); err == nil {
				a.Parallelism = v
			}
			place := func(p *v1.Pod) {
				pi := framework.NewPendingPodInfo(p, 0)
				res, err := a.Schedule(pi, snap, nil)
				if err != nil {
					b.Fatal(err)
				}
				// As the scheduler assumes: the parsed pod, with its node set.
				p.Spec.NodeName = res.Node
				assumed := *pi
				assumed.Pod = p
				snap.AddPod(&assumed)
			}
			for i := 0; i < tc.initial; i++ {
				place(tc.pod(1_000_000 + i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				place(tc.pod(i))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
		})
	}
}
