package registry

// The rules below follow k8s.io/kubernetes/pkg/registry/certificates/certificates/strategy.go
// (Apache-2.0).

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/apis/certificates"
	certificatesvalidation "k8s.io/kubernetes/pkg/apis/certificates/validation"
)

var certificateSigningRequestRules = rules[*certificatesv1.CertificateSigningRequest, *certificates.CertificateSigningRequest]{
	// The requester is whoever created the request, never what the body claims: the
	// approver and the signer trust spec.username and spec.groups.
	prepareCreate: func(ctx context.Context, csr *certificates.CertificateSigningRequest) {
		csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
		if u, ok := genericapirequest.UserFrom(ctx); ok {
			csr.Spec.Username = u.GetName()
			csr.Spec.UID = u.GetUID()
			csr.Spec.Groups = u.GetGroups()
			if extra := u.GetExtra(); len(extra) > 0 {
				csr.Spec.Extra = map[string]certificates.ExtraValue{}
				for k, v := range extra {
					csr.Spec.Extra[k] = v
				}
			}
		}
		csr.Status = certificates.CertificateSigningRequestStatus{Conditions: []certificates.CertificateSigningRequestCondition{}}
	},
	// Requests are immutable except through their subresources.
	prepareUpdate: func(ctx context.Context, csr, old *certificates.CertificateSigningRequest) {
		csr.Spec = old.Spec
		csr.Status = old.Status
	},
	prepareStatusUpdate: func(ctx context.Context, csr, old *certificates.CertificateSigningRequest) {
		csr.Spec = old.Spec
		preserveConditions(csr, old, certificates.CertificateApproved)
		preserveConditions(csr, old, certificates.CertificateDenied)
		conditionTimestamps(csr, old)
	},
	prepareApprovalUpdate: func(ctx context.Context, csr, old *certificates.CertificateSigningRequest) {
		conditionTimestamps(csr, old)
		conditions := csr.Status.Conditions
		csr.Spec = old.Spec
		csr.Status = old.Status
		csr.Status.Conditions = conditions
	},
	validate: func(ctx context.Context, csr *certificates.CertificateSigningRequest) field.ErrorList {
		return certificatesvalidation.ValidateCertificateSigningRequestCreate(csr)
	},
	validateUpdate: func(ctx context.Context, csr, old *certificates.CertificateSigningRequest) field.ErrorList {
		return certificatesvalidation.ValidateCertificateSigningRequestUpdate(csr, old)
	},
	validateStatusUpdate: func(ctx context.Context, csr, old *certificates.CertificateSigningRequest) field.ErrorList {
		return certificatesvalidation.ValidateCertificateSigningRequestStatusUpdate(csr, old)
	},
	validateApprovalUpdate: func(ctx context.Context, csr, old *certificates.CertificateSigningRequest) field.ErrorList {
		return certificatesvalidation.ValidateCertificateSigningRequestApprovalUpdate(csr, old)
	},
	fields: func(csr *certificatesv1.CertificateSigningRequest) fields.Set {
		return fields.Set{"spec.signerName": csr.Spec.SignerName}
	},
}

// preserveConditions keeps old's conditions of type t in csr when a status write has as many
// of them: only the approval subresource may change approval. Added or removed ones are left
// for validation to reject.
func preserveConditions(csr, old *certificates.CertificateSigningRequest, t certificates.RequestConditionType) {
	oldIdx, newIdx := conditionIndices(old, t), conditionIndices(csr, t)
	if len(oldIdx) != len(newIdx) {
		return
	}
	for i, o := range oldIdx {
		csr.Status.Conditions[newIdx[i]] = old.Status.Conditions[o]
	}
}

func conditionIndices(csr *certificates.CertificateSigningRequest, t certificates.RequestConditionType) []int {
	var idx []int
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			idx = append(idx, i)
		}
	}
	return idx
}

// conditionTimestamps sets missing lastUpdateTime and lastTransitionTime, keeping the
// transition time of a condition whose type and status did not change.
func conditionTimestamps(csr, old *certificates.CertificateSigningRequest) {
	now := metav1.Now()
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, o := range old.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
				break
			}
		}
	}
}
