package routing

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics through HTTP and parses the text exposition: every sample by
// "name{label=value,...}" (labels sorted); histograms as name_count and name_sum.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			id := name + labelsOf(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[id] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[id] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labelsOf(m)] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labelsOf(m)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labelsOf(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// waitMetric polls /metrics until cond holds for the named sample.
func waitMetric(t *testing.T, h *harness, name string, cond func(v float64, ok bool) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, ok := scrape(t, h)[name]
		if cond(v, ok) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting on metric %s: last value %v (present %v)", name, v, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func equals(want float64) func(float64, bool) bool {
	return func(v float64, ok bool) bool { return ok && v == want }
}

func atLeast(want float64) func(float64, bool) bool {
	return func(v float64, ok bool) bool { return ok && v >= want }
}

// The router's metrics follow an event through accept, failed attempts, delivery,
// dead-lettering and replay.
func TestMetricsFollowAcceptDeliverFailDeadLetter(t *testing.T) {
	h := newHarness(t, nil)

	// Every per-route series exists before anything happened.
	m := scrape(t, h)
	for _, route := range []string{"lake", "fast", "slow"} {
		for _, name := range []string{"waybill_route_accepted_events_total", "waybill_route_delivered_events_total",
			"waybill_route_failed_events_total", "waybill_route_dead_lettered_events_total",
			"waybill_route_backlog_events", "waybill_route_backlog_bytes", "waybill_route_oldest_undelivered_seconds"} {
			if v, ok := m[name+"{route="+route+"}"]; !ok || v != 0 {
				t.Errorf("%s{route=%s} = %v (present %v) at start, want 0", name, route, v, ok)
			}
		}
	}

	// Accepted, then failing retryably on "slow": counted as failed, held in the backlog.
	h.sinks["slow"].setFail(func(*Batch) error { return errors.New("store down") })
	if status, _, _ := h.post(t, order("m1", "u", "slow")); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	m = scrape(t, h)
	for name, want := range map[string]float64{
		"waybill_route_accepted_events_total{route=slow}": 1,
		"waybill_route_accepted_events_total{route=lake}": 1, // required by the contract
		"waybill_route_accepted_events_total{route=fast}": 0,
		"waybill_route_backlog_events{route=slow}":        1,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	if m["waybill_intake_seconds_count"] < 1 || m["waybill_wal_fsync_seconds_count"] < 1 {
		t.Errorf("intake count %v, fsync count %v: want at least 1 each", m["waybill_intake_seconds_count"], m["waybill_wal_fsync_seconds_count"])
	}
	if m["waybill_route_backlog_bytes{route=slow}"] <= 0 {
		t.Errorf("backlog bytes of slow = %v, want the event's size", m["waybill_route_backlog_bytes{route=slow}"])
	}
	waitMetric(t, h, "waybill_route_failed_events_total{route=slow}", atLeast(2))
	waitMetric(t, h, "waybill_route_oldest_undelivered_seconds{route=slow}", func(v float64, ok bool) bool { return ok && v > 0 })
	waitMetric(t, h, "waybill_route_delivered_events_total{route=lake}", equals(1))
	m = scrape(t, h)
	if m["waybill_route_delivery_lag_seconds_count{route=lake}"] != 1 || m["waybill_route_delivery_seconds_count{route=lake}"] < 1 {
		t.Errorf("lake delivery histograms: lag count %v, write count %v", m["waybill_route_delivery_lag_seconds_count{route=lake}"], m["waybill_route_delivery_seconds_count{route=lake}"])
	}
	if m["waybill_route_delivered_events_total{route=slow}"] != 0 {
		t.Errorf("slow delivered %v while its store is down", m["waybill_route_delivered_events_total{route=slow}"])
	}

	// The store recovers: delivered, backlog empty.
	h.sinks["slow"].setFail(nil)
	waitMetric(t, h, "waybill_route_delivered_events_total{route=slow}", equals(1))
	m = scrape(t, h)
	for _, name := range []string{"waybill_route_backlog_events{route=slow}", "waybill_route_backlog_bytes{route=slow}", "waybill_route_oldest_undelivered_seconds{route=slow}"} {
		if m[name] != 0 {
			t.Errorf("%s = %v after delivery, want 0", name, m[name])
		}
	}

	// A permanent failure on "fast": dead-lettered, not delivered, backlog empty.
	h.sinks["fast"].setFail(func(*Batch) error { return Permanent(errors.New("mapping conflict")) })
	if status, _, _ := h.post(t, order("m2", "u", "fast")); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	waitMetric(t, h, "waybill_route_dead_lettered_events_total{route=fast}", equals(1))
	m = scrape(t, h)
	if m["waybill_route_delivered_events_total{route=fast}"] != 0 || m["waybill_route_backlog_events{route=fast}"] != 0 || m["waybill_route_backlog_bytes{route=fast}"] != 0 {
		t.Errorf("after dead-lettering: delivered %v backlog %v events %v bytes", m["waybill_route_delivered_events_total{route=fast}"],
			m["waybill_route_backlog_events{route=fast}"], m["waybill_route_backlog_bytes{route=fast}"])
	}

	// Replay after the store is fixed: delivered once, and the backlog returns to zero
	// in events and bytes (replayed events carry their data size in and out).
	h.sinks["fast"].setFail(nil)
	resp, err := http.Post(h.srv.URL+"/v1/deadletters/replay?route=fast", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %v %v", err, resp)
	}
	resp.Body.Close()
	waitMetric(t, h, "waybill_route_delivered_events_total{route=fast}", equals(1))
	m = scrape(t, h)
	if m["waybill_route_backlog_events{route=fast}"] != 0 || m["waybill_route_backlog_bytes{route=fast}"] != 0 {
		t.Errorf("after replay: backlog %v events, %v bytes, want 0 and 0", m["waybill_route_backlog_events{route=fast}"], m["waybill_route_backlog_bytes{route=fast}"])
	}
	if m["waybill_route_accepted_events_total{route=fast}"] != 1 {
		t.Errorf("a replay was counted as accepted again: %v", m["waybill_route_accepted_events_total{route=fast}"])
	}

	// Rejections are counted by reason.
	if status, _, _ := h.post(t, `{"contract":"nope","data":{}}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", status)
	}
	if v := scrape(t, h)["waybill_intake_rejected_events_total{reason="+ReasonUnknownContract+"}"]; v != 1 {
		t.Errorf("rejected{unknown_contract} = %v, want 1", v)
	}
}
