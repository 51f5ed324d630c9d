package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/lifecycle"
)

// Service is a daemon on the bus: its connection, the calls it is serving, and the run
// loop every hostkit daemon shares.
type Service struct {
	Conn  *dbus.Conn
	Name  string // well-known bus name, e.g. org.hostkit.Hardware1
	calls *Calls
}

// Open connects to the bus named by spec for the service that will own name.
func Open(spec, name string) (*Service, error) {
	calls := NewCalls()
	conn, err := Connect(spec, calls.Options()...)
	if err != nil {
		return nil, err
	}
	return &Service{Conn: conn, Name: name, calls: calls}, nil
}

// Idle returns how long no method call has been in flight on the connection; 0 while one
// is. A daemon that decides on its own when it is idle (not through Serve) asks it.
func (s *Service) Idle() time.Duration { return s.calls.Idle() }

// Export exports obj on the service's connection (see Export).
func (s *Service) Export(obj *Object) error { return Export(s.Conn, obj) }

// Hold keeps the service from exiting when idle until Release(owner); see Calls.Hold.
func (s *Service) Hold(owner string) { s.calls.Hold(owner) }

// Release ends Hold(owner) and reports whether owner held the service.
func (s *Service) Release(owner string) bool { return s.calls.Release(owner) }

// Serve requests the name, tells systemd the service is ready with status, and serves
// until SIGTERM/SIGINT, ctx's end, or idleTimeout without a call (0: never). On SIGHUP it
// calls reload (if not nil) and logs its error. Then, as systemd-hostnamed does, it says
// STOPPING=1, releases the name (new callers start a new instance by bus activation),
// finishes the calls in flight and closes the connection. It returns nil on a clean exit.
func (s *Service) Serve(ctx context.Context, status string, idleTimeout time.Duration, reload func() error) error {
	defer s.Conn.Close()
	// Signals are caught before the name is taken: with Type=dbus systemd counts the
	// service as started, and may send SIGHUP for a reload, from that moment on.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(stop)

	if err := RequestName(s.Conn, s.Name); err != nil {
		return err
	}
	lifecycle.Ready(status)
	slog.Info("serving", "bus_name", s.Name, "idle_timeout", idleTimeout.String())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watchdog only runs where a unit sets WatchdogSec=; being connected to the bus
	// is what this loop can vouch for.
	go lifecycle.Watchdog(ctx, func() bool { return s.Conn.Connected() })

	idle := make(chan error, 1)
	go func() { idle <- lifecycle.WaitIdle(ctx, idleTimeout, s.calls.Idle) }()

	reason := ""
	for reason == "" {
		select {
		case <-s.Conn.Context().Done():
			return errors.New("lost the connection to the bus")
		case <-hup:
			if reload != nil {
				if err := reload(); err != nil {
					slog.Error("reload failed", "err", err)
				}
			}
		case sig := <-stop:
			reason = "signal " + sig.String()
		case err := <-idle:
			if err != nil {
				reason = "shutdown"
			} else {
				reason = fmt.Sprintf("idle for %s", idleTimeout)
			}
		}
	}

	lifecycle.Notify("STOPPING=1\nSTATUS=Exiting: " + reason)
	slog.Info("exiting", "reason", reason)
	if _, err := s.Conn.ReleaseName(s.Name); err != nil {
		slog.Warn("releasing bus name", "bus_name", s.Name, "err", err)
	}
	if !s.calls.Drain(10 * time.Second) {
		slog.Warn("exiting with calls still in flight after 10s")
	}
	return nil
}
