package daemonset

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/rand"
)

// templateHash is upstream's controller.ComputeHash: FNV-32a over a stable dump of the
// template, then the collision count, encoded so it is safe in names and label values. The
// same template gives the same hash as kube-controller-manager.
func templateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*t))
	if collisionCount != nil {
		b := make([]byte, 8) // upstream writes 8 bytes, the last 4 zero
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionData is what a ControllerRevision of ds holds: a strategic merge patch that
// replaces spec.template. kubectl rollout undo applies it, and compares it byte for byte with
// the one it computes from the live DaemonSet, so it must be built as kubectl builds it: the
// template through a generic map, whose keys encoding/json sorts.
func revisionData(ds *appsv1.DaemonSet) ([]byte, error) {
	b, err := json.Marshal(ds.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("encode template of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	var template map[string]any
	if err := json.Unmarshal(b, &template); err != nil {
		return nil, fmt.Errorf("decode template of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}
