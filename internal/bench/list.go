package bench

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// listPageSize is kubectl's default --chunk-size.
const listPageSize = 500

// listResult is what listPods measured.
type listResult struct {
	items int
	bytes int       // size of the one-request JSON answer
	whole latencies // one request for every pod, decoded by client-go
	raw   latencies // the same request, its body read but not decoded
	paged latencies // pages of listPageSize, as kubectl get asks

	protoType  string    // the media type of the answer to a protobuf client
	protoBytes int       // its size
	proto      latencies // one request for every pod by a protobuf client, decoded
}

// listPods lists the pods of ns with a JSON client, runs times each: in one request read as
// bytes, in one request decoded by client-go, and in pages decoded by client-go; and in one
// request decoded by a client that prefers protobuf, as controllers are configured. It checks
// that each decoded listing has want pods. First, unmeasured listings give the size of the
// answers.
func listPods(ctx context.Context, config *rest.Config, ns string, want, runs int) (listResult, error) {
	c, err := newClient(config, contentJSON)
	if err != nil {
		return listResult{}, err
	}
	pc, err := newClient(config, contentProtobuf)
	if err != nil {
		return listResult{}, err
	}
	pods := c.CoreV1().Pods(ns)
	res := listResult{items: want}
	protoBody, err := pc.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").Do(ctx).ContentType(&res.protoType).Raw()
	if err != nil {
		return res, fmt.Errorf("list pods: %w", err)
	}
	res.protoBytes = len(protoBody)

	getRaw := func() ([]byte, error) {
		return c.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").DoRaw(ctx)
	}
	body, err := getRaw()
	if err != nil {
		return res, fmt.Errorf("list pods: %w", err)
	}
	res.bytes = len(body)

	// The three kinds of listing alternate, so that none gets the quieter moments.
	for range runs {
		t := time.Now()
		if _, err := getRaw(); err != nil {
			return res, fmt.Errorf("list pods: %w", err)
		}
		res.raw = append(res.raw, time.Since(t))

		t = time.Now()
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return res, fmt.Errorf("list pods: %w", err)
		}
		res.whole = append(res.whole, time.Since(t))
		if len(list.Items) != want {
			return res, fmt.Errorf("list pods: %d items, want %d", len(list.Items), want)
		}

		t = time.Now()
		plist, err := pc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return res, fmt.Errorf("list pods with a protobuf client: %w", err)
		}
		res.proto = append(res.proto, time.Since(t))
		if len(plist.Items) != want {
			return res, fmt.Errorf("list pods with a protobuf client: %d items, want %d", len(plist.Items), want)
		}

		t = time.Now()
		got := 0
		opts := metav1.ListOptions{Limit: listPageSize}
		for {
			list, err := pods.List(ctx, opts)
			if err != nil {
				return res, fmt.Errorf("list pods in pages: %w", err)
			}
			got += len(list.Items)
			if list.Continue == "" {
				break
			}
			opts.Continue = list.Continue
		}
		res.paged = append(res.paged, time.Since(t))
		if got != want {
			return res, fmt.Errorf("list pods in pages: %d items, want %d", got, want)
		}
	}
	return res, nil
}
