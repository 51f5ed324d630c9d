package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/hardware"
)

const (
	busName      = "org.hostkit.Hardware1"
	objectPath   = "/org/hostkit/Hardware1"
	serialAction = "org.hostkit.hardware1.get-hardware-serial"
	reloadAction = "org.hostkit.hardware1.reload"
)

// settings is what /etc/hostkit/hwd.conf configures.
type settings struct {
	dump        string
	idleTimeout time.Duration
}

func loadSettings(path string) (settings, error) {
	s := settings{idleTimeout: config.DefaultIdleTimeout}
	opts := append(config.DaemonOptions(&s.idleTimeout),
		config.Option{Section: "Hardware", Key: "SMBIOSDump", Set: config.AbsPath(&s.dump)})
	return s, config.Load(path, opts)
}

// readReport reads the tables the settings name. A machine without tables gives a report
// saying so and no error; a dump or table that cannot be read gives that report and the
// error, so that the caller decides whether to serve it (at start) or refuse (on reload).
func readReport(s settings) (*hardware.Report, error) {
	source, read := hardware.SysfsDir, hardware.ReadSysfs
	if s.dump != "" {
		source, read = s.dump, hardware.ReadDump
	}
	r, err := read(source)
	if errors.Is(err, hardware.ErrNoTables) {
		slog.Info("no SMBIOS tables", "err", err)
		return hardware.Unavailable(source, err.Error()), nil
	}
	if err != nil {
		return hardware.Unavailable(source, err.Error()), err
	}
	return r, nil
}

// addLive adds the running machine's parts to r, whatever tables it was read from. With
// its own tables (no SMBIOSDump=: a dump replaces the tables and what they tell, such
// as whether the machine is virtual) it also asks systemd, PID 1, whether this is a
// virtual machine or container, as systemd-detect-virt does; without an answer from
// systemd (a private bus in tests) r keeps what systemd-detect-virt's method found.
func addLive(conn *dbus.Conn, links *hardware.LinkReader, r *hardware.Report, s settings) {
	ownTables := s.dump == ""
	live := hardware.DefaultLive()
	// The unit has no device access (PrivateDevices=yes): partition types and labels
	// come from udev, and SMART through the helper.
	live.ReadTables, live.Smart, live.Links = false, smartReader(), links
	r.AddLive(live, ownTables)
	for _, w := range r.Warnings {
		slog.Warn("hardware report", "warning", w)
	}
	if !ownTables {
		return
	}
	v, err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		GetProperty("org.freedesktop.systemd1.Manager.Virtualization")
	if virt, ok := v.Value().(string); err == nil && ok {
		r.Virtualization = hardware.SystemdVirtualization(virt, r.Virtualization)
	} else {
		slog.Info("systemd's Virtualization not available; detected without it", "err", err)
	}
}

// hardwareObject implements org.hostkit.Hardware1 (see dbus/org.hostkit.Hardware1.xml).
type hardwareObject struct {
	conn       *dbus.Conn
	svc        *bus.Service
	obj        *bus.Object
	configPath string
	links      *hardware.LinkReader

	mu     sync.RWMutex
	report *hardware.Report
	// reloading serializes reload(), so that a SIGHUP and a Reload() call cannot leave
	// the properties showing one report and Describe() another.
	reloading sync.Mutex
}

func serve(ctx context.Context, busSpec, configPath string) error {
	s, err := loadSettings(configPath)
	if err != nil {
		return err
	}
	svc, err := bus.Open(busSpec, busName)
	if err != nil {
		return err
	}
	defer svc.Conn.Close() // Serve closes it too; this covers a failed Export

	r, err := readReport(s)
	if err != nil {
		// Serve the report that says what is wrong: callers see it, and a fixed
		// configuration is picked up by Reload().
		slog.Error("cannot read SMBIOS tables", "err", err)
	}
	h := &hardwareObject{conn: svc.Conn, svc: svc, configPath: configPath, links: hardware.NewLinkReader()}
	defer h.links.Close()
	addLive(svc.Conn, h.links, r, s)
	h.report = r
	h.obj = &bus.Object{
		Path:       objectPath,
		Interface:  busName,
		Methods:    h,
		Properties: properties(h.report),
	}
	if err := svc.Export(h.obj); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.watchLinks(ctx)
	h.followWatchers()
	return svc.Serve(ctx, status(h.report), s.idleTimeout, h.reload)
}

func status(r *hardware.Report) string {
	if !r.Available {
		return "No SMBIOS tables: " + r.Problem
	}
	sum := r.Summary()
	return fmt.Sprintf("Serving the hardware report of %s %s from %s", sum.SystemVendor, sum.SystemProduct, r.Source)
}

func properties(r *hardware.Report) map[string]any {
	s := r.Summary()
	return map[string]any{
		"Available":            s.Available,
		"Problem":              r.Problem,
		"Source":               r.Source,
		"SMBIOSVersion":        s.SMBIOSVersion,
		"BIOSVendor":           s.BIOSVendor,
		"BIOSVersion":          s.BIOSVersion,
		"BIOSDate":             s.BIOSDate,
		"SystemVendor":         s.SystemVendor,
		"SystemProduct":        s.SystemProduct,
		"SystemVersion":        s.SystemVersion,
		"BoardVendor":          s.BoardVendor,
		"BoardProduct":         s.BoardProduct,
		"ChassisType":          s.ChassisType,
		"ProcessorSockets":     s.ProcessorSockets,
		"ProcessorsPopulated":  s.ProcessorsPopulated,
		"Cores":                s.Cores,
		"Threads":              s.Threads,
		"MemorySlots":          s.MemorySlots,
		"MemorySlotsUsed":      s.MemorySlotsUsed,
		"MemoryInstalledBytes": s.MemoryInstalledBytes,
		"MemoryMaxBytes":       s.MemoryMaxBytes,
		"Virtualization":       s.Virtualization,
		"CPUModel":             s.CPUModel,
		"Links":                hardware.LinkProperties(r.Links),
	}
}

func (h *hardwareObject) current() *hardware.Report {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.report
}

// Describe returns the report as JSON; serials, UUIDs and asset tags only for root or a
// caller polkit authorizes without asking (as hostnamed's Describe does).
func (h *hardwareObject) Describe(sender dbus.Sender) (string, *dbus.Error) {
	r := h.current()
	ok, err := bus.Authorize(h.conn, sender, serialAction, false)
	if err != nil {
		slog.Info("serials withheld", "caller", string(sender), "err", err)
	}
	if !ok {
		r = r.WithoutSecrets()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

// GetHardwareSerial returns the system serial number to an authorized caller; polkit may
// ask for a password when the caller allows interactive authorization.
func (h *hardwareObject) GetHardwareSerial(sender dbus.Sender, msg dbus.Message) (string, *dbus.Error) {
	ok, err := bus.Authorize(h.conn, sender, serialAction, bus.Interactive(msg))
	if !ok {
		slog.Info("serial denied", "caller", string(sender), "err", err)
		return "", bus.ErrAccessDenied(serialAction)
	}
	r := h.current()
	if r.System == nil || r.System.Serial == nil {
		msg := "the firmware records no system serial number"
		if r.System != nil && r.System.Raw["serial"] != "" {
			msg = fmt.Sprintf("the firmware records no system serial number, only the placeholder %q", r.System.Raw["serial"])
		}
		return "", dbus.NewError("org.hostkit.Hardware1.Error.NoSerial", []any{msg})
	}
	return *r.System.Serial, nil
}

// Reload re-reads the configuration and the tables for an authorized caller; a bad
// configuration or an unreadable dump is refused with its place, and the current report
// stays.
func (h *hardwareObject) Reload(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	ok, err := bus.Authorize(h.conn, sender, reloadAction, bus.Interactive(msg))
	if !ok {
		slog.Info("reload denied", "caller", string(sender), "err", err)
		return bus.ErrAccessDenied(reloadAction)
	}
	if err := h.reload(); err != nil {
		return bus.Failed(err)
	}
	return nil
}

// Advise answers the memory upgrade advisor's request, given in the words of
// `hostkit-hwd advise`, from the served report. Anyone may ask: the advice holds no
// serial numbers. A request that cannot be read, or that names a source of tables (the
// service advises on its own), fails with InvalidArgs saying why.
func (h *hardwareObject) Advise(request string) (string, *dbus.Error) {
	words := strings.Fields(request)
	for _, w := range words {
		if name := strings.TrimLeft(w, "-"); strings.HasPrefix(name, "from-dump") || strings.HasPrefix(name, "sysfs") {
			return "", invalidArgs(fmt.Errorf("%s: the service advises on the tables it serves; for a dump run hostkit-hwd advise --from-dump FILE", w))
		}
	}
	req, err := hardware.ParseRequest(words)
	if err != nil {
		return "", invalidArgs(err)
	}
	data, err := json.Marshal(hardware.Advise(h.current(), req))
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

func invalidArgs(err error) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"Advise: " + err.Error()})
}

// reload serves both Reload() and SIGHUP.
func (h *hardwareObject) reload() error {
	h.reloading.Lock()
	defer h.reloading.Unlock()
	s, err := loadSettings(h.configPath)
	if err != nil {
		return err
	}
	r, err := readReport(s)
	if err != nil {
		return fmt.Errorf("reload refused, the current report stays: %w", err)
	}
	addLive(h.conn, h.links, r, s)
	h.mu.Lock()
	h.report = r
	h.mu.Unlock()
	slog.Info("reloaded", "source", r.Source, "available", r.Available)
	lifecycle.Status(status(r))
	return h.obj.Update(h.conn, properties(r))
}
