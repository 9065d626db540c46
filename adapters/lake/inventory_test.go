package lake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/routing"
)

// TestInventoryCountsWhatFilesHold: the recount reads committed files only, counts a
// file copied behind the lake's back as duplicates, and refuses files mixing contracts.
func TestInventoryCountsWhatFilesHold(t *testing.T) {
	root := t.TempDir()
	r := testSchemas(t)
	s, _ := openSink(t, root, "null")
	at := time.Date(2024, 3, 1, 9, 15, 0, 0, time.UTC)
	mustWrite(t, s, batch(r, orders(t, r, 1, 6, orderV1, at)...))
	mustWrite(t, s, batch(r, orders(t, r, 7, 8, orderV1, at.Add(time.Hour))...))
	inv, err := OpenInventory(Config{Path: root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	since, until := at.Truncate(time.Hour), at.Add(3*time.Hour)
	got, err := inv.Count(ctx, lakeRoute, "checkout.order_placed", since, until)
	if err != nil {
		t.Fatal(err)
	}
	if got["2024-03-01T09"].Records != 6 || got["2024-03-01T10"].Records != 2 || len(got) != 2 {
		t.Fatalf("counts %v", got)
	}

	// A temporary file and a copy of a committed file under another range name.
	dir := filepath.Join(root, "checkout.order_placed", "dt=2024-03-01", "hr=09")
	src := filepath.Join(dir, fileName("", 1, 6, orderV1))
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp-x"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fileName("", 100, 105, orderV1)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = inv.Count(ctx, lakeRoute, "checkout.order_placed", since, until)
	if err != nil {
		t.Fatal(err)
	}
	if c := got["2024-03-01T09"]; c.Records != 12 || c.Distinct != 6 {
		t.Fatalf("with a copied file: %+v, want 12 records of 6 distinct ids", c)
	}

	mixed := routing.Route{Name: "mixed", Class: routing.Analytic, Mode: routing.Append, Target: "all"}
	b := batch(r, mkEvent(t, r, 20, orderV1, at), mkEvent(t, r, 21, orderV1, at))
	b.Route = mixed
	b.Events[1].Contract = "other"
	mustWrite(t, s, b)
	if _, err := inv.Count(ctx, mixed, "other", since, until); err == nil || !strings.Contains(err.Error(), "several contracts") {
		t.Fatalf("a file mixing contracts: %v", err)
	}
	if _, err := inv.Versions(ctx, lakeRoute, "c", []string{"k"}); err == nil {
		t.Fatal("the lake has no latest versions")
	}
}
