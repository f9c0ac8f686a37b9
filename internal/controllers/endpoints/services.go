package endpoints

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// podHandler returns an event handler that calls enqueue with the key of every Service
// whose selector matches a pod that was added, changed or deleted, with its old labels and
// its new.
func podHandler(services corelisters.ServiceLister, enqueue func(key string)) cache.ResourceEventHandler {
	forPod := func(pod *corev1.Pod) {
		list, err := services.Services(pod.Namespace).List(labels.Everything())
		if err != nil {
			return
		}
		for _, svc := range list {
			if svc.Spec.Selector == nil {
				continue
			}
			if labels.Set(svc.Spec.Selector).AsSelectorPreValidated().Matches(labels.Set(pod.Labels)) {
				enqueue(pod.Namespace + "/" + svc.Name)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { forPod(obj.(*corev1.Pod)) },
		UpdateFunc: func(oldObj, newObj any) {
			old, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if old.ResourceVersion == pod.ResourceVersion {
				return
			}
			forPod(pod)
			if !labels.Equals(old.Labels, pod.Labels) {
				forPod(old)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				forPod(pod)
			}
		},
	}
}
