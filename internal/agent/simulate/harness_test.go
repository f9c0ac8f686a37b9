package simulate

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// t0 is the time every test starts at.
var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// testAgent is an agent of three nodes over a fake clientset holding objs, on a fake clock at
// t0, logging to t.
func testAgent(t *testing.T, mutate func(*Options), objs ...runtime.Object) (*agent, *fake.Clientset, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	o := DefaultOptions()
	o.Nodes = 3
	o.clock = clk
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if mutate != nil {
		mutate(&o)
	}
	o, err := o.complete()
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	a, err := newAgent(client, o)
	if err != nil {
		t.Fatal(err)
	}
	return a, client, clk
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// actions is the record of client calls as "verb resource[/subresource] [name]", reads
// included.
func actions(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		switch a := a.(type) {
		case k8stesting.GetAction:
			s += " " + a.GetName()
		case k8stesting.DeleteAction:
			s += " " + a.GetName()
		case k8stesting.CreateAction:
			if m, ok := a.GetObject().(interface{ GetName() string }); ok {
				s += " " + m.GetName()
			}
		case k8stesting.UpdateAction:
			if m, ok := a.GetObject().(interface{ GetName() string }); ok {
				s += " " + m.GetName()
			}
		}
		out = append(out, s)
	}
	return out
}
