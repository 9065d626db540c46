// Package fleet publishes each running router's ledger to etcd, and reads every
// running router's, so that a reconciliation (routing/verify) covers all routers that
// deliver to the same stores, wherever they run.
//
// # etcd layout
//
// Keys live under the registry's prefix with "-fleet/" in place of its final "/"
// (for "/waybill/": "/waybill-fleet/"), outside the prefix the routers' contract
// caches watch:
//
//	/waybill-fleet/routers/{router id}   a Snapshot, gzip-compressed JSON
//
// The key is written under a lease of LeaseTTL that the router keeps alive, every
// Interval while its ledger changes and once more when it stops; when a router dies
// its key disappears with the lease. A router id is random, created once and kept in
// the router's state directory (router-id), so a restarted router replaces its own
// snapshot rather than adding one.
//
// A snapshot larger than MaxSnapshotBytes compressed (etcd refuses values over about
// 1.5 MiB) is cut to the most recent hours that fit, and says so (Truncated).
package fleet

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas"
)

// Defaults.
const (
	LeaseTTL         = 15 * time.Second
	Interval         = 2 * time.Second
	MaxSnapshotBytes = 1 << 20
)

// Snapshot is one router's ledger as published.
type Snapshot struct {
	Router  string              `json:"router"`
	Listen  string              `json:"listen"`
	Updated time.Time           `json:"updated"`
	Rows    []routing.LedgerRow `json:"rows"`
	// Latest is, per latest-mode route, the newest delivered version of each sampled
	// key (routing's sample.go).
	Latest map[string]routing.LatestSample `json:"latest,omitempty"`
	// Truncated: rows of hours before this one were left out to fit.
	Truncated string `json:"truncated,omitempty"`
}

// Prefix is the fleet's etcd prefix for a registry prefix ("/waybill/" →
// "/waybill-fleet/"; "" is the registry's default prefix).
func Prefix(registryPrefix string) string {
	if registryPrefix == "" {
		registryPrefix = schemas.DefaultPrefix
	}
	return strings.TrimSuffix(registryPrefix, "/") + "-fleet/"
}

func routerKey(prefix, id string) string { return prefix + "routers/" + id }

// RouterID returns the id kept in stateDir/router-id, creating it on first use.
func RouterID(stateDir string) (string, error) {
	path := filepath.Join(stateDir, "router-id")
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" {
			return "", fmt.Errorf("%s is empty: remove it to get a new router id", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return id, nil
}

// Encode compresses a snapshot, dropping the oldest hours while it exceeds max.
func Encode(s Snapshot, max int) ([]byte, error) {
	rows := s.Rows
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Hour < rows[j].Hour })
	for {
		s.Rows = rows
		raw, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		if buf.Len() <= max || len(rows) == 0 {
			return buf.Bytes(), nil
		}
		cut := rows[len(rows)/4].Hour // drop the oldest quarter of the rows' hours
		i := sort.Search(len(rows), func(i int) bool { return rows[i].Hour > cut })
		if i == len(rows) {
			i = len(rows) / 2
		}
		rows = rows[i:]
		if len(rows) > 0 {
			s.Truncated = rows[0].Hour
		}
	}
}

// Decode reads a published snapshot.
func Decode(b []byte) (Snapshot, error) {
	var s Snapshot
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return s, fmt.Errorf("fleet snapshot: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return s, fmt.Errorf("fleet snapshot: %w", err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("fleet snapshot: %w", err)
	}
	return s, nil
}

// List returns the snapshots of every running router under prefix.
func List(ctx context.Context, cli *clientv3.Client, prefix string) ([]Snapshot, error) {
	res, err := cli.Get(ctx, prefix+"routers/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reading router ledgers from etcd: %w", err)
	}
	out := make([]Snapshot, 0, len(res.Kvs))
	for _, kv := range res.Kvs {
		s, err := Decode(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Publisher keeps one router's snapshot in etcd.
type Publisher struct {
	cli      *clientv3.Client
	key      string
	snapshot func() (Snapshot, error)
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	lease clientv3.LeaseID
	last  []byte

	cancel context.CancelFunc
	done   chan struct{}
}

// Options configure a Publisher.
type Options struct {
	Client   *clientv3.Client
	Prefix   string // the fleet prefix (Prefix)
	RouterID string
	// Snapshot returns the router's current ledger; Router, Updated are filled in.
	Snapshot func() (Snapshot, error)
	Logger   *slog.Logger
	Interval time.Duration // default Interval
}

// Start publishes every Interval until Close. etcd being unreachable is logged and
// retried; it never stops the router.
func Start(opts Options) *Publisher {
	if opts.Interval <= 0 {
		opts.Interval = Interval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{cli: opts.Client, key: routerKey(opts.Prefix, opts.RouterID), log: opts.Logger,
		interval: opts.Interval, cancel: cancel, done: make(chan struct{}),
		snapshot: func() (Snapshot, error) {
			s, err := opts.Snapshot()
			s.Router = opts.RouterID
			s.Updated = time.Now().UTC()
			return s, err
		}}
	go p.loop(ctx)
	return p
}

func (p *Publisher) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	failing := false
	for {
		err := p.publish(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			p.log.Warn("publishing the ledger to etcd failed; retrying", "error", err)
			failing = true
		case err == nil && failing:
			p.log.Info("publishing the ledger to etcd works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publish writes the snapshot if it changed, under a lease kept alive by the client.
func (p *Publisher) publish(ctx context.Context) error {
	s, err := p.snapshot()
	if err != nil {
		return err
	}
	updated := s.Updated
	s.Updated = time.Time{} // compare content without the time
	body, err := Encode(s, MaxSnapshotBytes)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lease != 0 && bytes.Equal(body, p.last) {
		return nil
	}
	s.Updated = updated
	stamped, err := Encode(s, MaxSnapshotBytes)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if p.lease == 0 {
		g, err := p.cli.Grant(ctx, int64(LeaseTTL/time.Second))
		if err != nil {
			return err
		}
		ka, err := p.cli.KeepAlive(context.Background(), g.ID)
		if err != nil {
			return err
		}
		go func() {
			for range ka { // drained until the lease is revoked or lost
			}
			p.mu.Lock()
			if p.lease == g.ID {
				p.lease = 0 // lost (etcd unreachable past the TTL): grant a new one next time
			}
			p.mu.Unlock()
		}()
		p.lease = g.ID
	}
	if _, err := p.cli.Put(ctx, p.key, string(stamped), clientv3.WithLease(p.lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			p.lease = 0 // expired or revoked: the next round grants a new one
		}
		return err
	}
	p.last = body
	return nil
}

// Close publishes a last time and stops. The snapshot stays until its lease expires.
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	p.mu.Lock()
	p.last = nil
	p.mu.Unlock()
	return p.publish(ctx)
}
