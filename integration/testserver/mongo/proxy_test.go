package mongo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(time.Second).SetConnectTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func ping(c *mongo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx, nil)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProxyDownUp(t *testing.T) {
	s := Start(t)
	c := connect(t, s.URI())
	if err := ping(c); err != nil {
		t.Fatalf("ping before the outage: %v", err)
	}
	s.Proxy().Down()
	if conn, err := net.DialTimeout("tcp", s.Proxy().Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("dial while down = %v, want connection refused", err)
	}
	if err := ping(c); err == nil {
		t.Fatal("ping succeeded while the proxy was down")
	}
	if err := s.Proxy().Up(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "ping after Up", func() error { return ping(c) })
}

func TestProxyResetConnections(t *testing.T) {
	s := Start(t)
	conn, err := net.Dial("tcp", s.Proxy().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	eventually(t, 5*time.Second, "the proxy tracks the connection", func() error {
		s.Proxy().mu.Lock()
		defer s.Proxy().mu.Unlock()
		if len(s.Proxy().conns) == 0 {
			return errors.New("no connection yet")
		}
		return nil
	})
	s.Proxy().ResetConnections()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after reset = %v, want ECONNRESET", err)
	}
	// Still listening.
	if err := ping(connect(t, s.URI())); err != nil {
		t.Fatalf("ping after the reset: %v", err)
	}
}

func TestProxySlow(t *testing.T) {
	s := Start(t)
	c := connect(t, s.URI())
	if err := ping(c); err != nil {
		t.Fatal(err)
	}
	const delay = 300 * time.Millisecond
	s.Proxy().SetDelay(delay)
	start := time.Now()
	if err := ping(c); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("ping took %s with a delay of %s", took, delay)
	}
	s.Proxy().SetDelay(0)
}

// TestProxyFailNext checks the rewriting of insert and update commands: injected
// failures come back at the original indexes, mixed with the server's own write errors
// and upserted entries, and the other items are really written.
func TestProxyFailNext(t *testing.T) {
	s := Start(t)
	coll := connect(t, s.URI()).Database("proxy").Collection("items")
	direct := connect(t, s.DirectURI()).Database("proxy").Collection("items")
	ctx := context.Background()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "exists"}}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		index, code int
	}
	codes := func(err error) []result {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) {
			return nil
		}
		var out []result
		for _, we := range bwe.WriteErrors {
			out = append(out, result{we.Index, we.Code})
		}
		return out
	}
	doc := func(id string) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "_waybill", Value: bson.D{{Key: "id", Value: "ev-" + id}}}}
	}
	upsert := func(key, eventID string) mongo.WriteModel {
		return mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: key}}).SetUpsert(true).
			SetReplacement(bson.D{{Key: "_id", Value: key}, {Key: "_waybill", Value: bson.D{{Key: "id", Value: eventID}}}})
	}
	tests := []struct {
		name   string
		arm    map[string]WriteFailure
		write  func() error
		want   []result
		stored []string // ids that must exist afterwards
		absent []string
	}{
		{
			name: "insert by _id, mixed with a real duplicate",
			arm:  map[string]WriteFailure{"i1": PermanentFailure, "i3": RetryableFailure},
			write: func() error {
				_, err := coll.InsertMany(ctx, []any{doc("i0"), doc("i1"), doc("exists"), doc("i3"), doc("i4")}, options.InsertMany().SetOrdered(false))
				return err
			},
			want:   []result{{1, 2}, {2, 11000}, {3, 11600}},
			stored: []string{"i0", "i4"}, absent: []string{"i1", "i3"},
		},
		{
			name: "insert by _waybill.id, every item failed: the proxy answers alone",
			arm:  map[string]WriteFailure{"ev-j0": PermanentFailure, "ev-j1": PermanentFailure},
			write: func() error {
				_, err := coll.InsertMany(ctx, []any{doc("j0"), doc("j1")}, options.InsertMany().SetOrdered(false))
				return err
			},
			want:   []result{{0, 2}, {1, 2}},
			absent: []string{"j0", "j1"},
		},
		{
			name: "update by filter _id and by the _waybill.id it writes",
			arm:  map[string]WriteFailure{"u1": RetryableFailure, "ev-u3": PermanentFailure},
			write: func() error {
				_, err := coll.BulkWrite(ctx, []mongo.WriteModel{upsert("u0", "ev-u0"), upsert("u1", "ev-u1"), upsert("u2", "ev-u2"), upsert("u3", "ev-u3")},
					options.BulkWrite().SetOrdered(false))
				return err
			},
			want:   []result{{1, 11600}, {3, 2}},
			stored: []string{"u0", "u2"}, absent: []string{"u1", "u3"},
		},
		{
			name: "armed ids are consumed: the same write succeeds next time",
			write: func() error {
				_, err := coll.InsertMany(ctx, []any{doc("i1"), doc("i3")}, options.InsertMany().SetOrdered(false))
				return err
			},
			stored: []string{"i1", "i3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for id, f := range tt.arm {
				s.Proxy().FailNext([]string{id}, f)
			}
			err := tt.write()
			got := codes(err)
			if !slices.Equal(got, tt.want) || (len(tt.want) == 0) != (err == nil) {
				t.Fatalf("write errors %v (err %v), want %v", got, err, tt.want)
			}
			if left := s.Proxy().Pending(); len(left) > 0 {
				t.Fatalf("armed failures not consumed: %v", left)
			}
			for _, id := range tt.stored {
				if n, err := direct.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); err != nil || n != 1 {
					t.Errorf("%s: %d stored, err %v; want 1", id, n, err)
				}
			}
			for _, id := range tt.absent {
				if n, err := direct.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); err != nil || n != 0 {
					t.Errorf("%s: %d stored, err %v; want 0", id, n, err)
				}
			}
		})
	}
	// The upserted entries of a rewritten update are renumbered too.
	s.Proxy().FailNext([]string{"v0"}, PermanentFailure)
	res, err := coll.BulkWrite(ctx, []mongo.WriteModel{upsert("v0", "ev-v0"), upsert("v1", "ev-v1")}, options.BulkWrite().SetOrdered(false))
	if got := codes(err); !slices.Equal(got, []result{{0, 2}}) {
		t.Fatalf("write errors %v (%v), want [{0 2}]", got, err)
	}
	if res == nil || fmt.Sprint(res.UpsertedIDs) != "map[1:v1]" {
		t.Fatalf("upserted ids %v, want map[1:v1]", res)
	}
}

// TestCloseStopsEverything checks that Close leaves no goroutine of FerretDB or the
// proxy behind.
func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := StartIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Database("d").Collection("c").InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	_ = c.Disconnect(context.Background())
	s.Close()
	eventually(t, 10*time.Second, "goroutines back to the baseline", func() error {
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			return fmt.Errorf("%d goroutines, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}
