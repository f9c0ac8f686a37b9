// Command push builds the test image from test/images/testserver and pushes it to a
// cluster's registry as localhost:5000/gantry/testserver:1 (`make example` runs it).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/gantryhq/gantry/internal/images"
)

func main() {
	registry := flag.String("registry", "127.0.0.1:5000", "host:port of the cluster's registry")
	flag.Parse()
	ctx := context.Background()
	img, err := images.BuildGo(ctx, "./test/images/testserver", ".", images.TestServerLinks)
	if err == nil {
		err = images.Push(ctx, img, *registry+"/gantry/testserver:1")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "push the test image:", err)
		os.Exit(1)
	}
	fmt.Println("pushed", images.TestServerImage)
}
