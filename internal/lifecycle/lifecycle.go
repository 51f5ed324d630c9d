// Package lifecycle is how a hostkit daemon lives under systemd: sockets passed by socket
// activation, sd_notify readiness/status/stopping, the watchdog, and exit after an idle
// period (the systemd-hostnamed pattern).
package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// Listeners returns the sockets systemd passed to this process (LISTEN_FDS), or none when
// the process was not socket-activated.
func Listeners() ([]net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	return ls, nil
}

// Notify sends state lines to systemd (READY=1, STATUS=..., STOPPING=1). Outside systemd
// (NOTIFY_SOCKET unset) it does nothing; a failure to send is logged, not fatal.
func Notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		slog.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// Ready tells systemd the service is serving, with a status line.
func Ready(status string) { Notify(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// Status updates the status line `systemctl status` shows.
func Status(status string) { Notify("STATUS=" + status) }

// Watchdog pings systemd's watchdog at half the interval WatchdogSec= sets, until ctx is
// done. alive is asked before each ping: a service that is stuck must not ping. Without
// WatchdogSec= it returns at once.
func Watchdog(ctx context.Context, alive func() bool) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	ticker := time.NewTicker(interval / 2)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if alive() {
				Notify(daemon.SdNotifyWatchdog)
			}
		}
	}
}

// WaitIdle returns nil once idle() has reported at least timeout, or ctx's error when ctx
// ends first. idle reports how long the service has had nothing to do (0 while busy). A
// timeout of 0 means never idle: it waits for ctx only.
func WaitIdle(ctx context.Context, timeout time.Duration, idle func() time.Duration) error {
	if timeout <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	check := max(min(timeout/4, time.Second), time.Millisecond)
	ticker := time.NewTicker(check)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			if idle() >= timeout {
				return nil
			}
		}
	}
}
