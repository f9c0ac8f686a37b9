package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/storage/storageclass/strategy.go
// (Apache-2.0).

import (
	"context"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/storage"
	storagevalidation "k8s.io/kubernetes/pkg/apis/storage/validation"
)

var storageClassRules = rules[*storagev1.StorageClass, *storage.StorageClass]{
	validate: func(ctx context.Context, sc *storage.StorageClass) field.ErrorList {
		return storagevalidation.ValidateStorageClass(sc)
	},
	validateUpdate: func(ctx context.Context, sc, old *storage.StorageClass) field.ErrorList {
		errs := storagevalidation.ValidateStorageClass(sc)
		return append(errs, storagevalidation.ValidateStorageClassUpdate(sc, old)...)
	},
}
