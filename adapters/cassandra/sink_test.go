package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/routing"
)

// TestWriteRefusesBadRoutes checks the whole-batch permanent errors, which need no
// cluster: the sink connects on the first Write that has something to write.
func TestWriteRefusesBadRoutes(t *testing.T) {
	s, err := New(Config{Hosts: []string{"127.0.0.1"}, Port: 1, Keyspace: "k", ConnectTimeout: routing.Duration(200 * time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		route routing.Route
		want  string
	}{
		{"latest by date", routing.Route{Name: "r", Mode: routing.Latest, Target: "{contract}_{date}"}, "uses the time placeholder {date}"},
		{"latest by month", routing.Route{Name: "r", Mode: routing.Latest, Target: "{contract}/{yyyy.MM}"}, "uses the time placeholder {yyyy.MM}"},
		{"bad template", routing.Route{Name: "r", Mode: routing.Append, Target: "/abs"}, "absolute path"},
		{"unknown mode", routing.Route{Name: "r", Mode: "merge", Target: "{contract}"}, `unknown mode "merge"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Write(context.Background(), &routing.Batch{Route: tt.route, Events: []routing.Event{{ID: "e", Key: "k"}}})
			if err == nil || routing.Retryable(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write = %v (retryable %t), want a permanent error containing %q", err, routing.Retryable(err), tt.want)
			}
		})
	}
	if err := s.Write(context.Background(), &routing.Batch{Route: routing.Route{Mode: routing.Append, Target: "x"}}); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}
	// Nothing listens on port 1: the session cannot be opened, retryably.
	err = s.Write(context.Background(), &routing.Batch{Route: routing.Route{Name: "r", Mode: routing.Append, Target: "x"}, Events: []routing.Event{{ID: "e"}}})
	var we *WriteError
	if !errors.As(err, &we) || !routing.Retryable(err) || !strings.Contains(err.Error(), "connecting to 127.0.0.1") {
		t.Fatalf("Write to a closed port = %v, want a retryable connection error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err = s.Write(context.Background(), &routing.Batch{Route: routing.Route{Mode: routing.Append, Target: "x"}, Events: []routing.Event{{ID: "e"}}})
	if !errors.Is(err, ErrClosed) || !routing.Retryable(err) {
		t.Fatalf("Write after Close = %v, want ErrClosed (retryable)", err)
	}
}

// appendRow is a row of table for an event with key at time at (its partition).
func appendRow(i int, table, key string, at time.Time, size int) *row {
	return &row{index: i, event: &routing.Event{ID: fmt.Sprint("e", i), Key: key, Time: at}, def: &tableDef{table: table}, size: size}
}

func TestPartitionBatches(t *testing.T) {
	day := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	next := day.Add(24 * time.Hour)
	rows := []*row{
		appendRow(0, "a", "k1", day, 10),
		appendRow(1, "a", "k2", day, 10),
		appendRow(2, "a", "k1", day.Add(time.Hour), 10),
		appendRow(3, "b", "k1", day, 10),  // another table
		appendRow(4, "a", "k1", next, 10), // another day
		appendRow(5, "a", "", day, 10),    // no key: its own partition
		appendRow(6, "a", "", day, 10),
		appendRow(7, "a", "k1", day, 10),
		appendRow(8, "a", "k1", day, 25), // over the byte limit with the others
		appendRow(9, "a", "k1", day, 10),
	}
	s := &Sink{cfg: Config{MaxBatchStatements: 3, MaxBatchBytes: 40}}
	var got []string
	for _, b := range s.partitionBatches(rows) {
		var idx []int
		for _, r := range b {
			idx = append(idx, r.index)
		}
		got = append(got, fmt.Sprint(idx))
	}
	want := "[0 2 7] [8 9] [1] [3] [4] [5] [6]"
	if strings.Join(got, " ") != want {
		t.Errorf("batches %s, want %s", strings.Join(got, " "), want)
	}
}

func TestByKeyNewestFirst(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	mk := func(i int, id, key string, d time.Duration) *row {
		return &row{index: i, event: &routing.Event{ID: id, Key: key, Time: at.Add(d)}, def: &tableDef{table: "t"}}
	}
	rows := []*row{
		mk(0, "a", "k1", time.Second),
		mk(1, "b", "k2", 0),
		mk(2, "c", "k1", 3*time.Second),
		mk(3, "b", "k1", 3*time.Second),                     // same time as c, smaller id
		mk(4, "z", "k1", 3*time.Second+500*time.Nanosecond), // same microsecond as c: by id
	}
	var got []string
	for _, g := range byKey(rows) {
		var ids []string
		for _, r := range g {
			ids = append(ids, r.event.ID)
		}
		got = append(got, strings.Join(ids, ","))
	}
	if strings.Join(got, " ") != "z,c,b,a b" {
		t.Errorf("groups %v, want [z,c,b,a b]", got)
	}
}
