package daemonset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/json"
)

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
