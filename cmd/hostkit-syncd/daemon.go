package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/lifecycle"
	hksync "github.com/hostkit/hostkit/services/sync"
)

// stopTimeout bounds the stop: SIGTERM cuts the file in flight (the receiver keeps a large
// one for resume), writes the queues and exits, well inside systemd's TimeoutStopSec=.
const stopTimeout = 10 * time.Second

func serve(ctx context.Context, busSpec, configPath string) error {
	c, err := hksync.Load(configPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	status := newStatusLine()
	d, err := hksync.NewDaemon(c, status.poke)
	if err != nil {
		return err
	}
	activated, err := lifecycle.Listeners()
	if err != nil {
		return err
	}
	listeners, err := d.Listeners(activated)
	if err != nil {
		return err
	}
	if d.Receiver != nil && len(listeners) == 0 {
		slog.Warn("[Module]s configured but nothing to listen on: set Listen= or enable hostkit-syncd.socket")
	}
	var onBus *busService
	if busSpec != "none" {
		if onBus, err = exportBus(busSpec, d, listeners); err != nil {
			return err
		}
		defer onBus.close()
		status.also(onBus.changed)
	}
	slog.Info("starting", "fingerprint", d.ID.Fingerprint, "jobs", len(d.Senders), "modules", len(c.Modules),
		"listening", listenAddrs(listeners), "keepalive", fmt.Sprintf("%s+%dx%s", c.KeepAlive.Time, c.KeepAlive.Probes, c.KeepAlive.Interval),
		"user_timeout", c.KeepAlive.UserTimeout.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(stop)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, listeners) }()
	go status.run(ctx, d)
	if onBus != nil {
		if err := onBus.requestName(); err != nil {
			cancel()
			<-done
			return err
		}
	}
	lifecycle.Ready(status.line(d))
	go lifecycle.Watchdog(ctx, func() bool { return true })
	idle := make(chan error, 1)
	if len(activated) > 0 && len(d.Senders) == 0 {
		// Socket-activated and only receiving, as every hostkit daemon: exit when idle,
		// and the socket starts the service again at the next connection.
		go func() {
			idle <- lifecycle.WaitIdle(ctx, c.IdleTimeout, func() time.Duration { return idleFor(d, onBus) })
		}()
	}

	select {
	case err := <-done:
		return err
	case sig := <-stop:
		lifecycle.Notify("STOPPING=1\nSTATUS=Stopping: " + sig.String())
		slog.Info("stopping", "signal", sig.String())
		cancel()
	case err := <-idle:
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("idle for %s", c.IdleTimeout)
		lifecycle.Notify("STOPPING=1\nSTATUS=Exiting: " + reason)
		slog.Info("exiting", "reason", reason)
		cancel()
	}
	select {
	case err := <-done:
		return err
	case <-time.After(stopTimeout):
		return fmt.Errorf("jobs still running %s after the stop was asked; exiting anyway", stopTimeout)
	}
}

// idleFor is how long d has had nothing to do: no connection, and no bus call in flight.
func idleFor(d *hksync.Daemon, onBus *busService) time.Duration {
	idle := time.Duration(math.MaxInt64)
	if d.Receiver != nil {
		idle = d.Receiver.Idle()
	}
	if onBus != nil {
		idle = min(idle, onBus.svc.Idle())
	}
	return idle
}

func listenAddrs(ls []net.Listener) string {
	var addrs []string
	for _, l := range ls {
		addrs = append(addrs, l.Addr().String())
	}
	return strings.Join(addrs, " ")
}

// statusLine keeps systemd's STATUS= up to date: the initial scan's progress while a job
// compares, then a summary of the jobs.
type statusLine struct {
	pokes chan struct{}
	hooks []func()
}

func newStatusLine() *statusLine { return &statusLine{pokes: make(chan struct{}, 1)} }

func (s *statusLine) also(f func()) { s.hooks = append(s.hooks, f) }

func (s *statusLine) poke() {
	for _, h := range s.hooks {
		h()
	}
	select {
	case s.pokes <- struct{}{}:
	default:
	}
}

// run sends STATUS= at most twice a second, when something changed.
func (s *statusLine) run(ctx context.Context, d *hksync.Daemon) {
	last := ""
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case <-s.pokes:
		default:
			continue
		}
		if l := s.line(d); l != last {
			lifecycle.Status(l)
			last = l
		}
	}
}

func (s *statusLine) line(d *hksync.Daemon) string {
	var parts []string
	for _, snd := range d.Senders {
		st := snd.Status()
		switch {
		case st.State == hksync.StateScanning:
			parts = append(parts, fmt.Sprintf("%s: scanning, %d entries compared", st.Name, st.ScanEntries))
		case st.InitialTotal > 0 && st.InitialDone < st.InitialTotal:
			parts = append(parts, fmt.Sprintf("%s: initial sync %d/%d (%d%%)", st.Name, st.InitialDone, st.InitialTotal, 100*st.InitialDone/st.InitialTotal))
		default:
			parts = append(parts, fmt.Sprintf("%s: %s, %d pending", st.Name, st.State, st.PendingFiles))
		}
	}
	if d.Receiver != nil {
		parts = append(parts, fmt.Sprintf("receiving: %d senders", len(d.Receiver.Peers())))
	}
	if len(parts) == 0 {
		return "No [Job] or [Module] configured"
	}
	return strings.Join(parts, "; ")
}
