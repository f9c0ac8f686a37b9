package scheduler

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"

	"github.com/gantryhq/gantry/internal/scheduler/framework"
)

// Upstream VolumeBinding's reasons.
const (
	volumeBindingName      = "VolumeBinding"
	errUnboundImmediate    = "pod has unbound immediate PersistentVolumeClaims"
	errNodeConflict        = "node(s) had volume node affinity conflict"
	errBindConflict        = "node(s) didn't find available persistent volumes to bind"
	errBoundToMissingPV    = "pvc(s) bound to non-existent pv(s)"
	noProvisioner          = "kubernetes.io/no-provisioner"
	annSelectedNode        = "volume.kubernetes.io/selected-node"
	volumeBindTimeout      = 10 * time.Minute // kube-scheduler's bindTimeoutSeconds
	volumeBindPollInterval = 100 * time.Millisecond
)

// volumeBinding is kube-scheduler's VolumeBinding plugin: a pod's bound claims restrict it
// to the nodes their volumes' node affinity allows; its unbound claims of a
// WaitForFirstConsumer class need, on the node, either an available volume that fits or a
// class that can provision there. It reads claims, volumes and classes from the
// scheduler's informer caches (no API calls). Binding (PreBind) is bindVolumes.
type volumeBinding struct {
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
}

var _ framework.Filter = volumeBinding{}

func (volumeBinding) Name() string { return volumeBindingName }

// volumeState is what PreFilter found: the volumes of bound claims, and the claims waiting
// for a node with the candidate volumes.
type volumeState struct {
	bound   []*v1.PersistentVolume
	delayed []*v1.PersistentVolumeClaim
	classes map[string]*storagev1.StorageClass
	pvs     []*v1.PersistentVolume
}

// podClaims names the claims of a pod's volumes (generic ephemeral: <pod>-<volume>).
func podClaims(pod *v1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			names = append(names, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			names = append(names, pod.Name+"-"+v.Name)
		}
	}
	return names
}

func (b volumeBinding) PreFilter(pi *framework.PodInfo, _ *framework.Snapshot) (any, bool, *framework.Status) {
	names := podClaims(pi.Pod)
	if len(names) == 0 {
		return nil, true, nil
	}
	st := &volumeState{classes: map[string]*storagev1.StorageClass{}}
	for _, name := range names {
		claim, err := b.claims.PersistentVolumeClaims(pi.Pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return nil, false, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return nil, false, framework.NewStatus(framework.Error, err.Error())
		}
		if claim.DeletionTimestamp != nil {
			return nil, false, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if claim.Spec.VolumeName != "" {
			pv, err := b.volumes.Get(claim.Spec.VolumeName)
			if err != nil {
				return nil, false, framework.NewStatus(framework.UnschedulableAndUnresolvable, errBoundToMissingPV)
			}
			st.bound = append(st.bound, pv)
			continue
		}
		delayed, err := storagehelpers.IsDelayBindingMode(claim, b.classes)
		if err != nil {
			return nil, false, framework.NewStatus(framework.Error, err.Error())
		}
		if !delayed {
			return nil, false, framework.NewStatus(framework.UnschedulableAndUnresolvable, errUnboundImmediate)
		}
		className := storagehelpers.GetPersistentVolumeClaimClass(claim)
		if class, err := b.classes.Get(className); err == nil {
			st.classes[className] = class
		}
		st.delayed = append(st.delayed, claim)
	}
	if len(st.delayed) > 0 {
		pvs, err := b.volumes.List(labels.Everything())
		if err != nil {
			return nil, false, framework.NewStatus(framework.Error, err.Error())
		}
		st.pvs = pvs
	}
	return st, false, nil
}

func (b volumeBinding) Filter(state any, _ *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	st := state.(*volumeState)
	for _, pv := range st.bound {
		if err := storagehelpers.CheckNodeAffinity(pv, node.Node.Labels); err != nil {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, errNodeConflict)
		}
	}
	if _, ok := placeClaims(st.delayed, st.pvs, st.classes, node.Node); !ok {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, errBindConflict)
	}
	return nil
}

// placeClaims decides, for node, how each waiting claim gets a volume: an available volume
// that fits (chosen[claim] = volume) or provisioning (absent from chosen). ok is false if
// some claim can have neither.
func placeClaims(claims []*v1.PersistentVolumeClaim, pvs []*v1.PersistentVolume, classes map[string]*storagev1.StorageClass, node *v1.Node) (map[*v1.PersistentVolumeClaim]*v1.PersistentVolume, bool) {
	chosen := map[*v1.PersistentVolumeClaim]*v1.PersistentVolume{}
	taken := map[string]*v1.PersistentVolume{}
	for _, claim := range claims {
		pv, err := storagehelpers.FindMatchingVolume(claim, pvs, node, taken, true, true)
		if err == nil && pv != nil {
			chosen[claim] = pv
			taken[pv.Name] = pv
			continue
		}
		class := classes[storagehelpers.GetPersistentVolumeClaimClass(claim)]
		if class == nil || class.Provisioner == noProvisioner ||
			len(class.AllowedTopologies) > 0 && !v1helper.MatchTopologySelectorTerms(class.AllowedTopologies, labels.Set(node.Labels)) {
			return nil, false
		}
	}
	return chosen, true
}

// bindVolumes is VolumeBinding's PreBind: before the pod is bound to node, each waiting
// claim is bound to the volume chosen for it (claimRef on the volume, as kube-scheduler
// does) or gets the selected-node annotation that asks its provisioner for a volume there;
// then it waits, as kube-scheduler does, until the persistentvolume controller has bound
// every claim, so the node's agent finds them bound.
func bindVolumes(ctx context.Context, client kubernetes.Interface, b volumeBinding, pod *v1.Pod, node *v1.Node) error {
	st, _, status := b.PreFilter(&framework.PodInfo{Pod: pod}, nil)
	if !status.IsSuccess() {
		return fmt.Errorf("%s", status.Message())
	}
	if st == nil || len(st.(*volumeState).delayed) == 0 {
		return nil
	}
	vs := st.(*volumeState)
	chosen, ok := placeClaims(vs.delayed, vs.pvs, vs.classes, node)
	if !ok {
		return fmt.Errorf("%s", errBindConflict)
	}
	for _, claim := range vs.delayed {
		if pv := chosen[claim]; pv != nil {
			bound, dirty, err := storagehelpers.GetBindVolumeToClaim(pv, claim)
			if err != nil {
				return err
			}
			if dirty {
				if _, err := client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
					return fmt.Errorf("bind volume %s to claim %s/%s: %w", pv.Name, claim.Namespace, claim.Name, err)
				}
			}
			continue
		}
		if claim.Annotations[annSelectedNode] == node.Name {
			continue
		}
		next := claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&next.ObjectMeta, annSelectedNode, node.Name)
		if _, err := client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("select node %s for claim %s/%s: %w", node.Name, claim.Namespace, claim.Name, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, volumeBindPollInterval, volumeBindTimeout, true, func(context.Context) (bool, error) {
		for _, claim := range vs.delayed {
			current, err := b.claims.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
			if err != nil {
				return false, err
			}
			if current.UID != claim.UID {
				return false, fmt.Errorf("claim %s/%s was recreated", claim.Namespace, claim.Name)
			}
			if !metav1.HasAnnotation(current.ObjectMeta, storagehelpers.AnnBindCompleted) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("binding volumes: %w", err)
	}
	return nil
}
