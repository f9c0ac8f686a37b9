package statefulset

import (
	"fmt"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setKind is what the controller references of pods, claims and revisions name.
var setKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// podKind is what a claim's reference to the pod that owns it names.
var podKind = corev1.SchemeGroupVersion.WithKind("Pod")

var ordinalName = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// parentAndOrdinal splits a pod name "<set>-<i>"; a name of another form gives "", -1.
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := ordinalName.FindStringSubmatch(pod.Name)
	if m == nil {
		return "", -1
	}
	i, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(i)
}

func ordinal(pod *corev1.Pod) int {
	_, i := parentAndOrdinal(pod)
	return i
}

// isMember reports whether pod's name makes it one of set's pods.
func isMember(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(pod)
	return parent == set.Name
}

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals == nil {
		return 0
	}
	return int(set.Spec.Ordinals.Start)
}

// inRange reports whether pod's ordinal is one set currently wants.
func inRange(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	i := ordinal(pod)
	return i >= startOrdinal(set) && i < startOrdinal(set)+replicas(set)
}

func podName(set *appsv1.StatefulSet, i int) string {
	return fmt.Sprintf("%s-%d", set.Name, i)
}

func claimName(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, i int) string {
	return fmt.Sprintf("%s-%s-%d", template.Name, set.Name, i)
}

// identityMatches reports whether pod has the name, namespace and labels of a member of set.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, i := parentAndOrdinal(pod)
	return i >= 0 && parent == set.Name && pod.Name == podName(set, i) && pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name
}

// setIdentity gives pod the labels of its ordinal.
func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal(pod))
}

// storageMatches reports whether pod mounts every claim set's templates make for it.
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	i := ordinal(pod)
	if i < 0 {
		return false
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		v, ok := vols[t.Name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claimName(set, &t, i) {
			return false
		}
	}
	return true
}

// setStorage makes pod mount its claims, replacing template volumes of the same names.
func setStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	i := ordinal(pod)
	templates := map[string]bool{}
	var vols []corev1.Volume
	for _, t := range set.Spec.VolumeClaimTemplates {
		templates[t.Name] = true
		vols = append(vols, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(set, &t, i)}}})
	}
	for _, v := range pod.Spec.Volumes {
		if !templates[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}

// claimsFor returns the claims pod needs, built from set's templates. Claims carry the
// selector's labels, as upstream's do.
func claimsFor(set *appsv1.StatefulSet, pod *corev1.Pod) []*corev1.PersistentVolumeClaim {
	i := ordinal(pod)
	var out []*corev1.PersistentVolumeClaim
	for _, t := range set.Spec.VolumeClaimTemplates {
		c := t.DeepCopy()
		c.Name = claimName(set, &t, i)
		c.Namespace = set.Namespace
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		out = append(out, c)
	}
	return out
}

// newPod builds the pod with ordinal i from set's template, at revision.
func newPod(set *appsv1.StatefulSet, i int, revision string) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, i),
			Namespace:       set.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, setKind)},
		},
		Spec: t.Spec,
	}
	setIdentity(set, pod)
	pod.Labels[appsv1.StatefulSetRevisionLabel] = revision
	// Hostname and subdomain are immutable: they are set at creation only.
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	setStorage(set, pod)
	return pod
}

func revisionOf(pod *corev1.Pod) string {
	return pod.Labels[appsv1.StatefulSetRevisionLabel]
}
