package scheduler

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Messages of preemption, as upstream words them.
const (
	msgNoVictims           = "No preemption victims found for incoming pod"
	msgNotHelpful          = "Preemption is not helpful for scheduling"
	msgPreemptNever        = "not eligible due to preemptionPolicy=Never."
	msgTerminatingOnNode   = "not eligible due to a terminating pod on the nominated node."
	minCandidateNodesPct   = 10
	minCandidateNodesAbs   = 100
	preemptionMessageFound = "found a potential placement for pod on node %v, preempting %d victims"
)

// Candidate is a node where the pod fits once Victims are gone.
type Candidate struct {
	Node    string
	Victims []*framework.PodInfo
	// NumPDBViolations counts the victims whose eviction a PodDisruptionBudget does not allow;
	// those must be deleted rather than evicted.
	NumPDBViolations int
	// Violating marks, per victim, whether it counts in NumPDBViolations.
	Violating []bool
}

// Preempt decides which lower-priority pods to evict so that pod, which fits nowhere (fitErr
// says why), fits somewhere, following upstream's DefaultPreemption:
//   - only nodes that failed for reasons eviction can cure (Unschedulable, not
//     UnschedulableAndUnresolvable) are candidates;
//   - on each, every lower-priority pod is removed, then as many as possible are reprieved,
//     most important first, those whose eviction a PodDisruptionBudget forbids before the
//     others: what remains is a minimal set of victims;
//   - among candidates, the node with the fewest PDB violations wins, then the lowest
//     highest-victim priority, the lowest sum of priorities, the fewest victims, and the
//     latest start time.
//
// It returns the chosen candidate and upstream's message ("found a potential placement…"),
// or nil and the reason preemption cannot help.
func (a *Algorithm) Preempt(pod *framework.PodInfo, snap *framework.Snapshot, nominated Nominated, fitErr *framework.FitError, pdbs []*policyv1.PodDisruptionBudget) (*Candidate, string) {
	if msg, ok := eligibleToPreempt(pod, snap, fitErr); !ok {
		return nil, msg
	}
	nodes := snap.Nodes()
	var potential []*framework.NodeInfo
	for _, n := range nodes {
		st, ok := fitErr.Diagnosis.NodeToStatus[n.Name]
		if !ok {
			st = fitErr.Diagnosis.AbsentStatus
		}
		if st.Code() == framework.Unschedulable {
			potential = append(potential, n)
		}
	}
	notHelpful := framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNotHelpful)
	statuses := map[string]*framework.Status{}
	if len(potential) > 0 {
		c, ferr := a.preFilter(pod, snap, nominated)
		if ferr != nil {
			return nil, ferr.Error()
		}
		budgets := parsePDBs(pdbs)
		want := max(len(potential)*minCandidateNodesPct/100, minCandidateNodesAbs)
		want = min(want, len(potential))
		offset := int(offsetHash(pod) % uint64(len(potential)))
		var nonViolating, violating []*Candidate
		for i := range potential {
			node := potential[(offset+i)%len(potential)]
			cand, st := a.selectVictimsOnNode(c, node, budgets)
			if st != nil {
				statuses[node.Name] = st
				continue
			}
			if len(cand.Victims) == 0 {
				continue
			}
			if cand.NumPDBViolations == 0 {
				nonViolating = append(nonViolating, cand)
			} else {
				violating = append(violating, cand)
			}
			if len(nonViolating) > 0 && len(nonViolating)+len(violating) >= want {
				break
			}
		}
		if cands := append(nonViolating, violating...); len(cands) > 0 {
			best := pickCandidate(cands)
			return best, fmt.Sprintf(preemptionMessageFound, best.Node, len(best.Victims))
		}
	}
	fe := &framework.FitError{Pod: pod.Pod, NumAllNodes: len(nodes), Diagnosis: framework.Diagnosis{NodeToStatus: statuses, AbsentStatus: notHelpful}}
	return nil, fe.Error()
}

// eligibleToPreempt refuses pods that never preempt, and pods whose earlier preemption is
// still under way (a victim on their nominated node is terminating).
func eligibleToPreempt(pod *framework.PodInfo, snap *framework.Snapshot, fitErr *framework.FitError) (string, bool) {
	if p := pod.Pod.Spec.PreemptionPolicy; p != nil && *p == v1.PreemptNever {
		return msgPreemptNever, false
	}
	name := pod.Pod.Status.NominatedNodeName
	if name == "" {
		return "", true
	}
	if st, ok := fitErr.Diagnosis.NodeToStatus[name]; ok && st.Code() == framework.UnschedulableAndUnresolvable {
		return "", true
	}
	if node := snap.NodeInfo(name); node != nil {
		for _, p := range node.Pods {
			if p.Priority < pod.Priority && TerminatingByPreemption(p.Pod) {
				return msgTerminatingOnNode, false
			}
		}
	}
	return "", true
}

// TerminatingByPreemption reports whether pod is being deleted because a scheduler
// preempted it.
func TerminatingByPreemption(pod *v1.Pod) bool {
	if pod.DeletionTimestamp == nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.DisruptionTarget {
			return c.Status == v1.ConditionTrue && c.Reason == v1.PodReasonPreemptionByScheduler
		}
	}
	return false
}

// selectVictimsOnNode finds the minimal set of lower-priority pods to remove from node.
func (a *Algorithm) selectVictimsOnNode(c *cycle, orig *framework.NodeInfo, budgets []budget) (*Candidate, *framework.Status) {
	var potential []*framework.PodInfo
	for _, p := range orig.Pods {
		if p.Priority < c.pod.Priority {
			potential = append(potential, p)
		}
	}
	if len(potential) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNoVictims)
	}
	node := orig.Clone()
	sc := &cycle{pod: c.pod, states: cloneStates(c.states), active: c.active, nominated: c.nominated}
	remove := func(p *framework.PodInfo) {
		node.RemovePod(p.Pod.UID)
		for _, i := range sc.active {
			if m, ok := sc.states[i].(framework.MutableState); ok {
				m.RemovePod(sc.pod, p, node)
			}
		}
	}
	add := func(p *framework.PodInfo) {
		node.AddPod(p)
		for _, i := range sc.active {
			if m, ok := sc.states[i].(framework.MutableState); ok {
				m.AddPod(sc.pod, p, node)
			}
		}
	}
	for _, p := range potential {
		remove(p)
	}
	if st, _ := a.filterNode(sc, node); st != nil {
		return nil, st
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i], potential[j]) })
	violatingPods, nonViolatingPods := splitByPDB(potential, budgets)

	cand := &Candidate{Node: orig.Name}
	reprieve := func(p *framework.PodInfo) bool {
		add(p)
		if st, _ := a.filterNode(sc, node); st != nil {
			remove(p)
			cand.Victims = append(cand.Victims, p)
			return false
		}
		return true
	}
	violatingSet := map[*framework.PodInfo]bool{}
	for _, p := range violatingPods {
		if !reprieve(p) {
			cand.NumPDBViolations++
			violatingSet[p] = true
		}
	}
	for _, p := range nonViolatingPods {
		reprieve(p)
	}
	if len(violatingPods) > 0 && len(nonViolatingPods) > 0 {
		sort.SliceStable(cand.Victims, func(i, j int) bool { return moreImportant(cand.Victims[i], cand.Victims[j]) })
	}
	cand.Violating = make([]bool, len(cand.Victims))
	for i, p := range cand.Victims {
		cand.Violating[i] = violatingSet[p]
	}
	return cand, nil
}

// moreImportant orders victims: higher priority first, then the one that started earlier.
func moreImportant(a, b *framework.PodInfo) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	return startTime(a.Pod) < startTime(b.Pod)
}

// startTime is status.startTime, or the creation time for a pod that has not started (upstream
// uses "now" there; the creation time keeps the choice reproducible).
func startTime(pod *v1.Pod) int64 {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.UnixNano()
	}
	return pod.CreationTimestamp.UnixNano()
}

type budget struct {
	namespace string
	selector  labels.Selector
	allowed   int32
	disrupted map[string]metav1.Time
}

func parsePDBs(pdbs []*policyv1.PodDisruptionBudget) []budget {
	out := make([]budget, 0, len(pdbs))
	for _, p := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		out = append(out, budget{namespace: p.Namespace, selector: sel, allowed: p.Status.DisruptionsAllowed, disrupted: p.Status.DisruptedPods})
	}
	return out
}

// splitByPDB separates the pods whose eviction would exceed a budget (counting the earlier
// pods of the list against it first) from the others, keeping their order.
func splitByPDB(pods []*framework.PodInfo, budgets []budget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(budgets))
	for i, b := range budgets {
		allowed[i] = b.allowed
	}
	for _, p := range pods {
		v := false
		if len(p.Pod.Labels) > 0 {
			for i, b := range budgets {
				if b.namespace != p.Pod.Namespace || !b.selector.Matches(labels.Set(p.Pod.Labels)) {
					continue
				}
				if _, already := b.disrupted[p.Pod.Name]; already {
					continue
				}
				allowed[i]--
				if allowed[i] < 0 {
					v = true
				}
			}
		}
		if v {
			violating = append(violating, p)
		} else {
			nonViolating = append(nonViolating, p)
		}
	}
	return violating, nonViolating
}

// pickCandidate applies upstream's ordered criteria; ties keep the earlier candidate.
func pickCandidate(cands []*Candidate) *Candidate {
	score := []func(c *Candidate) int64{
		func(c *Candidate) int64 { return -int64(c.NumPDBViolations) },
		func(c *Candidate) int64 { return -int64(c.Victims[0].Priority) },
		func(c *Candidate) int64 {
			var sum int64
			for _, p := range c.Victims {
				sum += int64(p.Priority) + int64(math.MaxInt32+1)
			}
			return -sum
		},
		func(c *Candidate) int64 { return -int64(len(c.Victims)) },
		func(c *Candidate) int64 {
			// The earliest start among the highest-priority victims: later is better.
			top := c.Victims[0].Priority
			earliest := int64(math.MaxInt64)
			for _, p := range c.Victims {
				if p.Priority == top {
					earliest = min(earliest, startTime(p.Pod))
				}
			}
			return earliest
		},
	}
	for _, f := range score {
		var kept []*Candidate
		best := int64(math.MinInt64)
		for _, c := range cands {
			s := f(c)
			if s > best {
				best, kept = s, kept[:0]
			}
			if s == best {
				kept = append(kept, c)
			}
		}
		if len(kept) == 1 {
			return kept[0]
		}
		cands = kept
	}
	return cands[0]
}

func offsetHash(pod *framework.PodInfo) uint64 {
	h := fnv.New64a()
	h.Write([]byte(pod.Pod.UID))
	return h.Sum64()
}
