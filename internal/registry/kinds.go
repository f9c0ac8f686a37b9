package registry

import (
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// Kinds returns every served kind in a stable order: core/v1 first, then one group after the
// other. The two versions of HorizontalPodAutoscaler are two Kinds, v2 (preferred) first. The
// Kinds are shared and must not be modified.
//
// To serve one more kind:
//  1. write its rules, in the file of its group, from k8s.io/kubernetes/pkg/registry/<group>/<kind>/strategy.go;
//  2. make sure its group's install package is imported in scheme.go;
//  3. add a line below with the names, scope, short names, categories and subresources that
//     `kubectl api-resources` and `kubectl get --raw /apis/<group>/<version>` show against
//     Kubernetes (short names and categories are in <kind>/storage/storage.go upstream).
//
// The tests check each kind's types against Scheme and its table and rules for panics.
func Kinds() []*Kind {
	return append([]*Kind(nil), kinds()...)
}

var kinds = sync.OnceValue(func() []*Kind {
	return shareStorage([]*Kind{
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Namespace"), Resource: "namespaces", Singular: "namespace",
			ShortNames: []string{"ns"}, Subresources: []string{"status", "finalize"}}, namespaceRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Pod"), Resource: "pods", Singular: "pod", Namespaced: true,
			ShortNames: []string{"po"}, Categories: []string{"all"}, Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy"}}, podRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Service"), Resource: "services", Singular: "service", Namespaced: true,
			ShortNames: []string{"svc"}, Categories: []string{"all"}, Subresources: []string{"status", "proxy"}}, serviceRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Endpoints"), Resource: "endpoints", Singular: "endpoints", Namespaced: true,
			ShortNames: []string{"ep"}}, endpointsRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ConfigMap"), Resource: "configmaps", Singular: "configmap", Namespaced: true,
			ShortNames: []string{"cm"}}, configMapRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Secret"), Resource: "secrets", Singular: "secret", Namespaced: true},
			secretRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Node"), Resource: "nodes", Singular: "node",
			ShortNames: []string{"no"}, Subresources: []string{"status", "proxy"}}, nodeRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Event"), Resource: "events", Singular: "event", Namespaced: true,
			ShortNames: []string{"ev"}}, coreEventRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ServiceAccount"), Resource: "serviceaccounts", Singular: "serviceaccount", Namespaced: true,
			ShortNames: []string{"sa"}}, serviceAccountRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("PersistentVolume"), Resource: "persistentvolumes", Singular: "persistentvolume",
			ShortNames: []string{"pv"}, Subresources: []string{"status"}}, persistentVolumeRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), Resource: "persistentvolumeclaims", Singular: "persistentvolumeclaim", Namespaced: true,
			ShortNames: []string{"pvc"}, Subresources: []string{"status"}}, persistentVolumeClaimRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("LimitRange"), Resource: "limitranges", Singular: "limitrange", Namespaced: true,
			ShortNames: []string{"limits"}}, limitRangeRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ResourceQuota"), Resource: "resourcequotas", Singular: "resourcequota", Namespaced: true,
			ShortNames: []string{"quota"}, Subresources: []string{"status"}}, resourceQuotaRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("PodTemplate"), Resource: "podtemplates", Singular: "podtemplate", Namespaced: true},
			podTemplateRules),
		kind(Kind{GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ReplicationController"), Resource: "replicationcontrollers", Singular: "replicationcontroller", Namespaced: true,
			ShortNames: []string{"rc"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"}, Scale: replicationControllerScale}, replicationControllerRules),

		kind(Kind{GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Deployment"), Resource: "deployments", Singular: "deployment", Namespaced: true,
			ShortNames: []string{"deploy"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"}, Scale: deploymentScale}, deploymentRules),
		kind(Kind{GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), Resource: "replicasets", Singular: "replicaset", Namespaced: true,
			ShortNames: []string{"rs"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"}, Scale: replicaSetScale}, replicaSetRules),
		kind(Kind{GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("StatefulSet"), Resource: "statefulsets", Singular: "statefulset", Namespaced: true,
			ShortNames: []string{"sts"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"}, Scale: statefulSetScale}, statefulSetRules),
		kind(Kind{GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("DaemonSet"), Resource: "daemonsets", Singular: "daemonset", Namespaced: true,
			ShortNames: []string{"ds"}, Categories: []string{"all"}, Subresources: []string{"status"}}, daemonSetRules),
		kind(Kind{GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("ControllerRevision"), Resource: "controllerrevisions", Singular: "controllerrevision", Namespaced: true},
			controllerRevisionRules),

		kind(Kind{GroupVersionKind: batchv1.SchemeGroupVersion.WithKind("Job"), Resource: "jobs", Singular: "job", Namespaced: true,
			Categories: []string{"all"}, Subresources: []string{"status"}}, jobRules),
		kind(Kind{GroupVersionKind: batchv1.SchemeGroupVersion.WithKind("CronJob"), Resource: "cronjobs", Singular: "cronjob", Namespaced: true,
			ShortNames: []string{"cj"}, Categories: []string{"all"}, Subresources: []string{"status"}}, cronJobRules),

		kind(Kind{GroupVersionKind: autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", Namespaced: true,
			ShortNames: []string{"hpa"}, Categories: []string{"all"}, Subresources: []string{"status"}}, hpaRules[*autoscalingv2.HorizontalPodAutoscaler]()),
		kind(Kind{GroupVersionKind: autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", Namespaced: true,
			ShortNames: []string{"hpa"}, Categories: []string{"all"}, Subresources: []string{"status"}}, hpaRules[*autoscalingv1.HorizontalPodAutoscaler]()),

		kind(Kind{GroupVersionKind: networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"), Resource: "networkpolicies", Singular: "networkpolicy", Namespaced: true,
			ShortNames: []string{"netpol"}}, networkPolicyRules),
		kind(Kind{GroupVersionKind: networkingv1.SchemeGroupVersion.WithKind("Ingress"), Resource: "ingresses", Singular: "ingress", Namespaced: true,
			ShortNames: []string{"ing"}, Subresources: []string{"status"}}, ingressRules),
		kind(Kind{GroupVersionKind: networkingv1.SchemeGroupVersion.WithKind("IngressClass"), Resource: "ingressclasses", Singular: "ingressclass"},
			ingressClassRules),

		kind(Kind{GroupVersionKind: discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), Resource: "endpointslices", Singular: "endpointslice", Namespaced: true},
			endpointSliceRules),

		kind(Kind{GroupVersionKind: certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"), Resource: "certificatesigningrequests", Singular: "certificatesigningrequest",
			ShortNames: []string{"csr"}, Subresources: []string{"status", "approval"}}, certificateSigningRequestRules),

		kind(Kind{GroupVersionKind: coordinationv1.SchemeGroupVersion.WithKind("Lease"), Resource: "leases", Singular: "lease", Namespaced: true},
			leaseRules),

		kind(Kind{GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"), Resource: "clusterrolebindings", Singular: "clusterrolebinding"},
			clusterRoleBindingRules),
		kind(Kind{GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("ClusterRole"), Resource: "clusterroles", Singular: "clusterrole"},
			clusterRoleRules),
		kind(Kind{GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("RoleBinding"), Resource: "rolebindings", Singular: "rolebinding", Namespaced: true},
			roleBindingRules),
		kind(Kind{GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("Role"), Resource: "roles", Singular: "role", Namespaced: true},
			roleRules),

		kind(Kind{GroupVersionKind: policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), Resource: "poddisruptionbudgets", Singular: "poddisruptionbudget", Namespaced: true,
			ShortNames: []string{"pdb"}, Subresources: []string{"status"}}, podDisruptionBudgetRules),

		kind(Kind{GroupVersionKind: storagev1.SchemeGroupVersion.WithKind("StorageClass"), Resource: "storageclasses", Singular: "storageclass",
			ShortNames: []string{"sc"}}, storageClassRules),

		kind(Kind{GroupVersionKind: schedulingv1.SchemeGroupVersion.WithKind("PriorityClass"), Resource: "priorityclasses", Singular: "priorityclass",
			ShortNames: []string{"pc"}}, priorityClassRules),

		kind(Kind{GroupVersionKind: eventsv1.SchemeGroupVersion.WithKind("Event"), Resource: "events", Singular: "event", Namespaced: true,
			ShortNames: []string{"ev"}}, eventsV1Rules),
	})
})

// storageVersions maps kinds served in more than one version to the version kept in
// storage, as kube-apiserver stores them: HPAs as autoscaling/v2, events.k8s.io events as core
// v1 events (the two groups are one resource).
var storageVersions = map[schema.GroupVersionKind]schema.GroupVersionKind{
	autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"): autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
	eventsv1.SchemeGroupVersion.WithKind("Event"):                        corev1.SchemeGroupVersion.WithKind("Event"),
}

func shareStorage(ks []*Kind) []*Kind {
	byGVK := map[schema.GroupVersionKind]*Kind{}
	for _, k := range ks {
		byGVK[k.GroupVersionKind] = k
	}
	for from, to := range storageVersions {
		byGVK[from].Storage = byGVK[to]
	}
	return ks
}

// Convert converts obj, a versioned object, to the version of kind to, through Kubernetes'
// internal types.
func Convert(obj runtime.Object, to schema.GroupVersionKind) (runtime.Object, error) {
	from := obj.GetObjectKind().GroupVersionKind()
	internal, err := legacyscheme.Scheme.ConvertToVersion(obj, schema.GroupVersion{Group: from.Group, Version: runtime.APIVersionInternal})
	if err != nil {
		return nil, fmt.Errorf("convert %s to internal: %w", from, err)
	}
	out, err := legacyscheme.Scheme.ConvertToVersion(internal, to.GroupVersion())
	if err != nil {
		return nil, fmt.Errorf("convert %s to %s: %w", from, to, err)
	}
	out.GetObjectKind().SetGroupVersionKind(to)
	return out, nil
}

// kind completes k with New, NewList and the strategy built from r. V must be the type
// Scheme registers for k.GroupVersionKind, and Scheme must know its list.
func kind[V, I runtime.Object](k Kind, r rules[V, I]) *Kind {
	list := k.GroupVersionKind.GroupVersion().WithKind(k.GroupVersionKind.Kind + "List")
	if _, err := scheme.New(list); err != nil {
		panic(fmt.Sprintf("registry: %s: %v", k.Resource, err))
	}
	k.New = func() runtime.Object { return newObject[V]() }
	k.NewList = func() runtime.Object {
		obj, _ := scheme.New(list)
		return obj
	}
	k.Strategy = &strategy[V, I]{gvk: k.GroupVersionKind, resource: k.Resource, namespaced: k.Namespaced, rules: r}
	return &k
}
