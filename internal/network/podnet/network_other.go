//go:build !linux

package podnet

import (
	"context"
	"errors"
	"fmt"

	coreinformers "k8s.io/client-go/informers/core/v1"
)

// Network is the pod network of a node; only Linux nodes have one.
type Network struct{}

// New fails: pod routes need Linux.
func New(Config, coreinformers.NodeInformer) (*Network, error) {
	return nil, fmt.Errorf("pod network: %w on this system", errors.ErrUnsupported)
}

// Run fails: pod routes need Linux.
func (*Network) Run(context.Context) error { return errors.ErrUnsupported }

// PodMTU is 0, the device default.
func PodMTU(Config) (int, error) { return 0, nil }

// Remove has nothing to remove.
func Remove() error { return nil }
