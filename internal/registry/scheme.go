package registry

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	// Each install package registers its group's internal and versioned types, conversions,
	// defaulting functions, declarative validation and field label conversions into
	// legacyscheme.Scheme, which the strategies use. These are library packages: nothing here
	// starts a server.
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/autoscaling/install"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/certificates/install"
	_ "k8s.io/kubernetes/pkg/apis/coordination/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/discovery/install"
	_ "k8s.io/kubernetes/pkg/apis/events/install"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	_ "k8s.io/kubernetes/pkg/apis/scheduling/install"
	_ "k8s.io/kubernetes/pkg/apis/storage/install"
)

// scheme holds only versioned types: every k8s.io/api group client-go knows, the metav1
// types every group version carries (ListOptions, DeleteOptions, WatchEvent...), the
// unversioned Status, and meta.k8s.io/v1 (Table, PartialObjectMetadata). Kubernetes' internal
// types live in legacyscheme.Scheme and never leave this package.
var scheme = newScheme()

// Codecs encodes and decodes the objects of Scheme: JSON, YAML and protobuf.
// Use Codecs.UniversalDeserializer() for request bodies; it never converts or defaults.
var Codecs = serializer.NewCodecFactory(scheme)

// Scheme returns the scheme of the versioned types the API server reads and writes.
// It is shared: do not register more types into it.
func Scheme() *runtime.Scheme { return scheme }

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(metav1.AddMetaToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}
