package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/fleet"
	"github.com/waybill-data/waybill/routing/verify"
)

// errDifferences makes the command exit 1 after printing a report with differences.
var errDifferences = errors.New("the stores do not hold what the ledgers say")

// runVerify is `router verify`: it reconciles every route of the configuration against
// the ledgers all running routers publish to etcd, prints the report and fails when
// there is any difference.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("router verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: router verify --config FILE [--since T] [--until T] [--contract NAME] [--wait DURATION]")
		fmt.Fprintln(stderr, "  T is RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22), an hour (2026-11-22T10), or a duration ago (24h).")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "path of the router's YAML configuration (required)")
	sinceText := fs.String("since", "", "only event hours from this time on")
	untilText := fs.String("until", "", "only event hours before this time")
	contract := fs.String("contract", "", "only this contract")
	wait := fs.Duration("wait", 0, "keep re-checking for up to this long while events are in flight or differences remain (stores may be catching up)")
	if err := fs.Parse(args); err != nil {
		return configError{err}
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return configError{errors.New("--config is required, and verify takes no arguments")}
	}
	now := time.Now().UTC()
	var opts verify.Options
	var err error
	if opts.Since, err = parseWhen(*sinceText, now); err != nil {
		return configError{fmt.Errorf("--since: %w", err)}
	}
	if opts.Until, err = parseWhen(*untilText, now); err != nil {
		return configError{fmt.Errorf("--until: %w", err)}
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Until.After(opts.Since) {
		return configError{errors.New("--until must be after --since")}
	}
	opts.Contract = *contract

	cfg, err := routing.LoadConfig(*configPath)
	if err != nil {
		return configError{err}
	}
	kinds := sinkKinds()
	if err := cfg.Validate(kinds); err != nil {
		return configError{err}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.EtcdEndpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()

	targets, closeAll, err := openInventories(cfg, log)
	defer closeAll()
	if err != nil {
		return err
	}
	prefix := fleet.Prefix(cfg.EtcdPrefix)
	deadline := time.Now().Add(*wait)
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		snaps, err := fleet.List(lctx, cli, prefix)
		cancel()
		if err != nil {
			return err
		}
		if len(snaps) == 0 {
			return fmt.Errorf("no running router has published a ledger under %s in etcd %s: verify compares the stores with the ledgers of running routers, so start the router first", prefix, strings.Join(cfg.EtcdEndpoints, ","))
		}
		rep, err := verify.Run(ctx, targets, snaps, opts)
		if err != nil {
			return err
		}
		settled := rep.Differences == 0 && rep.Settled()
		if settled || !time.Now().Before(deadline) || ctx.Err() != nil {
			rep.Print(stdout)
			if rep.Differences > 0 {
				return errDifferences
			}
			return nil
		}
		fmt.Fprintf(stderr, "verify: %d event(s) and %d sampled key(s) in flight, %d difference(s); checking again (until %s)\n", rep.InFlight, rep.KeysInFlight, rep.Differences, deadline.Format(time.TimeOnly))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// openInventories opens a read-only recount for every route whose sink kind offers
// one. The returned close function closes them all.
func openInventories(cfg *routing.Config, log *slog.Logger) ([]verify.Target, func(), error) {
	opened := map[string]verify.Inventory{}
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	openers := inventoryKinds()
	names := make([]string, 0, len(cfg.Routes))
	for n := range cfg.Routes {
		names = append(names, n)
	}
	sort.Strings(names)
	var targets []verify.Target
	for _, name := range names {
		rc := cfg.Routes[name]
		t := verify.Target{Route: routing.Route{Name: name, Class: rc.Class, Mode: rc.Mode, Target: rc.Target}}
		inv, ok := opened[rc.Sink]
		if !ok {
			sc := cfg.Sinks[rc.Sink]
			if open := openers[sc.Kind]; open != nil {
				spec := sc.Spec
				var err error
				inv, err = open(&spec, log.With("sink", rc.Sink))
				if err != nil {
					return nil, closeAll, fmt.Errorf("opening sink %s to recount it: %w", rc.Sink, err)
				}
				if c, ok := inv.(io.Closer); ok {
					closers = append(closers, c)
				}
			}
			opened[rc.Sink] = inv
		}
		t.Inventory = inv
		targets = append(targets, t)
	}
	return targets, closeAll, nil
}

// parseWhen reads a --since/--until value; "" is the zero time (unbounded).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22), an hour (2026-11-22T10) or a duration ago (24h)", s)
}
