// Command devstack runs the local stores Waybill is tried and tested against —
// FerretDB (real MongoDB wire protocol) and the project's protocol-level test servers
// for Cassandra, Elasticsearch and WebHDFS — until SIGTERM or SIGINT:
//
//	go run ./integration/cmd/devstack --dir DIR
//
// It writes the stores' addresses to DIR/stack.json and serves a control endpoint to
// take each store down and up; see package integration/devstack for both.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/waybill-data/waybill/integration/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for stack.json and FerretDB's databases (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("usage: devstack --dir DIR")
	}
	st, err := devstack.Start(devstack.Options{Dir: *dir})
	if err != nil {
		return err
	}
	addrs, _ := json.Marshal(st.Addresses())
	fmt.Fprintf(stdout, "devstack: stores listening (%s written): %s\n", *dir+"/"+devstack.FileName, addrs)
	fmt.Fprintln(stdout, "devstack: mongodb is FerretDB (real wire protocol); cassandra, elasticsearch and webhdfs are protocol-level TEST servers, in memory")
	<-ctx.Done()
	fmt.Fprintln(stdout, "devstack: stopping")
	return st.Close()
}
