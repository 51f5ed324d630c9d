// Package exporter turns what the hostkit services say on the bus into Prometheus metrics.
// Each service is a Source in a file of its own (hardware.go, bootorder.go, sync.go,
// vnc.go) that registers itself; a new service adds one file, and a new property of an
// existing one one line in its file. Every scrape asks each installed service anew, in
// parallel, each within its own deadline: a stuck service costs its own families and
// sets hostkit_scrape_error{service="..."}, never the scrape.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// A Source is one hostkit service as the exporter sees it.
type Source struct {
	// Service is the value of the service label: the daemon's name, as in
	// `hostkitctl status`.
	Service string
	// Unit is the service's systemd unit; BusName its bus name (and interface).
	Unit, BusName string
	// OnDemand: the bus starts the service when asked (bus activation), so a scrape
	// asks even when it is not running. A service that is not (hostkit-syncd) is
	// asked only while it runs.
	OnDemand bool
	// Collect asks the service over conn, within ctx, and returns its metrics.
	Collect func(ctx context.Context, conn *dbus.Conn) ([]prometheus.Metric, error)
}

var sources []Source

// register adds a source; each source file calls it from init.
func register(s Source) { sources = append(sources, s) }

// Sources returns the registered sources in service name order.
func Sources() []Source {
	out := slices.Clone(sources)
	slices.SortFunc(out, func(a, b Source) int {
		if a.Service < b.Service {
			return -1
		}
		if a.Service > b.Service {
			return 1
		}
		return 0
	})
	return out
}

var (
	scrapeErrorDesc = prometheus.NewDesc("hostkit_scrape_error",
		"1 when the last scrape could not read a service (an error, or its deadline passed), else 0.",
		[]string{"service"}, nil)
	scrapeDurationDesc = prometheus.NewDesc("hostkit_scrape_duration_seconds",
		"How long asking the service took in the last scrape.", []string{"service"}, nil)
	activeDesc = prometheus.NewDesc("hostkit_service_active",
		"1 when the service held its bus name as the scrape began (it was running), else 0; on-demand services are started by the scrape.",
		[]string{"service"}, nil)
)

// Exporter is a prometheus.Collector over a bus connection.
type Exporter struct {
	// Connect opens the bus; the connection is kept and opened again when it is lost.
	Connect func() (*dbus.Conn, error)
	// Timeout is each service's deadline within a scrape.
	Timeout time.Duration
	// Sources are the services to ask; Sources() when nil.
	Sources []Source

	mu   sync.Mutex
	conn *dbus.Conn
}

// Describe sends nothing: the families depend on which services are installed, so the
// exporter is an unchecked collector (prometheus.Collector).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

func (e *Exporter) bus() (*dbus.Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil && e.conn.Connected() {
		return e.conn, nil
	}
	conn, err := e.Connect()
	if err != nil {
		return nil, err
	}
	e.conn = conn
	return conn, nil
}

// Collect asks every installed service, in parallel, and sends their metrics and, for
// each, hostkit_scrape_error, hostkit_scrape_duration_seconds and hostkit_service_active.
// A service that is not installed sends nothing at all.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	conn, err := e.bus()
	if err != nil {
		slog.Error("cannot reach the bus", "err", err)
		ch <- prometheus.NewInvalidMetric(scrapeErrorDesc, err)
		return
	}
	srcs := e.Sources
	if srcs == nil {
		srcs = Sources()
	}
	var wg sync.WaitGroup
	for _, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range e.collectOne(conn, s) {
				ch <- m
			}
		}()
	}
	wg.Wait()
}

func (e *Exporter) collectOne(conn *dbus.Conn, s Source) []prometheus.Metric {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	installed, running, err := presence(ctx, conn, s)
	if err == nil && !installed {
		return nil
	}
	var out []prometheus.Metric
	if err == nil && (running || s.OnDemand) {
		out, err = collectWithin(ctx, conn, s, e.Timeout)
	}
	failed := 0.0
	if err != nil {
		failed = 1
		slog.Warn("scrape of a service failed", "service", s.Service, "err", err)
		out = nil // what a failed source sent may be partial: none of it
	}
	return append(out,
		gauge(scrapeErrorDesc, failed, s.Service),
		gauge(scrapeDurationDesc, time.Since(start).Seconds(), s.Service),
		gauge(activeDesc, boolValue(running), s.Service))
}

// collectWithin runs s.Collect and gives up when ctx ends, even if the source does not
// notice it (a call that does not take a context).
func collectWithin(ctx context.Context, conn *dbus.Conn, s Source, timeout time.Duration) ([]prometheus.Metric, error) {
	type result struct {
		m   []prometheus.Metric
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := s.Collect(ctx, conn)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("no answer from %s within %s: %w", s.BusName, timeout, r.err)
		}
		return r.m, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from %s within %s", s.BusName, timeout)
	}
}

// presence reports whether the service is installed (its name can be activated, is on
// the bus, or systemd knows its unit) and whether it is running (owns its name).
func presence(ctx context.Context, conn *dbus.Conn, s Source) (installed, running bool, err error) {
	busObj := conn.BusObject()
	if err := busObj.CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, s.BusName).Store(&running); err != nil {
		return false, false, fmt.Errorf("NameHasOwner %s: %w", s.BusName, err)
	}
	if running {
		return true, true, nil
	}
	var activatable []string
	if err := busObj.CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&activatable); err != nil {
		return false, false, fmt.Errorf("ListActivatableNames: %w", err)
	}
	if slices.Contains(activatable, s.BusName) {
		return true, false, nil
	}
	var path dbus.ObjectPath
	systemd := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	if err := systemd.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.LoadUnit", 0, s.Unit).Store(&path); err != nil {
		var derr dbus.Error
		if errors.As(err, &derr) && derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
			return false, false, nil // a bus without systemd (a test's): not installed
		}
		return false, false, fmt.Errorf("systemd LoadUnit %s: %w", s.Unit, err)
	}
	var load dbus.Variant
	if err := conn.Object("org.freedesktop.systemd1", path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
		"org.freedesktop.systemd1.Unit", "LoadState").Store(&load); err != nil {
		return false, false, fmt.Errorf("systemd LoadState of %s: %w", s.Unit, err)
	}
	return load.Value() == "loaded", false, nil
}

// properties reads every property of a service's interface at path in one call.
func properties(ctx context.Context, conn *dbus.Conn, name string, path dbus.ObjectPath, iface string) (map[string]dbus.Variant, error) {
	var props map[string]dbus.Variant
	if err := conn.Object(name, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, iface).Store(&props); err != nil {
		return nil, fmt.Errorf("%s properties at %s: %w", iface, path, err)
	}
	return props, nil
}

// describe calls a service's Describe() and returns its JSON.
func describe(ctx context.Context, conn *dbus.Conn, name string, path dbus.ObjectPath) ([]byte, error) {
	var data string
	if err := conn.Object(name, path).CallWithContext(ctx, name+".Describe", 0).Store(&data); err != nil {
		return nil, fmt.Errorf("%s.Describe: %w", name, err)
	}
	return []byte(data), nil
}

// number returns a numeric property as a float64 (false when absent or not a number, so
// that an older service without a property leaves its metric out).
func number(props map[string]dbus.Variant, name string) (float64, bool) {
	switch v := props[name].Value().(type) {
	case uint32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	case uint16:
		return float64(v), true
	case float64:
		return v, true
	case bool:
		return boolValue(v), true
	}
	return 0, false
}

func text(props map[string]dbus.Variant, name string) string {
	s, _ := props[name].Value().(string)
	return s
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
