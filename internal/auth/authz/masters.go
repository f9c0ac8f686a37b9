package authz

import (
	"context"

	"k8s.io/apiserver/pkg/authentication/user"
)

// GroupMasters is the group whose members may do anything.
const GroupMasters = user.SystemPrivilegedGroup

// Masters allows every request of a member of GroupMasters and has no opinion on others,
// as kube-apiserver's privileged group authorizer.
type Masters struct{}

var _ Authorizer = Masters{}

// Authorize implements Authorizer.
func (Masters) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User.InGroup(GroupMasters) {
		return Allow, "", nil
	}
	return NoOpinion, "", nil
}
