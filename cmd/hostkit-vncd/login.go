package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/services/vnc"
)

// endLoginSession ends the display's logind session and waits until its scope is gone.
//
// pam_systemd (PAMName=hostkit-vnc) moves the display's processes from
// hostkit-vnc@N.service into the session's scope, session-ID.scope. systemd still follows
// the main process, but what the session started stays in the scope when the main process
// ends, unless logind kills it (KillUserProcesses=, off on Debian): a leftover vncconfig,
// anything started with setsid. So the unit ends the session itself, as root, after every
// end of its main process (ExecStopPost=+), and before a start if one is left over.
func endLoginSession(ctx context.Context, s vnc.LoginSession) error {
	if err := terminateLoginSession(s); err != nil {
		return err
	}
	systemd, err := sd.NewConnection(func() (*dbus.Conn, error) { return bus.Connect("system") })
	if err != nil {
		return err
	}
	defer systemd.Close()
	for {
		u, err := vnc.ReadUnit(ctx, systemd, s.Scope)
		if err != nil {
			return err
		}
		if u.LoadState != "loaded" || u.ActiveState == "inactive" || u.ActiveState == "failed" {
			return nil
		}
		if u.ActiveState == "active" {
			// A session that logind no longer knows leaves its scope running: stop it.
			if _, err := systemd.StopUnitContext(ctx, s.Scope, "replace", nil); err != nil {
				slog.Warn("stopping the session's scope", "scope", s.Scope, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the scope %s of login session %s is still %s: %w", s.Scope, s.ID, u.ActiveState, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// terminateLoginSession asks logind to end session s (its owner and root may), without
// waiting; a session that is gone already is no error.
func terminateLoginSession(s vnc.LoginSession) error {
	conn, err := bus.Connect("system")
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	login := conn.Object("org.freedesktop.login1", "/org/freedesktop/login1")
	err = login.CallWithContext(ctx, "org.freedesktop.login1.Manager.TerminateSession", 0, s.ID).Err
	var dbusErr dbus.Error
	if errors.As(err, &dbusErr) && dbusErr.Name == "org.freedesktop.login1.NoSuchSession" {
		return nil // it ended already; its scope may not have
	}
	if err != nil {
		return fmt.Errorf("ending login session %s: %w", s.ID, err)
	}
	return nil
}
