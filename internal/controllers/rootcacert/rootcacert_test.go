package rootcacert

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func configMap(ns string, data map[string]string, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: Name, Annotations: annotations}, Data: data}
}

var described = map[string]string{DescriptionAnnotation: Description}

func TestReconcile(t *testing.T) {
	good := map[string]string{Key: ca}
	tests := []struct {
		name    string
		objects []runtime.Object
		// want is the config map written (created or updated), nil for none.
		wantVerb string
		want     *corev1.ConfigMap
	}{
		{
			name:     "created in an active namespace",
			objects:  []runtime.Object{namespace("a", corev1.NamespaceActive)},
			wantVerb: "create", want: configMap("a", good, described),
		},
		{
			name:    "left alone when right",
			objects: []runtime.Object{namespace("a", corev1.NamespaceActive), configMap("a", good, described)},
		},
		{
			name:     "an edited CA is restored",
			objects:  []runtime.Object{namespace("a", corev1.NamespaceActive), configMap("a", map[string]string{Key: "tampered", "extra": "x"}, described)},
			wantVerb: "update", want: configMap("a", good, described),
		},
		{
			name:     "the description is restored, other annotations kept",
			objects:  []runtime.Object{namespace("a", corev1.NamespaceActive), configMap("a", good, map[string]string{"team": "x"})},
			wantVerb: "update", want: configMap("a", good, map[string]string{"team": "x", DescriptionAnnotation: Description}),
		},
		{
			name:    "not in a terminating namespace",
			objects: []runtime.Object{namespace("a", corev1.NamespaceTerminating)},
		},
		{
			name: "not in a missing namespace",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory, []byte(ca))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
				t.Fatal("caches did not sync")
			}
			client.ClearActions()
			if err := c.Reconcile(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			var written []clienttesting.Action
			for _, a := range client.Actions() {
				if a.GetVerb() != "list" && a.GetVerb() != "watch" {
					written = append(written, a)
				}
			}
			if tt.want == nil {
				if len(written) != 0 {
					t.Errorf("actions %v, want none", written)
				}
				return
			}
			if len(written) != 1 || written[0].GetVerb() != tt.wantVerb {
				t.Fatalf("actions %v, want one %s", written, tt.wantVerb)
			}
			got := written[0].(interface{ GetObject() runtime.Object }).GetObject().(*corev1.ConfigMap)
			if got.Namespace != "a" || got.Name != Name || !maps.Equal(got.Data, tt.want.Data) || !maps.Equal(got.Annotations, tt.want.Annotations) {
				t.Errorf("wrote %s/%s data %v annotations %v, want data %v annotations %v",
					got.Namespace, got.Name, got.Data, got.Annotations, tt.want.Data, tt.want.Annotations)
			}
		})
	}
}

// TestEvents checks which changes queue a namespace.
func TestEvents(t *testing.T) {
	client := fake.NewClientset(namespace("a", corev1.NamespaceActive), configMap("a", map[string]string{Key: ca}, described))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, []byte(ca))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx)
	// Deleting the config map gets it back.
	if err := client.CoreV1().ConfigMaps("a").Delete(ctx, Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if cm, err := c.configMaps.ConfigMaps("a").Get(Name); err == nil && cm.Data[Key] == ca {
			var creates []string
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" {
					creates = append(creates, a.GetResource().Resource)
				}
			}
			if slices.Equal(creates, []string{"configmaps"}) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the deleted config map was not recreated")
}
