package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// DefaultStorageClass gives a claim created without storageClassName the cluster's default
// class, as kube-apiserver's plugin of that name: the class annotated
// storageclass.kubernetes.io/is-default-class=true (or its beta spelling), the newest one if
// several are, by name between equals. Without a default class the claim is left alone.
type DefaultStorageClass struct{ Objects Objects }

// Admit sets the default class on claims being created.
func (d *DefaultStorageClass) Admit(ctx context.Context, a *Attributes) error {
	claim, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if a.Operation != Create || a.Subresource != "" || !ok || claim.Spec.StorageClassName != nil {
		return nil
	}
	classes, err := d.Objects.List(ctx, storagev1.SchemeGroupVersion.WithResource("storageclasses"), "")
	if err != nil {
		return fmt.Errorf("list storage classes: %w", err)
	}
	var chosen *storagev1.StorageClass
	for _, obj := range classes {
		class, ok := obj.(*storagev1.StorageClass)
		if !ok || !isDefaultClass(class) {
			continue
		}
		if chosen == nil || class.CreationTimestamp.After(chosen.CreationTimestamp.Time) ||
			class.CreationTimestamp.Equal(&chosen.CreationTimestamp) && class.Name < chosen.Name {
			chosen = class
		}
	}
	if chosen != nil {
		name := chosen.Name
		claim.Spec.StorageClassName = &name
	}
	return nil
}

func isDefaultClass(class *storagev1.StorageClass) bool {
	return class.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" ||
		class.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true"
}
