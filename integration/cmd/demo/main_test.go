package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/waybill-data/waybill/integration/internal/testproc"
)

// TestDemo runs `make demo` in short: every step must work on this machine, every
// route must deliver, and router verify must find the stores holding exactly what was
// delivered.
func TestDemo(t *testing.T) {
	root, err := testproc.FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(t.Context(), []string{"--dir", t.TempDir(), "--duration", "4s", "--rate", "400", "--root", root}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	for _, want := range []string{
		"==> registering the example contracts",
		"all delivered: lake",
		"rejected for ",
		"verify: every store holds exactly what was delivered",
		"everything is stopped",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	okRows := map[string]int{}
	for _, line := range strings.Split(out.String(), "\n") {
		// ROUTE CONTRACT HOUR ACCEPTED DELIVERED DEAD-LETTERED PENDING STORED DISTINCT VERDICT
		if f := strings.Fields(line); len(f) == 10 && f[9] == "ok" {
			okRows[f[0]]++
		}
	}
	for _, route := range []string{"lake", "hdfs", "timeline", "search"} {
		if okRows[route] == 0 {
			t.Errorf("verify's table has no ok row for the %s route", route)
		}
	}
	if strings.Contains(out.String(), "not verified") {
		t.Errorf("some route could not be verified")
	}
}
