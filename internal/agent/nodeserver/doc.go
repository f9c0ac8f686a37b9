// Package nodeserver is the node agent's HTTPS API, served as the kubelet serves its own on
// port 10250, so that the API server calls an agent exactly as kube-apiserver calls a kubelet:
//
//	GET  /containerLogs/{namespace}/{pod}/{container}   follow, previous, tailLines, sinceSeconds,
//	                                                    sinceTime, timestamps, limitBytes
//	*    /exec/{namespace}/{pod}/{container}            command (repeated), input, output, error, tty
//	*    /attach/{namespace}/{pod}/{container}          input, output, error, tty
//	*    /portForward/{namespace}/{pod}                 ports in the SPDY stream headers
//	GET  /stats/summary                                 a kubelet stats/v1alpha1 Summary
//	GET  /healthz
//
// Containers are found through CRI by the labels the agent puts on sandboxes and containers
// (io.kubernetes.pod.namespace, .name, .uid, io.kubernetes.container.name): the pod is the
// newest sandbox with that namespace and name, its current container the newest one with that
// name, and the previous one the container it replaced. Logs are read from the file CRI
// ContainerStatus names, in the CRI log format, with cri-client's logs.ReadLogs; a followed
// log ends when ReadLogs sees the container leave the running state (it asks CRI
// ContainerStatus about the container ID it is given) or when the request ends.
//
// Exec, attach and port-forward do what the kubelet does: ask CRI for a streaming URL (the
// runtime's own streaming server, for containerd a single-use token on 127.0.0.1) and proxy
// the caller's SPDY upgrade to it with apimachinery's UpgradeAwareHandler. The agent speaks
// only SPDY; the API server translates kubectl's WebSocket requests (as kube-apiserver does
// when a node does not advertise WebSocket support).
//
// # Security
//
// Every request must come with a client certificate signed by the cluster CA (Config.ClientCAs)
// in the system:masters group, which is what the API server's kubelet-client certificate
// carries (CN kube-apiserver-kubelet-client, see internal/pki). A request without a
// certificate, or with one the CA did not sign, gets 401; any other identity gets 403; both
// as a metav1.Status. The serving certificate is self-signed and kept under Config.CertDir,
// as the kubelet does without --tls-cert-file: kube-apiserver does not check kubelet serving
// certificates unless --kubelet-certificate-authority is set, and neither does Gantry's API
// server.
package nodeserver
