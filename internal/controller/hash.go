package controller

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// TemplateHash is upstream's controller.ComputeHash: FNV-32a over a stable dump of the
// template, then the collision count, encoded so it is safe in names and label values. The
// same template gives the same hash as kube-controller-manager (pod-template-hash,
// controller-revision-hash).
func TemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*t))
	if collisionCount != nil {
		b := make([]byte, 8) // upstream writes 8 bytes, the last 4 zero
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
