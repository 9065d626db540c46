package avrofile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// Group is the events of one batch that go to one stream, as indexes into
// Batch.Events in batch order.
type Group struct {
	Key     StreamKey
	Wrapper *Wrapper
	Idx     []int
}

// Planner groups a file sink's batches into files. It caches parsed target templates
// and wrapper schemas, and is safe for concurrent use.
type Planner struct {
	store string // prefixes error messages: "lake", "webhdfs"

	mu        sync.Mutex
	templates map[string]*target.Template
	wrappers  map[int]*Wrapper
}

// NewPlanner returns a planner whose errors start with store's name.
func NewPlanner(store string) *Planner {
	return &Planner{store: store, templates: map[string]*target.Template{}, wrappers: map[int]*Wrapper{}}
}

// Plan checks a batch as a whole — a target template that does not parse, the latest
// mode (file sinks store every event) or a missing schema resolver is a permanent
// error for the whole batch — and groups its events by stream: rendered target
// directory and schema id, sorted by directory, then schema id. Events whose schema id
// cannot be resolved or wrapped fail on their own: permanently, unless the resolver's
// error says it is retryable (a registry outage).
func (p *Planner) Plan(b *routing.Batch) ([]*Group, []routing.ItemError, error) {
	tmpl, err := p.template(b.Route.Target)
	if err != nil {
		return nil, nil, routing.Permanent(fmt.Errorf("%s: route %q: %w", p.store, b.Route.Name, err))
	}
	if b.Route.Mode == routing.Latest {
		return nil, nil, routing.Permanent(fmt.Errorf("%s: route %q: the %s sink stores every event (append mode), not %s", p.store, b.Route.Name, p.store, b.Route.Mode))
	}
	if b.Schemas == nil {
		return nil, nil, routing.Permanent(fmt.Errorf("%s: route %q: batch has no schema resolver", p.store, b.Route.Name))
	}
	var fails []routing.ItemError
	groups := map[StreamKey]*Group{}
	wrappers := map[int]*Wrapper{}
	wrapperErrs := map[int]error{}
	for i := range b.Events {
		ev := &b.Events[i]
		w, ok := wrappers[ev.SchemaID]
		if !ok {
			if err, bad := wrapperErrs[ev.SchemaID]; bad {
				fails = append(fails, routing.ItemError{Index: i, Err: err})
				continue
			}
			if w, err = p.wrapperFor(b.Schemas, ev.SchemaID); err != nil {
				wrapperErrs[ev.SchemaID] = err
				fails = append(fails, routing.ItemError{Index: i, Err: err})
				continue
			}
			wrappers[ev.SchemaID] = w
		}
		k := StreamKey{Dir: tmpl.Render(ev.Contract, b.Route.Name, ev.Time), SchemaID: ev.SchemaID}
		g := groups[k]
		if g == nil {
			g = &Group{Key: k, Wrapper: w}
			groups[k] = g
		}
		g.Idx = append(g.Idx, i)
	}
	order := make([]*Group, 0, len(groups))
	for _, g := range groups {
		order = append(order, g)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i].Key, order[j].Key
		return a.Dir < b.Dir || a.Dir == b.Dir && a.SchemaID < b.SchemaID
	})
	return order, fails, nil
}

// template returns the parsed target template, cached.
func (p *Planner) template(src string) (*target.Template, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.templates[src]; ok {
		return t, nil
	}
	t, err := target.Parse(src)
	if err != nil {
		return nil, err
	}
	p.templates[src] = t
	return t, nil
}

// wrapperFor resolves a schema id and returns its wrapper schema, cached per id for as
// long as the resolver returns the same parsed schema.
func (p *Planner) wrapperFor(schemas routing.Schemas, id int) (*Wrapper, error) {
	if id < 0 || id > math.MaxInt32 {
		return nil, routing.Permanent(fmt.Errorf("%s: schema id %d is out of the Avro int range", p.store, id))
	}
	sch, err := schemas.Avro(id)
	if err == nil && sch == nil {
		err = errors.New("resolver returned no schema")
	}
	if err != nil {
		err = fmt.Errorf("%s: schema id %d: %w", p.store, id, err)
		// The resolver may say a failure is transient (registry unreachable); anything
		// else means the id cannot be resolved, which retrying will not change.
		var c interface{ Retryable() bool }
		if errors.As(err, &c) && c.Retryable() {
			return nil, err
		}
		return nil, routing.Permanent(err)
	}
	p.mu.Lock()
	w := p.wrappers[id]
	p.mu.Unlock()
	if w != nil && w.contract == sch {
		return w, nil
	}
	if w, err = NewWrapper(sch); err != nil {
		return nil, routing.Permanent(fmt.Errorf("%s: schema id %d: %w", p.store, id, err))
	}
	p.mu.Lock()
	p.wrappers[id] = w
	p.mu.Unlock()
	return w, nil
}

// Select returns, in sequence order, the events of g still to be written to a stream
// whose high-water mark is hwm. Events that cannot be stored (CheckEvent) fail
// permanently whatever their sequence number, so a corrupt event that comes back after
// a crash is reported again instead of being taken for committed; valid events at or
// below hwm, and repeats of a sequence number, were committed and are skipped.
func (p *Planner) Select(b *routing.Batch, g *Group, hwm uint64) (sel []int, skipped int, fails []routing.ItemError) {
	idx := g.Idx
	bySeq := func(i, j int) int { return cmp.Compare(b.Events[i].Seq, b.Events[j].Seq) }
	if !slices.IsSortedFunc(idx, bySeq) {
		idx = slices.Clone(idx)
		slices.SortStableFunc(idx, bySeq)
	}
	sel = make([]int, 0, len(idx))
	last := hwm
	for _, i := range idx {
		ev := &b.Events[i]
		if err := CheckEvent(g.Wrapper, ev); err != nil {
			fails = append(fails, routing.ItemError{Index: i, Err: routing.Permanent(fmt.Errorf("%s: %w", p.store, err))})
			continue
		}
		if ev.Seq <= last {
			skipped++
			continue
		}
		sel = append(sel, i)
		last = ev.Seq
	}
	return sel, skipped, fails
}

// CheckEvent rejects events that cannot be stored: values out of the wrapper's ranges
// and data that is not one well-formed datum of its schema.
func CheckEvent(w *Wrapper, ev *routing.Event) error {
	if ev.Seq == 0 || ev.Seq > math.MaxInt64 {
		return fmt.Errorf("event %q: sequence number %d is out of range", ev.ID, ev.Seq)
	}
	if err := CheckDatum(w.contract, ev.Data); err != nil {
		return fmt.Errorf("event %q (seq %d): data is not a valid datum of schema id %d: %w", ev.ID, ev.Seq, ev.SchemaID, err)
	}
	return nil
}

// Events returns the events of b at the indexes sel.
func Events(b *routing.Batch, sel []int) []*routing.Event {
	out := make([]*routing.Event, len(sel))
	for n, i := range sel {
		out[n] = &b.Events[i]
	}
	return out
}

// Write runs the part of a file sink's Write that does not depend on the store: it
// plans the batch (Plan's whole-batch errors are returned as they are), passes each
// group in order to write, which commits it and returns its failed events, fails the
// groups left when ctx ends with ctx's error (retryable), and returns nil or a
// *routing.BatchError with every failure, sorted by index.
func (p *Planner) Write(ctx context.Context, b *routing.Batch, write func(*Group) []routing.ItemError) error {
	if b == nil || len(b.Events) == 0 {
		return nil
	}
	groups, fails, err := p.Plan(b)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			fails = FailAll(fails, g.Idx, err)
			continue
		}
		fails = append(fails, write(g)...)
	}
	if len(fails) == 0 {
		return nil
	}
	sort.Slice(fails, func(i, j int) bool { return fails[i].Index < fails[j].Index })
	return &routing.BatchError{Items: fails}
}

// FailAll appends a failure with err for each index of idx.
func FailAll(fails []routing.ItemError, idx []int, err error) []routing.ItemError {
	for _, i := range idx {
		fails = append(fails, routing.ItemError{Index: i, Err: err})
	}
	return fails
}

// Gate is a sink's open or closed state: writes hold it shared, Close exclusively, so
// Close waits for the writes in flight.
type Gate struct {
	life   sync.RWMutex
	mu     sync.Mutex
	closed bool
}

// Enter admits a write; it returns false once the sink is closed. The caller calls
// leave when the write is done (also when not admitted).
func (g *Gate) Enter() (leave func(), open bool) {
	g.life.RLock()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.life.RUnlock, !g.closed
}

// Close waits for the writes in flight and closes the gate; release runs the first
// time only, and its error is returned.
func (g *Gate) Close(release func() error) error {
	g.life.Lock()
	defer g.life.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return release()
}
