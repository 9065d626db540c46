package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

func TestServerErrorClassification(t *testing.T) {
	tests := []struct {
		code      int
		labels    []string
		retryable bool
	}{
		{2, nil, false},     // BadValue
		{121, nil, false},   // DocumentValidationFailure
		{10334, nil, false}, // BSONObjectTooLarge
		{17419, nil, false}, // DocumentTooLarge
		{52, nil, false},    // DollarPrefixedFieldName
		{2, []string{"RetryableWriteError"}, true},
		{6, nil, true}, {7, nil, true}, {63, nil, true}, {64, nil, true}, {89, nil, true}, {91, nil, true}, {150, nil, true},
		{189, nil, true}, {262, nil, true}, {9001, nil, true}, {10107, nil, true}, {11600, nil, true}, {11602, nil, true},
		{13435, nil, true}, {13436, nil, true}, {112, nil, true},
		{424242, nil, true}, // unknown codes are retryable: dead-lettering on a guess would lose data
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code, tt.labels), func(t *testing.T) {
			err := &ServerError{Code: tt.code, Message: "m", Labels: tt.labels}
			if got := routing.Retryable(fmt.Errorf("wrapped: %w", err)); got != tt.retryable {
				t.Errorf("Retryable = %t, want %t (%v)", got, tt.retryable, err)
			}
		})
	}
	if msg := (&ServerError{Code: 11600, Message: "bye"}).Error(); !strings.Contains(msg, "11600 (InterruptedAtShutdown): bye") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestClassifyWholeWriteErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"deadline", context.DeadlineExceeded, true},
		{"cancelled", context.Canceled, true},
		{"server selection", fmt.Errorf("server selection error: %w", errors.New("no servers")), true},
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"command permanent", mongo.CommandError{Code: 2, Message: "bad"}, false},
		{"command retryable", mongo.CommandError{Code: 91, Message: "shutting down"}, true},
		{"command labelled", mongo.CommandError{Code: 2, Labels: []string{"RetryableWriteError"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if routing.Retryable(got) != tt.retryable {
				t.Errorf("classify(%v) = %v, retryable %t, want %t", tt.err, got, !tt.retryable, tt.retryable)
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestWriteErrorOutcome(t *testing.T) {
	tests := []struct {
		code      int
		outcome   itemOutcome
		retryable bool
	}{
		{11000, itemDuplicate, false},
		{11001, itemDuplicate, false},
		{2, itemFailed, false},
		{11600, itemFailed, true},
	}
	for _, tt := range tests {
		outcome, err := writeErrorOutcome(mongo.BulkWriteError{WriteError: mongo.WriteError{Code: tt.code, Message: "m"}})
		if outcome != tt.outcome || outcome == itemFailed && routing.Retryable(err) != tt.retryable {
			t.Errorf("code %d: outcome %d, err %v; want outcome %d, retryable %t", tt.code, outcome, err, tt.outcome, tt.retryable)
		}
	}
}

func TestEncodeErrorIsPermanent(t *testing.T) {
	err := fmt.Errorf("x: %w", &EncodeError{EventID: "e", Err: errors.New("bad")})
	if routing.Retryable(err) {
		t.Fatal("EncodeError is retryable")
	}
}

func TestOutcomesResult(t *testing.T) {
	whole := errors.New("network down")
	item := errors.New("item")
	tests := []struct {
		name   string
		failed map[int]error
		n      int
		want   string // "nil", "whole", or the failed indexes of a BatchError
	}{
		{"none", nil, 3, "nil"},
		{"all alike", map[int]error{0: whole, 1: whole, 2: whole}, 3, "whole"},
		{"all, differently", map[int]error{0: whole, 1: item, 2: whole}, 3, "[0 1 2]"},
		{"some", map[int]error{2: item, 0: whole}, 3, "[0 2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&outcomes{failed: tt.failed}).result(tt.n)
			var desc string
			var be *routing.BatchError
			switch {
			case got == nil:
				desc = "nil"
			case got == whole:
				desc = "whole"
			case errors.As(got, &be):
				var idx []int
				for _, it := range be.Items {
					idx = append(idx, it.Index)
				}
				desc = fmt.Sprint(idx)
			default:
				desc = got.Error()
			}
			if desc != tt.want {
				t.Errorf("result = %s, want %s", desc, tt.want)
			}
		})
	}
}

func TestCollectionName(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		template, contract, want, err string
	}{
		{"wb_{contract}", "checkout.order_placed", "wb_checkout.order_placed", ""},
		{"{contract}/{yyyy.MM}", "shop.order", "shop.order.2024.03", ""},
		{"{route}/dt={date}", "c", "profiles.dt=2024-03-01", ""},
		{"system.{contract}", "x", "", "reserved"},
		{"{contract}", strings.Repeat("c", 250), "", "more than MongoDB's 255"},
	}
	for _, tt := range tests {
		got, err := collectionName("events", target.MustParse(tt.template).Render(tt.contract, "profiles", at))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.template, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.template, got, err, tt.want)
		}
	}
}

// TestWriteRefusesBadRoutes checks the whole-batch permanent errors, which need no
// server: the client connects lazily.
func TestWriteRefusesBadRoutes(t *testing.T) {
	s, err := New(Config{URI: "mongodb://127.0.0.1:1/", Database: "d", ServerSelectionTimeout: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name  string
		route routing.Route
		want  string
	}{
		{"latest by date", routing.Route{Name: "r", Mode: routing.Latest, Target: "{contract}_{date}"}, "uses the time placeholder {date}"},
		{"bad template", routing.Route{Name: "r", Mode: routing.Append, Target: "/abs"}, "absolute path"},
		{"unknown mode", routing.Route{Name: "r", Mode: "merge", Target: "{contract}"}, `unknown mode "merge"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Write(context.Background(), &routing.Batch{Route: tt.route, Events: []routing.Event{{ID: "e", Key: "k"}}, Schemas: oneField{}})
			if err == nil || routing.Retryable(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write = %v (retryable %t), want a permanent error containing %q", err, routing.Retryable(err), tt.want)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), &routing.Batch{Route: routing.Route{Mode: routing.Append, Target: "x"}, Events: []routing.Event{{ID: "e"}}})
	if !errors.Is(err, ErrClosed) || !routing.Retryable(err) {
		t.Fatalf("Write after Close = %v, want ErrClosed (retryable)", err)
	}
}
