package scheduler

import (
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/gantryhq/gantry/internal/scheduler/filter"
	"github.com/gantryhq/gantry/internal/scheduler/framework"
	"github.com/gantryhq/gantry/internal/scheduler/score"
)

// Sampling of nodes, as upstream's percentageOfNodesToScore: on large clusters the search
// stops once enough feasible nodes are found, rotating where it starts from pod to pod.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
	basePercentageOfNodesToScore     = 50
	// parallelThreshold is the batch size below which filtering and scoring stay on the
	// calling goroutine: waking workers costs more than it saves (measured: with 500 nodes
	// to score, one goroutine beats two on 2 cores), and the API server needs the CPU more.
	parallelThreshold = 1024
)

// Algorithm places one pod on a snapshot: filter the nodes, score the feasible ones, pick
// the best; and, for a pod that fits nowhere, choose what to preempt. It does no I/O and
// keeps no cluster state. The only thing carried from one call to the next is where node
// sampling starts, so that successive pods look at different nodes; a given sequence of
// calls always gives the same answers.
//
// An Algorithm is used by one goroutine at a time (it reuses its buffers); it parallelizes
// within a call itself.
type Algorithm struct {
	Filters []framework.Filter
	Scorers []framework.WeightedScorer
	// PercentageOfNodesToScore bounds the search on large clusters; 0 picks upstream's
	// adaptive value (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
	PercentageOfNodesToScore int32
	// Parallelism is how many goroutines filter and score; 0 means GOMAXPROCS.
	Parallelism int

	nextStart   int
	statusBuf   []*framework.Status
	feasibleBuf []*framework.NodeInfo
	pluginBuf   []int
	scoreBuf    [][]int64
	totalBuf    []int64
}

// NewAlgorithm returns an Algorithm with the default filters and scorers.
func NewAlgorithm() *Algorithm {
	return &Algorithm{Filters: filter.Default(), Scorers: score.Default()}
}

// Nominated lists the pods nominated to a node by an earlier preemption. Placement counts
// those of at least the pod's priority as already there, so that the room preemption made
// is not taken by someone else. A nil Nominated means none.
type Nominated func(node string) []*framework.PodInfo

// Result is where a pod goes.
type Result struct {
	Node string
	// Evaluated counts the nodes filtered, Feasible those that passed.
	Evaluated, Feasible int
}

// cycle is the per-pod state of one call.
type cycle struct {
	pod       *framework.PodInfo
	states    []any
	active    []int // indexes of the filters that run for this pod
	nominated Nominated
}

// Schedule finds a node for pod. It returns framework.ErrNoNodesAvailable when the cluster
// has no node, and a *framework.FitError when no node can hold the pod.
func (a *Algorithm) Schedule(pod *framework.PodInfo, snap *framework.Snapshot, nominated Nominated) (Result, error) {
	nodes := snap.Nodes()
	n := len(nodes)
	if n == 0 {
		return Result{}, framework.ErrNoNodesAvailable
	}
	c, fitErr := a.preFilter(pod, snap, nominated)
	if fitErr != nil {
		return Result{}, fitErr
	}

	// A pod nominated by an earlier preemption goes to its node if that node now fits.
	if name := pod.Pod.Status.NominatedNodeName; name != "" {
		if node := snap.NodeInfo(name); node != nil && node.Node != nil {
			if st, _ := a.filterNode(c, node); st.IsSuccess() {
				return Result{Node: name, Evaluated: 1, Feasible: 1}, nil
			}
		}
	}

	want := a.numFeasibleNodesToFind(n)
	if cap(a.statusBuf) < n {
		a.statusBuf = make([]*framework.Status, n)
		a.pluginBuf = make([]int, n)
	}
	statuses, plugins := a.statusBuf[:n], a.pluginBuf[:n]
	start := a.nextStart % n
	feasible := a.feasibleBuf[:0]
	processed := 0
	for processed < n && len(feasible) < want {
		batch := min(n-processed, max(want-len(feasible), 32))
		base := processed
		a.parallelize(batch, func(i int) {
			statuses[base+i], plugins[base+i] = a.filterNode(c, nodes[(start+base+i)%n])
		})
		processed += batch
		for i := base; i < base+batch; i++ {
			if statuses[i] == nil {
				feasible = append(feasible, nodes[(start+i)%n])
				if len(feasible) == want {
					processed = i + 1
					break
				}
			}
		}
	}
	a.nextStart = (start + processed) % n
	a.feasibleBuf = feasible[:0]

	if len(feasible) == 0 {
		d := framework.Diagnosis{NodeToStatus: make(map[string]*framework.Status, n), UnschedulablePlugins: sets.New[string]()}
		for i := 0; i < n; i++ {
			d.NodeToStatus[nodes[(start+i)%n].Name] = statuses[i]
			d.UnschedulablePlugins.Insert(a.Filters[plugins[i]].Name())
		}
		return Result{Evaluated: processed}, &framework.FitError{Pod: pod.Pod, NumAllNodes: n, Diagnosis: d}
	}
	res := Result{Evaluated: processed, Feasible: len(feasible)}
	if len(feasible) == 1 {
		res.Node = feasible[0].Name
		return res, nil
	}
	res.Node = a.selectHost(pod, feasible, a.prioritize(pod, snap, feasible))
	return res, nil
}

// preFilter runs every filter's PreFilter; a rejection there fails the pod everywhere.
func (a *Algorithm) preFilter(pod *framework.PodInfo, snap *framework.Snapshot, nominated Nominated) (*cycle, *framework.FitError) {
	c := &cycle{pod: pod, states: make([]any, len(a.Filters)), active: make([]int, 0, len(a.Filters)), nominated: nominated}
	for i, f := range a.Filters {
		state, skip, st := f.PreFilter(pod, snap)
		if st != nil {
			return nil, &framework.FitError{Pod: pod.Pod, NumAllNodes: snap.NumNodes(), Diagnosis: framework.Diagnosis{
				NodeToStatus:         map[string]*framework.Status{},
				AbsentStatus:         st,
				UnschedulablePlugins: sets.New(f.Name()),
				PreFilterMsg:         st.Message(),
			}}
		}
		if !skip {
			c.states[i] = state
			c.active = append(c.active, i)
		}
	}
	return c, nil
}

// filterNode runs the active filters on node, first with the pods nominated to it that are
// at least as important as the pod, then (if any were added) without them: the pod must fit
// both ways, as upstream. It returns the first failing status and that filter's index.
func (a *Algorithm) filterNode(c *cycle, node *framework.NodeInfo) (*framework.Status, int) {
	if c.nominated != nil {
		if noms := c.nominated(node.Name); len(noms) > 0 {
			var added *framework.NodeInfo
			var states []any
			for _, p := range noms {
				if p.Pod.UID == c.pod.Pod.UID || p.Priority < c.pod.Priority {
					continue
				}
				if added == nil {
					added, states = node.Clone(), cloneStates(c.states)
				}
				added.AddPod(p)
				for _, i := range c.active {
					if m, ok := states[i].(framework.MutableState); ok {
						m.AddPod(c.pod, p, added)
					}
				}
			}
			if added != nil {
				if st, i := a.runFilters(c, states, added); st != nil {
					return st, i
				}
			}
		}
	}
	return a.runFilters(c, c.states, node)
}

func (a *Algorithm) runFilters(c *cycle, states []any, node *framework.NodeInfo) (*framework.Status, int) {
	for _, i := range c.active {
		if st := a.Filters[i].Filter(states[i], c.pod, node); st != nil {
			return st, i
		}
	}
	return nil, 0
}

func cloneStates(states []any) []any {
	out := make([]any, len(states))
	for i, s := range states {
		if m, ok := s.(framework.MutableState); ok {
			out[i] = m.Clone()
		} else {
			out[i] = s
		}
	}
	return out
}

// prioritize returns the weighted sum of all scores, per feasible node.
func (a *Algorithm) prioritize(pod *framework.PodInfo, snap *framework.Snapshot, nodes []*framework.NodeInfo) []int64 {
	n := len(nodes)
	type active struct {
		scorer framework.WeightedScorer
		state  any
		scores []int64
	}
	if len(a.scoreBuf) < len(a.Scorers) {
		a.scoreBuf = make([][]int64, len(a.Scorers))
	}
	var list []active
	for i, s := range a.Scorers {
		state, ok := s.PreScore(pod, snap, nodes)
		if !ok {
			continue
		}
		if cap(a.scoreBuf[i]) < n {
			a.scoreBuf[i] = make([]int64, n)
		}
		list = append(list, active{s, state, a.scoreBuf[i][:n]})
	}
	a.parallelize(n, func(i int) {
		for _, s := range list {
			s.scores[i] = s.scorer.Score(s.state, pod, nodes[i])
		}
	})
	if cap(a.totalBuf) < n {
		a.totalBuf = make([]int64, n)
	}
	total := a.totalBuf[:n]
	clear(total)
	for _, s := range list {
		if nz, ok := s.scorer.Scorer.(framework.Normalizer); ok {
			nz.Normalize(s.state, s.scores)
		}
		for i, v := range s.scores {
			total[i] += v * s.scorer.Weight
		}
	}
	return total
}

// selectHost picks the highest total. Ties go to the node whose name hashes lowest mixed
// with the pod's UID: as fair as upstream's random pick, but reproducible.
func (a *Algorithm) selectHost(pod *framework.PodInfo, nodes []*framework.NodeInfo, total []int64) string {
	h := fnv.New64a()
	h.Write([]byte(pod.Pod.UID))
	seed := h.Sum64()
	best, bestTie := 0, mix(seed^nodes[0].NameHash)
	for i := 1; i < len(nodes); i++ {
		switch {
		case total[i] < total[best]:
		case total[i] > total[best]:
			best, bestTie = i, mix(seed^nodes[i].NameHash)
		default:
			if t := mix(seed ^ nodes[i].NameHash); t < bestTie {
				best, bestTie = i, t
			}
		}
	}
	return nodes[best].Name
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// numFeasibleNodesToFind is upstream's adaptive sample size.
func (a *Algorithm) numFeasibleNodesToFind(all int) int {
	if all < minFeasibleNodesToFind {
		return all
	}
	pct := int(a.PercentageOfNodesToScore)
	if pct <= 0 {
		pct = basePercentageOfNodesToScore - all/125
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	if pct >= 100 {
		return all
	}
	n := all * pct / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// parallelize calls fn(i) for i in [0,n), on several goroutines when n is large enough.
func (a *Algorithm) parallelize(n int, fn func(i int)) {
	workers := a.Parallelism
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers <= 1 || n < parallelThreshold {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	chunk := int64(max(16, n/(workers*4)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s := next.Add(chunk) - chunk
				if s >= int64(n) {
					return
				}
				for i := s; i < min(s+chunk, int64(n)); i++ {
					fn(int(i))
				}
			}
		}()
	}
	wg.Wait()
}
