// Command gantry is the whole orchestrator: server, agent and the built-in kubectl.
package main

import (
	"os"

	"github.com/gantryhq/gantry/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
