package nodeipam

import (
	"errors"
	"net/netip"
	"testing"
)

func mustAllocator(t *testing.T, cluster string, bits int) *allocator {
	t.Helper()
	a, err := newAllocator(netip.MustParsePrefix(cluster), bits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAllocatorRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		cluster string
		bits    int
	}{
		"IPv6":                {"fd00::/48", 64},
		"mask shorter":        {"100.64.0.0/16", 15},
		"mask too long":       {"100.64.0.0/16", 31},
		"too many subnets":    {"100.0.0.0/8", 25},
		"no prefix (invalid)": {"", 24},
	} {
		t.Run(name, func(t *testing.T) {
			var p netip.Prefix
			if tc.cluster != "" {
				p = netip.MustParsePrefix(tc.cluster)
			}
			if _, err := newAllocator(p, tc.bits); err == nil {
				t.Errorf("newAllocator(%q, %d) succeeded", tc.cluster, tc.bits)
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	a := mustAllocator(t, "100.64.0.0/22", 24)
	for i, want := range []string{"100.64.0.0/24", "100.64.1.0/24"} {
		got, err := a.allocate([]string{"n0", "n1"}[i])
		if err != nil || got.String() != want {
			t.Fatalf("allocate n%d = %s, %v; want %s", i, got, err, want)
		}
	}
	if got, _ := a.allocate("n0"); got.String() != "100.64.0.0/24" {
		t.Errorf("allocate again for n0 = %s, want the range it holds", got)
	}
	// A freed range is not reused at once: the search goes on after the last one handed out.
	if p, ok := a.release("n0"); !ok || p.String() != "100.64.0.0/24" {
		t.Errorf("release n0 = %s, %v", p, ok)
	}
	if got, _ := a.allocate("n2"); got.String() != "100.64.2.0/24" {
		t.Errorf("allocate n2 = %s, want 100.64.2.0/24", got)
	}
	// A node re-created under its old name gets its old range back while it is free.
	if got, _ := a.allocate("n0"); got.String() != "100.64.0.0/24" {
		t.Errorf("n0 re-joining got %s, want its old 100.64.0.0/24", got)
	}
	if got, _ := a.allocate("n3"); got.String() != "100.64.3.0/24" {
		t.Errorf("allocate n3 = %s", got)
	}
	if _, err := a.allocate("n4"); !errors.Is(err, errExhausted) {
		t.Errorf("allocate from a full range: %v, want errExhausted", err)
	}
	a.release("n1")
	if got, err := a.allocate("n4"); err != nil || got.String() != "100.64.1.0/24" {
		t.Errorf("allocate after a release = %s, %v; want the freed 100.64.1.0/24", got, err)
	}
	// n1's old range went to n4, so a re-joining n1 takes what is free, and nothing is.
	if _, err := a.allocate("n1"); !errors.Is(err, errExhausted) {
		t.Errorf("n1 re-joining a full range: %v", err)
	}
}

func TestOccupy(t *testing.T) {
	a := mustAllocator(t, "100.64.0.0/16", 24)
	if err := a.occupy("n1", netip.MustParsePrefix("100.64.5.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := a.occupy("n1", netip.MustParsePrefix("100.64.5.0/24")); err != nil {
		t.Errorf("occupying again: %v", err)
	}
	if err := a.occupy("n2", netip.MustParsePrefix("100.64.5.0/24")); err == nil {
		t.Error("two nodes hold 100.64.5.0/24")
	}
	for _, bad := range []string{"100.64.5.0/25", "100.64.5.1/24", "100.65.0.0/24", "100.64.0.0/16"} {
		if err := a.occupy("n3", netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("occupy %s succeeded", bad)
		}
	}
	// A node whose range changed holds only the new one.
	if err := a.occupy("n1", netip.MustParsePrefix("100.64.6.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := a.occupy("n2", netip.MustParsePrefix("100.64.5.0/24")); err != nil {
		t.Errorf("n1's old range is still held: %v", err)
	}
	if got, _ := a.allocate("n1"); got.String() != "100.64.6.0/24" {
		t.Errorf("n1 holds %s, want 100.64.6.0/24", got)
	}
}

func TestReserve(t *testing.T) {
	a := mustAllocator(t, "100.64.0.0/23", 24)
	a.reserve(netip.MustParsePrefix("100.64.0.128/25"))
	if err := a.occupy("n1", netip.MustParsePrefix("100.64.0.0/24")); err == nil {
		t.Error("occupied a range overlapping the service CIDR")
	}
	if got, err := a.allocate("n1"); err != nil || got.String() != "100.64.1.0/24" {
		t.Errorf("allocate = %s, %v; want 100.64.1.0/24", got, err)
	}
	if _, err := a.allocate("n2"); !errors.Is(err, errExhausted) {
		t.Errorf("allocate: %v, want errExhausted", err)
	}
}

func TestSubnetIndex(t *testing.T) {
	a := mustAllocator(t, "100.64.0.0/16", 26)
	for i := range a.owners {
		j, err := a.index(a.subnet(i))
		if err != nil || j != i {
			t.Fatalf("index(subnet(%d) = %s) = %d, %v", i, a.subnet(i), j, err)
		}
	}
	if got := a.subnet(len(a.owners) - 1).String(); got != "100.64.255.192/26" {
		t.Errorf("last subnet %s", got)
	}
}
