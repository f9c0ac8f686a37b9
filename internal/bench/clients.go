package bench

import (
	"net"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Content types a client may send and ask for.
const (
	contentJSON     = "application/json"
	contentProtobuf = "application/vnd.kubernetes.protobuf"
)

// newClient returns a clientset with a connection of its own and no client-side rate limit,
// speaking contentType ("" keeps client-go's default: protobuf for built-in kinds).
//
// client-go shares one transport, and so one HTTP/2 connection, between all clients with
// the same TLS settings; a dialer of its own takes a client out of that cache, so that N
// clients here are N connections, as N processes would be.
func newClient(base *rest.Config, contentType string) (kubernetes.Interface, error) {
	c := rest.CopyConfig(base)
	c.QPS, c.Burst = 1e6, 1e6
	c.UserAgent = "gantry-bench"
	c.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if contentType != "" {
		c.ContentType = contentType
		c.AcceptContentTypes = contentType
		if contentType == contentProtobuf {
			c.AcceptContentTypes = contentProtobuf + "," + contentJSON
		}
	}
	return kubernetes.NewForConfig(c)
}

// newClients returns n clients made by newClient.
func newClients(base *rest.Config, contentType string, n int) ([]kubernetes.Interface, error) {
	clients := make([]kubernetes.Interface, n)
	for i := range clients {
		c, err := newClient(base, contentType)
		if err != nil {
			return nil, err
		}
		clients[i] = c
	}
	return clients, nil
}
