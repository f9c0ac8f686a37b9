// Package admission is the ordered chain of admission plugins every write passes through after
// authentication and authorization: mutating plugins first, then validating ones, as in
// kube-apiserver. Adding a plugin is adding a type and a line where the chain is built.
package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is the kind of write being admitted.
type Operation string

const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Attributes describe one write.
type Attributes struct {
	Operation   Operation
	Kind        schema.GroupVersionKind
	Resource    schema.GroupVersionResource
	Subresource string
	Namespace   string
	Name        string
	// Object is the object being written (nil for deletes); OldObject the stored one (nil for
	// creates). Mutating plugins may change Object.
	Object    runtime.Object
	OldObject runtime.Object
	UserName  string
	Groups    []string
	DryRun    bool
}

// Mutator may change the object being written.
type Mutator interface {
	Admit(ctx context.Context, a *Attributes) error
}

// Validator may only accept or refuse the write.
type Validator interface {
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs plugins in order. Each plugin implements Mutator, Validator or both.
type Chain []any

// Admit runs every Mutator in order and stops at the first error.
func (c Chain) Admit(ctx context.Context, a *Attributes) error {
	for _, p := range c {
		if m, ok := p.(Mutator); ok {
			if err := m.Admit(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate runs every Validator in order and stops at the first error.
func (c Chain) Validate(ctx context.Context, a *Attributes) error {
	for _, p := range c {
		if v, ok := p.(Validator); ok {
			if err := v.Validate(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}
