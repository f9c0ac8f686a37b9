package persistentvolume

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// bestMatch is the volume claim should bind to, or nil. As kube-controller-manager's volume
// index does, volumes are tried in groups of equal access modes, the groups with the fewest
// modes first, among those whose modes include all the claim asks for; within a group the
// smallest fitting volume wins. delayed claims take only volumes pre-bound to them.
func (c *Controller) bestMatch(claim *corev1.PersistentVolumeClaim, delayed bool) (*corev1.PersistentVolume, error) {
	all, err := c.volumes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	groups := map[string][]*corev1.PersistentVolume{}
	var keys []string
	for _, pv := range all {
		if !storagehelpers.CheckAccessModes(claim, pv) {
			continue
		}
		k := modesKey(pv.Spec.AccessModes)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], pv)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := len(a) - len(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		pv, err := storagehelpers.FindMatchingVolume(claim, groups[k], nil, nil, delayed, true)
		if err != nil || pv != nil {
			return pv, err
		}
	}
	return nil, nil
}

// modesKey names a set of access modes; fewer modes make a shorter key.
func modesKey(modes []corev1.PersistentVolumeAccessMode) string {
	set := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range modes {
		set[m] = true
	}
	var out []byte
	for _, m := range []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod} {
		if set[m] {
			out = append(out, modeLetter[m])
		}
	}
	return string(out)
}

var modeLetter = map[corev1.PersistentVolumeAccessMode]byte{
	corev1.ReadWriteOnce: 'o', corev1.ReadOnlyMany: 'r', corev1.ReadWriteMany: 'w', corev1.ReadWriteOncePod: 'p',
}
