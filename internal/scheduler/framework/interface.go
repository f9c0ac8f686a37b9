package framework

import "strings"

// Code says whether a pod may go to a node and, if not, whether evicting pods could change that.
type Code int

const (
	// Success: the node passes.
	Success Code = iota
	// Unschedulable: the node fails, but removing pods from it could make it pass (preemption
	// considers it).
	Unschedulable
	// UnschedulableAndUnresolvable: the node fails whatever pods are removed.
	UnschedulableAndUnresolvable
	// Error: something went wrong that is not the pod's fault.
	Error
)

// Status is the verdict of a filter. A nil *Status means Success. Statuses are immutable and
// may be shared (filters keep their common ones in package variables).
type Status struct {
	code    Code
	reasons []string
}

// NewStatus returns a status with the reasons Kubernetes would print for it.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// Code returns Success for a nil status.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsRejected reports Unschedulable or UnschedulableAndUnresolvable.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons are the messages counted in a FitError ("Insufficient cpu").
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Filter decides whether a node can hold a pod. Filters are pure: they read the pod, the node
// and the snapshot, and never change them.
type Filter interface {
	// Name is the upstream plugin name (NodeResourcesFit, TaintToleration…); the queue uses it
	// to decide which cluster events may help a pod it rejected.
	Name() string
	// PreFilter runs once per pod and scheduling cycle. It returns the state Filter needs
	// (nil is fine), skip=true when Filter has nothing to check for this pod, or a non-nil
	// status when the pod fits no node at all (its reasons are then the whole message).
	PreFilter(pod *PodInfo, snap *Snapshot) (state any, skip bool, status *Status)
	// Filter checks one node. It may run concurrently for different nodes.
	Filter(state any, pod *PodInfo, node *NodeInfo) *Status
}

// MutableState is implemented by filter states that depend on pods elsewhere in the cluster
// (pod affinity, topology spread). Preemption and nominated pods use it to ask "what if this
// pod were added to, or removed from, that node" without rebuilding the snapshot.
type MutableState interface {
	Clone() any
	AddPod(pod *PodInfo, other *PodInfo, node *NodeInfo)
	RemovePod(pod *PodInfo, other *PodInfo, node *NodeInfo)
}

// Scorer ranks the nodes that passed every filter. Scores are 0..MaxNodeScore after
// normalization, then multiplied by the scorer's weight.
type Scorer interface {
	Name() string
	// PreScore runs once per pod over the feasible nodes; ok=false leaves every node at 0.
	PreScore(pod *PodInfo, snap *Snapshot, nodes []*NodeInfo) (state any, ok bool)
	// Score rates one node. It may run concurrently for different nodes.
	Score(state any, pod *PodInfo, node *NodeInfo) int64
}

// Normalizer is implemented by scorers whose raw scores need rescaling into 0..MaxNodeScore.
// scores[i] belongs to nodes[i] of PreScore.
type Normalizer interface {
	Normalize(state any, scores []int64)
}

// MaxNodeScore is the highest score a scorer gives a node.
const MaxNodeScore int64 = 100

// WeightedScorer is a scorer with its weight.
type WeightedScorer struct {
	Scorer
	Weight int64
}

// DefaultNormalizeScore scales scores to 0..max proportionally to the highest one, reversed
// if asked (upstream helper.DefaultNormalizeScore).
func DefaultNormalizeScore(max int64, reverse bool, scores []int64) {
	var highest int64
	for _, s := range scores {
		if s > highest {
			highest = s
		}
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i] = max
			}
		}
		return
	}
	for i, s := range scores {
		s = max * s / highest
		if reverse {
			s = max - s
		}
		scores[i] = s
	}
}
