package routing

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's Prometheus metrics. Counters and histograms are labelled by
// route where they concern one; gauges of a route's backlog are read at scrape time.
type Metrics struct {
	Registry        *prometheus.Registry
	accepted        *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	duplicates      prometheus.Counter
	delivered       *prometheus.CounterVec
	failed          *prometheus.CounterVec
	deadLettered    *prometheus.CounterVec
	deliveryLatency *prometheus.HistogramVec
	deliveryLag     *prometheus.HistogramVec
	intakeLatency   prometheus.Histogram
	walFsync        prometheus.Histogram
	walBytes        prometheus.Gauge
	unauthenticated prometheus.Counter
	erasures        *prometheus.CounterVec
}

// NewMetrics registers the router's metrics on reg (a new registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waybill_route_accepted_events_total",
			Help: "Events accepted for a route."}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waybill_intake_rejected_events_total",
			Help: "Events rejected at intake, by reason."}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "waybill_intake_duplicate_events_total",
			Help: "Resent events (an id accepted before) answered as accepted without being written again."}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waybill_route_delivered_events_total",
			Help: "Events a route's sink confirmed."}, []string{"route"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waybill_route_failed_events_total",
			Help: "Event delivery attempts that failed retryably (each retried event counts once per failed attempt)."}, []string{"route"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waybill_route_dead_lettered_events_total",
			Help: "Events a route gave up on."}, []string{"route"}),
		deliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "waybill_route_delivery_seconds",
			Help: "Duration of one sink write (one batch).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		deliveryLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "waybill_route_delivery_lag_seconds",
			Help: "Time from an event's receipt to its sink's confirmation, per delivered event.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 20)}, []string{"route"}),
		intakeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waybill_intake_seconds",
			Help: "Intake request duration, from body read to durable answer.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}),
		walFsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waybill_wal_fsync_seconds",
			Help: "Duration of the WAL's group-commit fsync.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		walBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waybill_wal_bytes", Help: "Bytes in WAL segments on disk."}),
		unauthenticated: prometheus.NewCounter(prometheus.CounterOpts{Name: "waybill_unauthenticated_requests_total",
			Help: "Requests refused 401: no credential, an unknown or an expired one."}),
		erasures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waybill_route_erasures_total",
			Help: "Erasure requests a latest-mode route carried out (outcome erased) or gave up on (dead_lettered)."}, []string{"route", "outcome"}),
	}
	reg.MustRegister(m.accepted, m.rejected, m.duplicates, m.delivered, m.failed, m.deadLettered, m.deliveryLatency, m.deliveryLag,
		m.intakeLatency, m.walFsync, m.walBytes, m.unauthenticated, m.erasures)
	return m
}

// registerRouteGauges exposes per-route backlog state, read at scrape time, and makes
// every per-route series exist from the start (a route that never failed shows 0, not
// nothing, so rate() and alerts work from the first scrape).
func (rt *Router) registerRouteGauges() {
	for name, r := range rt.routes {
		labels := prometheus.Labels{"route": name}
		for _, c := range []*prometheus.CounterVec{rt.metrics.accepted, rt.metrics.delivered, rt.metrics.failed, rt.metrics.deadLettered} {
			c.With(labels)
		}
		rt.metrics.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waybill_route_backlog_events", Help: "Events accepted for the route and not yet delivered or dead-lettered.", ConstLabels: labels},
				func() float64 { return float64(r.backlogEvents.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waybill_route_backlog_bytes", Help: "Bytes of the route's backlog.", ConstLabels: labels},
				func() float64 { return float64(r.backlogBytes.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waybill_route_oldest_undelivered_seconds",
				Help: "Age of the oldest undelivered event of the route (0 when none is pending; after a batch settles, measured from the last settled event's receipt, so it may overstate by up to one batch).", ConstLabels: labels},
				func() float64 {
					if ns := r.oldestPending.Load(); ns != 0 {
						return time.Since(time.Unix(0, ns)).Seconds()
					}
					return 0
				}),
		)
	}
}
