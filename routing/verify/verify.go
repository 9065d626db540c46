// Package verify reconciles what the routers accepted with what each store holds.
//
// For every append-mode route it recounts, per contract and event hour (UTC), the
// records the route's store holds (Inventory.Count) and compares them with the sum of
// the ledgers every running router publishes (routing/fleet): accepted, delivered,
// dead-lettered and still pending. For latest-mode routes it checks a sample of keys
// (routers sample the same keys by hash): the store must hold each key's newest
// delivered version (Inventory.Versions); see routing's sample.go for why the keys
// checked are the ones below every router's sample bound.
//
// A row's verdict, for append routes (distinct = distinct event ids stored):
//
//	ok           distinct = delivered (+ up to pending while events are in flight), no duplicates
//	missing      distinct < delivered: events confirmed delivered are not in the store
//	duplicated   records > distinct: some event id is stored more than once
//	unexpected   distinct > delivered + pending: records no running router's ledger accounts for
//	in flight    pending > 0 and nothing contradicts: not yet confirmable (see Options.Wait)
//
// and for latest routes, per sampled key: ok, missing (the key is absent), stale (an
// older version than the newest delivered), or unexpected (a newer version than any
// accepted one, while nothing is pending). Missing, duplicated, unexpected and stale
// are differences; Report.Differences counts them.
package verify

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/fleet"
)

// HourCount is what a store holds for one contract and event hour.
type HourCount struct {
	Records  int64 // records, duplicates included
	Distinct int64 // distinct event ids
}

// Inventory is what a sink must offer to be verified. It reads the store with the
// store's own client; it must not trust any state of the router.
type Inventory interface {
	// Count counts the records of contract that route's target holds with event times
	// in [since, until), by event hour ("2006-01-02T15", UTC).
	Count(ctx context.Context, route routing.Route, contract string, since, until time.Time) (map[string]HourCount, error)
	// Versions returns the version a latest-mode route's record holds for each key;
	// keys the store does not hold are absent from the map.
	Versions(ctx context.Context, route routing.Route, contract string, keys []string) (map[string]routing.Version, error)
}

// Target is one route to verify.
type Target struct {
	Route     routing.Route
	Inventory Inventory // nil: the route's sink cannot be recounted; reported as such
}

// Options select what to verify.
type Options struct {
	Since, Until time.Time // zero: unbounded (hours of event time)
	Contract     string    // "": every contract
}

// Verdicts.
const (
	OK          = "ok"
	Missing     = "missing"
	Duplicated  = "duplicated"
	Unexpected  = "unexpected"
	Stale       = "stale"
	InFlight    = "in flight"
	NotVerified = "not verified"
)

// Row is one (route, contract, hour) of an append route.
type Row struct {
	Route, Contract, Hour string
	Accepted, Delivered   int64
	DeadLettered, Pending int64
	Records, Distinct     int64
	Verdict               string
	Explanation           string
}

// KeyCheck is one sampled key of a latest route.
type KeyCheck struct {
	Route, Contract, Key string
	Want                 routing.Version
	Got                  *routing.Version
	Verdict              string
	Explanation          string
}

// Report is the outcome of Run.
type Report struct {
	Routers      []string // ids of the routers whose ledgers were summed
	Rows         []Row
	Keys         []KeyCheck
	Skipped      []string // routes that could not be verified, with the reason
	Differences  int
	InFlight     int64 // events pending on the rows verified
	KeysInFlight int   // sampled keys whose store is ahead of the ledgers, while events are pending
}

// Settled reports whether nothing is left to confirm: no events in flight.
func (rep *Report) Settled() bool { return rep.InFlight == 0 && rep.KeysInFlight == 0 }

// Run compares the ledgers in snaps with what every target's store holds.
func Run(ctx context.Context, targets []Target, snaps []fleet.Snapshot, opts Options) (*Report, error) {
	rep := &Report{}
	for _, s := range snaps {
		rep.Routers = append(rep.Routers, s.Router)
		if s.Truncated != "" {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("router %s published only hours from %s on (its ledger was too large for etcd)", s.Router, s.Truncated))
		}
	}
	sort.Strings(rep.Routers)
	ledger := sumLedgers(snaps)
	for _, t := range targets {
		if t.Inventory == nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("route %s: its sink cannot recount what it holds", t.Route.Name))
			continue
		}
		var err error
		if t.Route.Mode == routing.Latest {
			err = rep.checkLatest(ctx, t, snaps, opts)
		} else {
			err = rep.checkAppend(ctx, t, ledger[t.Route.Name], opts)
		}
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", t.Route.Name, err)
		}
	}
	return rep, nil
}

// ledgerKey is (contract, hour) of one route.
type ledgerKey struct{ contract, hour string }

// sumLedgers adds every router's rows up, by route, then contract and hour.
func sumLedgers(snaps []fleet.Snapshot) map[string]map[ledgerKey]*routing.LedgerRow {
	out := map[string]map[ledgerKey]*routing.LedgerRow{}
	for _, s := range snaps {
		for _, r := range s.Rows {
			m := out[r.Route]
			if m == nil {
				m = map[ledgerKey]*routing.LedgerRow{}
				out[r.Route] = m
			}
			k := ledgerKey{r.Contract, r.Hour}
			sum := m[k]
			if sum == nil {
				sum = &routing.LedgerRow{Contract: r.Contract, Hour: r.Hour, Route: r.Route}
				m[k] = sum
			}
			sum.Accepted += r.Accepted
			sum.Delivered += r.Delivered
			sum.DeadLettered += r.DeadLettered
			sum.Pending += r.Pending
		}
	}
	return out
}

func inRange(hour string, opts Options) bool {
	t, err := time.Parse(HourLayout, hour)
	if err != nil {
		return false
	}
	return (opts.Since.IsZero() || !t.Add(time.Hour).Before(opts.Since.Add(time.Nanosecond))) &&
		(opts.Until.IsZero() || t.Before(opts.Until))
}

func (rep *Report) checkAppend(ctx context.Context, t Target, rows map[ledgerKey]*routing.LedgerRow, opts Options) error {
	contracts := map[string][2]time.Time{} // contract → [first hour, end of last hour]
	for k := range rows {
		if opts.Contract != "" && k.contract != opts.Contract || !inRange(k.hour, opts) {
			continue
		}
		h, _ := time.Parse(HourLayout, k.hour)
		span, ok := contracts[k.contract]
		if !ok || h.Before(span[0]) {
			span[0] = h
		}
		if end := h.Add(time.Hour); !ok || end.After(span[1]) {
			span[1] = end
		}
		contracts[k.contract] = span
	}
	if opts.Contract != "" {
		if _, ok := contracts[opts.Contract]; !ok && !opts.Since.IsZero() && !opts.Until.IsZero() {
			contracts[opts.Contract] = [2]time.Time{opts.Since, opts.Until} // nothing accepted: the store must hold nothing
		}
	}
	names := make([]string, 0, len(contracts))
	for c := range contracts {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		span := contracts[c]
		if !opts.Since.IsZero() && opts.Since.After(span[0]) {
			span[0] = opts.Since
		}
		if !opts.Until.IsZero() && opts.Until.Before(span[1]) {
			span[1] = opts.Until
		}
		counts, err := t.Inventory.Count(ctx, t.Route, c, span[0], span[1])
		if err != nil {
			return fmt.Errorf("counting %s: %w", c, err)
		}
		hours := map[string]bool{}
		for k := range rows {
			if k.contract == c && inRange(k.hour, opts) {
				hours[k.hour] = true
			}
		}
		for h := range counts {
			hours[h] = true
		}
		sorted := make([]string, 0, len(hours))
		for h := range hours {
			sorted = append(sorted, h)
		}
		sort.Strings(sorted)
		for _, h := range sorted {
			row := Row{Route: t.Route.Name, Contract: c, Hour: h}
			if l := rows[ledgerKey{c, h}]; l != nil {
				row.Accepted, row.Delivered, row.DeadLettered, row.Pending = l.Accepted, l.Delivered, l.DeadLettered, l.Pending
			}
			got := counts[h]
			row.Records, row.Distinct = got.Records, got.Distinct
			row.judge()
			if row.Verdict != OK && row.Verdict != InFlight {
				rep.Differences++
			}
			rep.InFlight += row.Pending
			rep.Rows = append(rep.Rows, row)
		}
	}
	return nil
}

// judge sets the row's verdict and explanation.
func (r *Row) judge() {
	var problems, why []string
	if d := r.Records - r.Distinct; d > 0 {
		problems = append(problems, Duplicated)
		why = append(why, fmt.Sprintf("%d record(s) repeat an event id already stored", d))
	}
	switch {
	case r.Distinct < r.Delivered:
		problems = append(problems, Missing)
		why = append(why, fmt.Sprintf("%d event(s) confirmed delivered are not in the store", r.Delivered-r.Distinct))
	case r.Distinct > r.Delivered+r.Pending:
		problems = append(problems, Unexpected)
		why = append(why, fmt.Sprintf("%d event(s) in the store are not in any running router's ledger (accepted %d, dead-lettered %d)",
			r.Distinct-r.Delivered-r.Pending, r.Accepted, r.DeadLettered))
	}
	switch {
	case len(problems) > 0:
		r.Verdict = strings.Join(problems, "+")
		r.Explanation = strings.Join(why, "; ")
	case r.Pending > 0:
		r.Verdict = InFlight
		r.Explanation = fmt.Sprintf("%d event(s) not yet delivered", r.Pending)
	default:
		r.Verdict = OK
	}
}

func (rep *Report) checkLatest(ctx context.Context, t Target, snaps []fleet.Snapshot, opts Options) error {
	// Only keys every router would have sampled: below the smallest bound.
	bound := routing.NoBound
	for _, s := range snaps {
		if sample, ok := s.Latest[t.Route.Name]; ok && sample.Below < bound {
			bound = sample.Below
		}
	}
	want := map[string]map[string]routing.Version{} // contract → key → newest delivered
	for _, s := range snaps {
		for ck, v := range s.Latest[t.Route.Name].Versions {
			c, key, ok := strings.Cut(ck, "|")
			if !ok || opts.Contract != "" && c != opts.Contract || routing.SampleHash(ck) >= bound {
				continue
			}
			if !opts.Since.IsZero() && v.Time.Before(opts.Since) || !opts.Until.IsZero() && !v.Time.Before(opts.Until) {
				continue
			}
			m := want[c]
			if m == nil {
				m = map[string]routing.Version{}
				want[c] = m
			}
			if old, ok := m[key]; !ok || v.Newer(old) {
				m[key] = v
			}
		}
	}
	pending := false
	for _, s := range snaps {
		for _, r := range s.Rows {
			if r.Route == t.Route.Name && r.Pending > 0 {
				pending = true
			}
		}
	}
	contracts := make([]string, 0, len(want))
	for c := range want {
		contracts = append(contracts, c)
	}
	sort.Strings(contracts)
	for _, c := range contracts {
		keys := make([]string, 0, len(want[c]))
		for k := range want[c] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		got, err := t.Inventory.Versions(ctx, t.Route, c, keys)
		if err != nil {
			return fmt.Errorf("reading %s keys of %s: %w", t.Route.Name, c, err)
		}
		for _, k := range keys {
			kc := KeyCheck{Route: t.Route.Name, Contract: c, Key: k, Want: want[c][k]}
			g, ok := got[k]
			switch {
			case kc.Want.Erased && !ok:
				kc.Verdict = OK // erased, and nothing delivered since
			case kc.Want.Erased && g.ID == kc.Want.ID:
				kc.Verdict, kc.Explanation = Unexpected, fmt.Sprintf("the key was erased, but the store still holds the erased version %s", describe(g))
			case kc.Want.Erased && kc.Want.Newer(g):
				kc.Verdict = OK // an older event accepted after the erasure re-created the record
			case !ok:
				kc.Verdict, kc.Explanation = Missing, fmt.Sprintf("the store holds nothing for the key; newest delivered is %s", describe(kc.Want))
			case g.ID == kc.Want.ID:
				kc.Verdict = OK
			case kc.Want.Newer(g):
				kc.Verdict, kc.Explanation = Stale, fmt.Sprintf("the store holds %s, older than the newest delivered %s", describe(g), describe(kc.Want))
			case pending:
				kc.Verdict, kc.Explanation = InFlight, fmt.Sprintf("the store holds %s, newer than the newest confirmed %s, while events are pending", describe(g), describe(kc.Want))
			default:
				kc.Verdict, kc.Explanation = Unexpected, fmt.Sprintf("the store holds %s, newer than any delivered version (%s)", describe(g), describe(kc.Want))
			}
			if ok {
				gv := g
				kc.Got = &gv
			}
			switch kc.Verdict {
			case OK:
			case InFlight:
				rep.KeysInFlight++
			default:
				rep.Differences++
			}
			rep.Keys = append(rep.Keys, kc)
		}
	}
	return nil
}

func describe(v routing.Version) string {
	return fmt.Sprintf("%s at %s", v.ID, v.Time.UTC().Format(time.RFC3339Nano))
}

// Print writes the report as tables, then every difference explained, then a summary.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "ledgers of %d running router(s): %s\n\n", len(rep.Routers), strings.Join(rep.Routers, ", "))
	if len(rep.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "ROUTE\tCONTRACT\tHOUR\tACCEPTED\tDELIVERED\tDEAD-LETTERED\tPENDING\tSTORED\tDISTINCT\tVERDICT\t")
		for _, r := range rep.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.Route, r.Contract, r.Hour, r.Accepted, r.Delivered, r.DeadLettered, r.Pending, r.Records, r.Distinct, r.Verdict)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(rep.Keys) > 0 {
		byRoute := map[string][4]int{} // sampled, ok, in flight, ok as erased
		var routes []string
		for _, k := range rep.Keys {
			c, ok := byRoute[k.Route]
			if !ok {
				routes = append(routes, k.Route)
			}
			c[0]++
			switch {
			case k.Verdict == OK && k.Want.Erased:
				c[3]++
			case k.Verdict == OK:
				c[1]++
			case k.Verdict == InFlight:
				c[2]++
			}
			byRoute[k.Route] = c
		}
		for _, r := range routes {
			fmt.Fprintf(w, "latest route %s: %d sampled key(s), %d hold the newest delivered version", r, byRoute[r][0], byRoute[r][1])
			if byRoute[r][3] > 0 {
				fmt.Fprintf(w, ", %d erased and absent (or older than the erased version)", byRoute[r][3])
			}
			if byRoute[r][2] > 0 {
				fmt.Fprintf(w, ", %d a newer one still being confirmed", byRoute[r][2])
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rep.Rows {
		if r.Explanation != "" {
			fmt.Fprintf(w, "%s %s %s: %s: %s\n", r.Route, r.Contract, r.Hour, r.Verdict, r.Explanation)
		}
	}
	for _, k := range rep.Keys {
		if k.Explanation != "" {
			fmt.Fprintf(w, "%s %s key %q: %s: %s\n", k.Route, k.Contract, k.Key, k.Verdict, k.Explanation)
		}
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "not verified: %s\n", s)
	}
	switch {
	case rep.Differences > 0:
		fmt.Fprintf(w, "verify: %d difference(s)\n", rep.Differences)
	case !rep.Settled():
		fmt.Fprintf(w, "verify: no differences; %d event(s) and %d sampled key(s) still in flight could not be confirmed\n", rep.InFlight, rep.KeysInFlight)
	default:
		fmt.Fprintln(w, "verify: every store holds exactly what was delivered")
	}
}
