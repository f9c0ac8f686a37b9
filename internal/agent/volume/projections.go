package volume

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	podresource "k8s.io/kubernetes/pkg/api/v1/resource"
	"k8s.io/kubernetes/pkg/fieldpath"
)

// defaultMode is the API's default for the file modes of projected volumes; pods that came
// through the API always carry it explicitly.
const defaultMode int32 = 0o644

func modeOr(mode *int32) int32 {
	if mode == nil {
		return defaultMode
	}
	return *mode
}

func (m *Manager) setupConfigMap(ctx context.Context, pod *corev1.Pod, dir string, src *corev1.ConfigMapVolumeSource) error {
	optional := src.Optional != nil && *src.Optional
	cm, err := m.configMap(ctx, pod.Namespace, src.Name, optional)
	if err != nil {
		return err
	}
	p, err := configMapPayload(src.Items, cm, modeOr(src.DefaultMode), optional)
	if err != nil {
		return err
	}
	return m.writeVolume(ctx, pod, dir, true, p)
}

func (m *Manager) setupSecret(ctx context.Context, pod *corev1.Pod, dir string, src *corev1.SecretVolumeSource) error {
	optional := src.Optional != nil && *src.Optional
	secret, err := m.secret(ctx, pod.Namespace, src.SecretName, optional)
	if err != nil {
		return err
	}
	p, err := secretPayload(src.Items, secret, modeOr(src.DefaultMode), optional)
	if err != nil {
		return err
	}
	// Secrets live in memory, never on the node's disk, as in the kubelet.
	return m.writeVolume(ctx, pod, dir, false, p)
}

func (m *Manager) setupDownwardAPI(ctx context.Context, pod *corev1.Pod, dir string, src *corev1.DownwardAPIVolumeSource) error {
	p, err := m.downwardAPIPayload(ctx, src.Items, pod, modeOr(src.DefaultMode))
	if err != nil {
		return err
	}
	return m.writeVolume(ctx, pod, dir, true, p)
}

func (m *Manager) setupProjected(ctx context.Context, pod *corev1.Pod, volume, dir string, src *corev1.ProjectedVolumeSource, st *podState) error {
	mode := modeOr(src.DefaultMode)
	p := payload{}
	var errs []error
	merge := func(q payload, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for k, v := range q {
			p[k] = v
		}
	}
	for _, s := range src.Sources {
		switch {
		case s.Secret != nil:
			optional := s.Secret.Optional != nil && *s.Secret.Optional
			secret, err := m.secret(ctx, pod.Namespace, s.Secret.Name, optional)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(secretPayload(s.Secret.Items, secret, mode, optional))
		case s.ConfigMap != nil:
			optional := s.ConfigMap.Optional != nil && *s.ConfigMap.Optional
			cm, err := m.configMap(ctx, pod.Namespace, s.ConfigMap.Name, optional)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(configMapPayload(s.ConfigMap.Items, cm, mode, optional))
		case s.DownwardAPI != nil:
			merge(m.downwardAPIPayload(ctx, s.DownwardAPI.Items, pod, mode))
		case s.ServiceAccountToken != nil:
			data, err := m.serviceAccountToken(ctx, pod, volume, s.ServiceAccountToken, st)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p[s.ServiceAccountToken.Path] = file{data: data, mode: mode}
		default:
			errs = append(errs, fmt.Errorf("projected volume source of volume %q is not supported by this node", volume))
		}
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		return err
	}
	return m.writeVolume(ctx, pod, dir, false, p)
}

// writeVolume writes p into dir atomically; a volume not onDisk is a tmpfs first.
func (m *Manager) writeVolume(ctx context.Context, pod *corev1.Pod, dir string, onDisk bool, p payload) error {
	if !onDisk {
		if err := m.mountMemory(ctx, pod, dir, nil); err != nil {
			return err
		}
	}
	if _, err := writeAtomic(dir, p); err != nil {
		return fmt.Errorf("write volume files in %s: %w", dir, err)
	}
	return nil
}

// configMap reads a config map; a missing optional one is empty. The not-found error names
// the resource in the singular, as the kubelet's object cache does.
func (m *Manager) configMap(ctx context.Context, ns, name string, optional bool) (*corev1.ConfigMap, error) {
	cm, err := m.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if optional {
			return &corev1.ConfigMap{}, nil
		}
		return nil, apierrors.NewNotFound(corev1.Resource("configmap"), name)
	}
	return cm, err
}

func (m *Manager) secret(ctx context.Context, ns, name string, optional bool) (*corev1.Secret, error) {
	secret, err := m.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if optional {
			return &corev1.Secret{}, nil
		}
		return nil, apierrors.NewNotFound(corev1.Resource("secret"), name)
	}
	return secret, err
}

// configMapPayload is the files of a configMap volume: every key, or the listed items.
func configMapPayload(items []corev1.KeyToPath, cm *corev1.ConfigMap, mode int32, optional bool) (payload, error) {
	p := payload{}
	if len(items) == 0 {
		for k, v := range cm.Data {
			p[k] = file{data: []byte(v), mode: mode}
		}
		for k, v := range cm.BinaryData {
			p[k] = file{data: v, mode: mode}
		}
		return p, nil
	}
	for _, item := range items {
		var data []byte
		if s, ok := cm.Data[item.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[item.Key]; ok {
			data = b
		} else if optional {
			continue
		} else {
			return nil, fmt.Errorf("configmap references non-existent config key: %s", item.Key)
		}
		p[item.Path] = file{data: data, mode: itemMode(item.Mode, mode)}
	}
	return p, nil
}

func secretPayload(items []corev1.KeyToPath, secret *corev1.Secret, mode int32, optional bool) (payload, error) {
	p := payload{}
	if len(items) == 0 {
		for k, v := range secret.Data {
			p[k] = file{data: v, mode: mode}
		}
		return p, nil
	}
	for _, item := range items {
		data, ok := secret.Data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", item.Key)
		}
		p[item.Path] = file{data: data, mode: itemMode(item.Mode, mode)}
	}
	return p, nil
}

func itemMode(mode *int32, def int32) int32 {
	if mode != nil {
		return *mode
	}
	return def
}

// downwardAPIPayload is the files of a downwardAPI volume: pod fields (metadata.name,
// namespace, uid, labels, annotations) and container resources scaled by their divisor.
func (m *Manager) downwardAPIPayload(ctx context.Context, items []corev1.DownwardAPIVolumeFile, pod *corev1.Pod, mode int32) (payload, error) {
	p := payload{}
	var errs []error
	var allocatable corev1.ResourceList
	for _, item := range items {
		f := file{mode: itemMode(item.Mode, mode)}
		switch {
		case item.FieldRef != nil:
			value, err := fieldpath.ExtractFieldPathAsString(pod, item.FieldRef.FieldPath)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f.data = []byte(value)
		case item.ResourceFieldRef != nil:
			if allocatable == nil {
				var err error
				if allocatable, err = m.nodeAllocatable(ctx); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			value, err := podresource.ExtractResourceValueByContainerNameAndNodeAllocatable(item.ResourceFieldRef, pod, item.ResourceFieldRef.ContainerName, allocatable)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			f.data = []byte(value)
		}
		p[filepath.Clean(item.Path)] = f
	}
	return p, utilerrors.NewAggregate(errs)
}
