package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// clusterInfoName is the ConfigMap in kube-system through which the server tells every
// node agent how the cluster is laid out, so that joining takes only an address and a
// token, never a copy of the server's flags.
const clusterInfoName = "gantry-cluster"

// clusterInfo is what agents need to know of the cluster.
type clusterInfo struct {
	ClusterCIDR   netip.Prefix
	ServiceCIDR   netip.Prefix
	ClusterDomain string
	// PodNetwork is how pod traffic crosses nodes: "host-gw" or "vxlan".
	PodNetwork string
	// RegistryPort is the port of the server's registry, on the address agents reach the
	// API server at.
	RegistryPort int
}

func (ci clusterInfo) data() map[string]string {
	return map[string]string{
		"clusterCIDR":   ci.ClusterCIDR.String(),
		"serviceCIDR":   ci.ServiceCIDR.String(),
		"clusterDomain": ci.ClusterDomain,
		"podNetwork":    ci.PodNetwork,
		"registryPort":  strconv.Itoa(ci.RegistryPort),
	}
}

func parseClusterInfo(data map[string]string) (clusterInfo, error) {
	var ci clusterInfo
	var err error
	if ci.ClusterCIDR, err = netip.ParsePrefix(data["clusterCIDR"]); err != nil {
		return ci, fmt.Errorf("clusterCIDR: %w", err)
	}
	if ci.ServiceCIDR, err = netip.ParsePrefix(data["serviceCIDR"]); err != nil {
		return ci, fmt.Errorf("serviceCIDR: %w", err)
	}
	if ci.RegistryPort, err = strconv.Atoi(data["registryPort"]); err != nil {
		return ci, fmt.Errorf("registryPort: %w", err)
	}
	ci.ClusterDomain, ci.PodNetwork = data["clusterDomain"], data["podNetwork"]
	return ci, nil
}

// publishClusterInfo writes the cluster's layout for agents to read.
func publishClusterInfo(ctx context.Context, cfg *rest.Config, ci clusterInfo) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cms := client.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: clusterInfoName}, Data: ci.data()}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update configmap %s: %w", clusterInfoName, err)
		}
	} else if err != nil {
		return fmt.Errorf("create configmap %s: %w", clusterInfoName, err)
	}
	return nil
}

// readClusterInfo reads the cluster's layout, waiting for a server that is starting.
func readClusterInfo(ctx context.Context, client kubernetes.Interface) (clusterInfo, error) {
	for {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, clusterInfoName, metav1.GetOptions{})
		if err == nil {
			ci, err := parseClusterInfo(cm.Data)
			if err != nil {
				return ci, fmt.Errorf("configmap kube-system/%s: %w", clusterInfoName, err)
			}
			return ci, nil
		}
		slog.Info("waiting for the cluster's layout", "configmap", "kube-system/"+clusterInfoName, "err", err)
		select {
		case <-ctx.Done():
			return clusterInfo{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
