package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/services/hardware"
)

// linkSettle is how long the service waits after a link change for the ones that come
// with it (a link going down drops its carrier and its addresses in several messages)
// before it reads the links and emits one PropertiesChanged: well within the second
// the issue allows.
const linkSettle = 100 * time.Millisecond

// watchLinks follows the kernel's link and address changes until ctx ends, and after
// each burst of them reads the links anew: Describe() shows them, and the Links
// property changes with one PropertiesChanged.
func (h *hardwareObject) watchLinks(ctx context.Context) {
	kick := make(chan struct{}, 1)
	changed := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	failed := func(err error) { slog.Warn("network link subscription", "err", err) }
	if err := hardware.WatchLinks(ctx, changed, failed); err != nil {
		slog.Warn("link changes will not be signalled", "err", err)
		return
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			time.Sleep(linkSettle)
			select {
			case <-kick: // what came during the pause is read now too
			default:
			}
			h.refreshLinks()
		}
	}()
}

// refreshLinks reads the links into the served report and updates the Links property.
func (h *hardwareObject) refreshLinks() {
	links, warnings := h.links.ReadLinks()
	for _, w := range warnings {
		slog.Warn("network links", "warning", w)
	}
	h.reloading.Lock() // not between a reload's report and its properties
	defer h.reloading.Unlock()
	h.mu.Lock()
	r := *h.report
	r.Links = links
	h.report = &r
	h.mu.Unlock()
	if err := h.obj.Update(h.conn, map[string]any{"Links": hardware.LinkProperties(links)}); err != nil {
		slog.Warn("updating the Links property", "err", err)
	}
}

// Watch keeps the service running while the caller stays connected to the bus, so that
// it goes on emitting PropertiesChanged when links change; a caller that disconnects
// (or calls Unwatch()) lets it exit when idle again. The caller holds the service
// (bus.Service.Hold) under its unique name until then. Anyone may call it: the signals
// carry nothing secret.
func (h *hardwareObject) Watch(sender dbus.Sender) *dbus.Error {
	name := string(sender)
	h.svc.Hold(name)
	if err := h.conn.AddMatchSignal(ownerChanged(name)...); err != nil {
		h.unwatch(name)
		return bus.Failed(err)
	}
	// The caller may have gone before the bus told us to follow it.
	var has bool
	if err := h.conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil || !has {
		h.unwatch(name)
	}
	slog.Info("watching", "caller", name)
	return nil
}

// Unwatch ends the caller's Watch().
func (h *hardwareObject) Unwatch(sender dbus.Sender) *dbus.Error {
	h.unwatch(string(sender))
	return nil
}

// ownerChanged matches the bus's NameOwnerChanged for one name.
func ownerChanged(name string) []dbus.MatchOption {
	return []dbus.MatchOption{dbus.WithMatchSender("org.freedesktop.DBus"), dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, name)}
}

// unwatch ends name's Watch(), if it has one.
func (h *hardwareObject) unwatch(name string) {
	if h.svc.Release(name) {
		slog.Info("watch ended", "caller", name)
		if err := h.conn.RemoveMatchSignal(ownerChanged(name)...); err != nil {
			slog.Warn("removing a match", "err", err)
		}
	}
}

// followWatchers reads the NameOwnerChanged signals Watch() asked for: a watcher that
// leaves the bus is released.
func (h *hardwareObject) followWatchers() {
	ch := make(chan *dbus.Signal, 16)
	h.conn.Signal(ch)
	go func() {
		for sig := range ch {
			if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
				continue
			}
			name, _ := sig.Body[0].(string)
			if newOwner, _ := sig.Body[2].(string); newOwner == "" {
				h.unwatch(name)
			}
		}
	}()
}
