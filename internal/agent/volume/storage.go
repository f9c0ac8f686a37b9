package volume

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// cleanStorage removes local-path directories whose PersistentVolume is gone: once at start
// (volumes deleted while the agent was down) and whenever a volume is deleted. The
// provisioner deletes the volume on the server; only the node has the directory.
func (m *Manager) cleanStorage(ctx context.Context) {
	factory := informers.NewSharedInformerFactory(m.client, 0)
	pvs := factory.Core().V1().PersistentVolumes().Informer()
	sweep := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case sweep <- struct{}{}:
		default:
		}
	}
	if _, err := pvs.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: poke}); err != nil {
		m.log.Error("watch persistent volumes", "err", err)
		return
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pvs.HasSynced) {
		return
	}
	poke(nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep:
			if err := m.sweepStorage(ctx); err != nil {
				m.log.Error("remove deleted local-path volumes", "err", err)
			}
		}
	}
}

// sweepStorage removes every pvc-* directory of the storage directory whose volume the API
// does not have (a live read: a lagging cache must not cost data).
func (m *Manager) sweepStorage(ctx context.Context) error {
	entries, err := os.ReadDir(m.storageDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "pvc-") {
			continue
		}
		_, err := m.client.CoreV1().PersistentVolumes().Get(ctx, e.Name(), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			continue
		}
		dir := filepath.Join(m.storageDir, e.Name())
		m.log.Info("removing the directory of a deleted local-path volume", "path", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}
