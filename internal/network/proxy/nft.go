package proxy

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// nft runs the nft command. argv is the command line up to (not including) nft's own
// arguments: {"nft"} normally; tests prefix it to run inside a network namespace.
type nft struct {
	argv []string
}

// run executes script as one atomic transaction (nft -f -).
func (n nft) run(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, n.argv[0], append(n.argv[1:], "-f", "-")...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// tableExists reports whether the IPv4 table exists. Listing would read the whole table
// (over 100 ms with 1,000 services), so instead it tries to create the table: that fails at
// once with "File exists" when the table is there. When it was missing it now exists, empty,
// which changes nothing until the full sync that follows fills it.
func (n nft) tableExists(ctx context.Context, table string) (bool, error) {
	err := n.run(ctx, fmt.Sprintf("create table ip %s\n", table))
	switch {
	case err == nil:
		return false, nil
	case strings.Contains(err.Error(), "File exists"):
		return true, nil
	}
	return false, fmt.Errorf("check table %s: %w", table, err)
}

// Remove deletes the proxy's table and with it every rule the proxy wrote (for `gantry
// uninstall`). A missing table is not an error.
func Remove(table string) error {
	if table == "" {
		table = DefaultTable
	}
	return nft{argv: []string{"nft"}}.remove(context.Background(), table)
}

func (n nft) remove(ctx context.Context, table string) error {
	// Adding first makes the delete succeed whether or not the table exists, in one transaction.
	script := fmt.Sprintf("add table ip %s\ndelete table ip %s\n", table, table)
	if err := n.run(ctx, script); err != nil {
		return fmt.Errorf("remove nftables table %s: %w", table, err)
	}
	return nil
}
