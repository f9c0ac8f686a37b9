package proxy

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// staleChainDelay is how long a chain stays flushed before it is deleted. Kernels before 6.2
// (Debian 12 has 6.1) release a map element's reference to a chain a moment after the element
// is deleted, so deleting the chain in the same transaction fails; kube-proxy waits too.
const staleChainDelay = time.Second

// tableState is what the proxy has written into its table: the rules of every service, and
// who owns each element of the shared maps. Only the sync loop touches it.
type tableState struct {
	table    string
	services map[types.NamespacedName]*serviceRules
	// owners of each shared element, with the value each wants; the element in the table
	// has the value of the first owner (several services may list one hairpin endpoint).
	elements map[elementID]map[types.NamespacedName]string
	// stale chains: flushed, no longer referenced, deleted once staleChainDelay has passed.
	stale map[string]time.Time
}

type elementID struct{ set, key string }

func newTableState(table string) *tableState {
	return &tableState{
		table:    table,
		services: map[types.NamespacedName]*serviceRules{},
		elements: map[elementID]map[types.NamespacedName]string{},
		stale:    map[string]time.Time{},
	}
}

// plan records the new rules of the changed services (empty rules: the service is gone) and
// returns the nft commands that take the table from the old rules to the new ones: only
// chains whose rules differ are rewritten, only elements that differ are deleted or added.
// The caller runs them as one transaction; if that fails the state is no longer the
// kernel's and must be thrown away (the next sync is a full one).
//
// Commands come in dependency order: new sets and chains first (rules and elements refer to
// them), then rules, then elements (deletes before adds, so a changed value is a delete and
// an add), then chains no longer wanted are flushed, then unwanted sets deleted.
func (s *tableState) plan(changes map[types.NamespacedName]*serviceRules, now time.Time) string {
	var (
		addSets       = map[string]string{}
		rewrite       = map[string][]string{}
		removedChains = map[string]bool{}
		removedSets   = map[string]bool{}
		before        = map[elementID]*string{} // effective value before this plan; nil: absent
	)
	touch := func(id elementID) {
		if _, ok := before[id]; !ok {
			v, ok := s.effective(id)
			if ok {
				before[id] = &v
			} else {
				before[id] = nil
			}
		}
	}
	for _, key := range slices.SortedFunc(maps.Keys(changes), compareNames) {
		next, prev := changes[key], s.services[key]
		if prev == nil {
			prev = &serviceRules{}
		}
		for name, rules := range next.chains {
			if old, ok := prev.chains[name]; !ok || !slices.Equal(old, rules) {
				rewrite[name] = rules
			}
			delete(s.stale, name)
		}
		for name := range prev.chains {
			if _, ok := next.chains[name]; !ok {
				removedChains[name] = true
			}
		}
		for name, decl := range next.sets {
			if _, ok := prev.sets[name]; !ok {
				addSets[name] = decl
			}
		}
		for name := range prev.sets {
			if _, ok := next.sets[name]; !ok {
				removedSets[name] = true
			}
		}
		for _, e := range prev.elements {
			id := elementID{e.set, e.key}
			touch(id)
			delete(s.elements[id], key)
			if len(s.elements[id]) == 0 {
				delete(s.elements, id)
			}
		}
		for _, e := range next.elements {
			id := elementID{e.set, e.key}
			touch(id)
			if s.elements[id] == nil {
				s.elements[id] = map[types.NamespacedName]string{}
			}
			s.elements[id][key] = e.value
		}
		if next.empty() {
			delete(s.services, key)
		} else {
			s.services[key] = next
		}
	}

	w := &scriptWriter{table: s.table}
	for _, name := range slices.Sorted(maps.Keys(addSets)) {
		w.linef("add set ip %s %s %s", s.table, name, addSets[name])
	}
	for _, name := range slices.Sorted(maps.Keys(rewrite)) {
		w.linef("add chain ip %s %s", s.table, name)
	}
	for _, name := range slices.Sorted(maps.Keys(rewrite)) {
		// Flush: the chain may exist already (changed, or stale and wanted again).
		w.linef("flush chain ip %s %s", s.table, name)
		for _, r := range rewrite[name] {
			w.linef("add rule ip %s %s %s", s.table, name, r)
		}
	}
	dels, adds := map[string][]string{}, map[string][]string{}
	for _, id := range slices.SortedFunc(maps.Keys(before), compareElements) {
		was := before[id]
		val, ok := s.effective(id)
		if was != nil && (!ok || *was != val) {
			dels[id.set] = append(dels[id.set], id.key)
		}
		if ok && (was == nil || *was != val) {
			adds[id.set] = append(adds[id.set], elementText(id.key, val))
		}
	}
	w.elements("delete", dels)
	w.elements("add", adds)
	for _, name := range slices.Sorted(maps.Keys(removedChains)) {
		w.linef("flush chain ip %s %s", s.table, name)
		s.stale[name] = now
	}
	for _, name := range slices.Sorted(maps.Keys(removedSets)) {
		w.linef("delete set ip %s %s", s.table, name)
	}
	return w.String()
}

// staleChains returns the chains flushed at least staleChainDelay before now.
func (s *tableState) staleChains(now time.Time) []string {
	var out []string
	for name, since := range s.stale {
		if now.Sub(since) >= staleChainDelay {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// effective is the value of a shared element as it should be in the table.
func (s *tableState) effective(id elementID) (string, bool) {
	owners := s.elements[id]
	if len(owners) == 0 {
		return "", false
	}
	first := slices.MinFunc(slices.Collect(maps.Keys(owners)), compareNames)
	return owners[first], true
}

func elementText(key, value string) string {
	if value == "" {
		return key
	}
	return key + " : " + value
}

type scriptWriter struct {
	table string
	strings.Builder
}

func (w *scriptWriter) linef(format string, args ...any) {
	fmt.Fprintf(w, format, args...)
	w.WriteByte('\n')
}

// elements writes one command per set; batches keep the script short.
func (w *scriptWriter) elements(verb string, bySet map[string][]string) {
	const batch = 1000
	for _, set := range slices.Sorted(maps.Keys(bySet)) {
		items := bySet[set]
		for len(items) > 0 {
			n := min(batch, len(items))
			w.linef("%s element ip %s %s { %s }", verb, w.table, set, strings.Join(items[:n], ", "))
			items = items[n:]
		}
	}
}

func compareNames(a, b types.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func compareElements(a, b elementID) int {
	return cmp.Or(cmp.Compare(a.set, b.set), cmp.Compare(a.key, b.key))
}
