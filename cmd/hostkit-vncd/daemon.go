package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	hkdbus "github.com/hostkit/hostkit/dbus"
	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/vnc"
)

// hostkit-vncd is a bus front for units that systemd runs: each display is
// hostkit-vnc@N.socket and hostkit-vnc@N.service, written by the generator from vnc.conf.
// The daemon reads their state from systemd (and follows it through PropertiesChanged),
// asks systemd to start, stop and restart them, and exits when idle; the displays do not
// need it, and a restart of it touches no session.

const (
	busName      = "org.hostkit.VNC1"
	displayIface = "org.hostkit.VNC1.Display"
	objectPath   = dbus.ObjectPath("/org/hostkit/VNC1")
	displayBase  = "/org/hostkit/VNC1/display"

	manageAction    = "org.hostkit.vnc1.manage"
	manageOwnAction = "org.hostkit.vnc1.manage-own"

	// jobTimeout bounds a start, stop or restart: the units' own timeouts are shorter.
	jobTimeout = 2 * time.Minute
)

func displayPath(n int) dbus.ObjectPath {
	return dbus.ObjectPath(displayBase + "/" + strconv.Itoa(n))
}

// daemon implements org.hostkit.VNC1 (dbus/org.hostkit.VNC1.xml).
type daemon struct {
	opts    options
	conn    *dbus.Conn
	obj     *bus.Object
	systemd *sd.Conn // nil when systemd cannot be reached; sdErr says why
	sdErr   error

	mu       sync.Mutex
	displays map[int]*display
	// applying serializes Reload and SIGHUP.
	applying sync.Mutex
}

// display implements org.hostkit.VNC1.Display for one [Display] of vnc.conf.
type display struct {
	d *daemon
	n int

	mu      sync.Mutex
	obj     *bus.Object // nil until exported
	cfg     *vnc.Display
	problem error
}

func serve(ctx context.Context, o options) error {
	c, err := vnc.Load(o.configPath)
	if err != nil {
		return err
	}
	svc, err := bus.Open(o.bus, busName)
	if err != nil {
		return err
	}
	defer svc.Conn.Close()
	d := &daemon{opts: o, conn: svc.Conn, displays: map[int]*display{}}
	d.systemd, d.sdErr = connectSystemd(o.systemdBus)
	if d.sdErr != nil {
		slog.Error("systemd cannot be reached; displays show as failed", "err", d.sdErr)
	} else {
		defer d.systemd.Close()
		go d.follow(ctx)
	}
	d.obj = &bus.Object{Path: objectPath, Interface: busName, Methods: d, Properties: map[string]any{}}
	if err := svc.Export(d.obj); err != nil {
		return err
	}
	if err := d.apply(c); err != nil {
		return err
	}
	return svc.Serve(ctx, d.status(), c.IdleTimeout, d.reloadConfig)
}

// connectSystemd opens the connections go-systemd needs and subscribes to unit changes.
func connectSystemd(spec string) (*sd.Conn, error) {
	c, err := sd.NewConnection(func() (*dbus.Conn, error) { return bus.Connect(spec) })
	if err != nil {
		return nil, err
	}
	if err := c.Subscribe(); err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribing to systemd's signals on the %s bus: %w", spec, err)
	}
	return c, nil
}

// follow updates a display's properties whenever systemd changes one of its units.
func (d *daemon) follow(ctx context.Context) {
	updates := make(chan *sd.PropertiesUpdate, 256)
	errs := make(chan error, 16)
	d.systemd.SetPropertiesSubscriber(updates, errs)
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-errs:
			slog.Warn("systemd signal", "err", err)
		case u := <-updates:
			name := strings.TrimSuffix(strings.TrimSuffix(u.UnitName, ".service"), ".socket")
			rest, ok := strings.CutPrefix(name, "hostkit-vnc@")
			if !ok || name == u.UnitName {
				continue
			}
			if n, err := strconv.Atoi(rest); err == nil {
				if disp := d.display(n); disp != nil {
					disp.refresh()
				}
			}
		}
	}
}

func (d *daemon) display(n int) *display {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.displays[n]
}

// apply makes the exported objects those of c: new displays exported, gone ones
// withdrawn, the others updated.
func (d *daemon) apply(c *vnc.Config) error {
	problems := map[*vnc.Display]error{}
	for _, p := range c.Problems() {
		problems[p.Display] = p.Err
	}
	d.mu.Lock()
	old := d.displays
	d.displays = map[int]*display{}
	var fresh []*display
	for _, cd := range c.Displays {
		if cd.Number < 0 || d.displays[cd.Number] != nil {
			continue // no number, or the first of two with one number wins
		}
		disp, ok := old[cd.Number]
		if !ok {
			disp = &display{d: d, n: cd.Number}
			fresh = append(fresh, disp)
		}
		disp.mu.Lock()
		disp.cfg, disp.problem = cd, problems[cd]
		disp.mu.Unlock()
		d.displays[cd.Number] = disp
		delete(old, cd.Number)
	}
	d.mu.Unlock()
	for n := range old {
		// Withdrawn from the bus; its units, if still running, go on.
		d.conn.Export(nil, displayPath(n), displayIface)
		d.conn.Export(nil, displayPath(n), "org.freedesktop.DBus.Properties")
		d.conn.Export(nil, displayPath(n), "org.freedesktop.DBus.Introspectable")
	}
	for _, disp := range fresh {
		obj := &bus.Object{Path: displayPath(disp.n), Interface: displayIface, Methods: disp, Properties: disp.properties()}
		if err := bus.Export(d.conn, obj); err != nil {
			return err
		}
		disp.mu.Lock()
		disp.obj = obj
		disp.mu.Unlock()
	}
	for _, disp := range d.all() {
		disp.refresh()
	}
	return d.exportTree()
}

// exportTree lets introspection walk from /org/hostkit/VNC1 to every display, as
// `busctl tree org.hostkit.VNC1` does.
func (d *daemon) exportTree() error {
	var kids []introspect.Node
	for _, disp := range d.all() {
		kids = append(kids, introspect.Node{Name: strconv.Itoa(disp.n)})
	}
	data, err := hkdbus.Introspection(busName)
	if err != nil {
		return err
	}
	var node introspect.Node
	if err := xml.Unmarshal(data, &node); err != nil || len(node.Interfaces) != 1 {
		return fmt.Errorf("introspection XML of %s: %v", busName, err)
	}
	iface := node.Interfaces[0]
	root := &introspect.Node{Name: string(objectPath), Interfaces: []introspect.Interface{introspect.IntrospectData, prop.IntrospectData, iface},
		Children: []introspect.Node{{Name: "display"}}}
	if err := d.conn.Export(introspect.NewIntrospectable(root), objectPath, "org.freedesktop.DBus.Introspectable"); err != nil {
		return err
	}
	mid := &introspect.Node{Name: displayBase, Interfaces: []introspect.Interface{introspect.IntrospectData}, Children: kids}
	return d.conn.Export(introspect.NewIntrospectable(mid), displayBase, "org.freedesktop.DBus.Introspectable")
}

func (d *daemon) all() []*display {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*display, 0, len(d.displays))
	for _, disp := range d.displays {
		out = append(out, disp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

func (d *daemon) status() string {
	all := d.all()
	running := 0
	for _, disp := range all {
		if disp.state().State == vnc.StateRunning {
			running++
		}
	}
	return fmt.Sprintf("Serving %d displays, %d running", len(all), running)
}

// reloadConfig is SIGHUP: vnc.conf read again and the bus objects follow it. It does not
// touch units (that is Reload()).
func (d *daemon) reloadConfig() error {
	d.applying.Lock()
	defer d.applying.Unlock()
	c, err := vnc.Load(d.opts.configPath)
	if err != nil {
		return fmt.Errorf("reload refused, the displays stay as they were: %w", err)
	}
	if err := d.apply(c); err != nil {
		return err
	}
	lifecycle.Status(d.status())
	return nil
}

// runtimeDir is display n's runtime directory.
func (d *daemon) runtimeDir(n int) string {
	return filepath.Join(d.opts.runtimeBase, strconv.Itoa(n))
}

// --- org.hostkit.VNC1 ---

// ListDisplays returns every display of vnc.conf: number, user, port, state and object.
func (d *daemon) ListDisplays() ([]struct {
	Number uint32
	User   string
	Port   uint16
	State  string
	Path   dbus.ObjectPath
}, *dbus.Error) {
	var out []struct {
		Number uint32
		User   string
		Port   uint16
		State  string
		Path   dbus.ObjectPath
	}
	for _, disp := range d.all() {
		cfg, _ := disp.config()
		out = append(out, struct {
			Number uint32
			User   string
			Port   uint16
			State  string
			Path   dbus.ObjectPath
		}{uint32(disp.n), cfg.User, cfg.Port(), disp.state().State, displayPath(disp.n)})
	}
	return out, nil
}

// Describe returns the configuration and state of every display as JSON.
func (d *daemon) Describe() (string, *dbus.Error) {
	out := vnc.Description{Config: d.opts.configPath, Displays: []vnc.DisplayDescription{}}
	for _, disp := range d.all() {
		cfg, _ := disp.config()
		s := disp.state()
		xo := cfg.XvncOptions
		if xo == nil {
			xo = []string{}
		}
		out.Displays = append(out.Displays, vnc.DisplayDescription{
			Number: disp.n, User: cfg.User, Port: cfg.Port(), Listen: cfg.Listen, Geometry: cfg.Geometry(),
			Depth: cfg.Depth, Session: cfg.Session, SecurityTypes: cfg.SecurityTypes, Start: cfg.Start,
			XvncOptions: xo, ConfiguredAt: cfg.At.String(), Units: []string{cfg.SocketUnit(), cfg.ServiceUnit()},
			State: s.State, MainPID: s.MainPID, StartedAt: s.StartedAt, Restarts: s.Restarts, LastExit: s.LastExit,
			Clients: s.Clients, StaleCleanups: s.StaleCleanups, Blank: s.Blank, LastError: s.LastError,
		})
	}
	data, err := json.Marshal(out)
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

// Reload applies vnc.conf now: it checks every display (configuration, user, password
// file) and refuses with all problems when there is one; otherwise systemd reloads (the
// generator writes the units anew), every display's socket is started, sockets of
// displays no longer configured are stopped, and a socket whose address changed is
// restarted when its display is idle. Running sessions are not touched.
func (d *daemon) Reload(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	if err := d.authorize(sender, msg, nil); err != nil {
		return err
	}
	d.applying.Lock()
	defer d.applying.Unlock()
	c, err := vnc.Load(d.opts.configPath)
	if err != nil {
		return refused(err)
	}
	var problems []string
	for _, p := range c.Problems() {
		problems = append(problems, p.Error())
	}
	for _, disp := range c.Usable() {
		if err := vnc.CheckHost(disp, vnc.LookupAccount); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return refused(fmt.Errorf("%s\nnothing was changed", strings.Join(problems, "\n")))
	}
	if d.systemd == nil {
		return bus.Failed(fmt.Errorf("cannot ask systemd: %w", d.sdErr))
	}
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	before := d.generatedSockets()
	if err := d.systemd.ReloadContext(ctx); err != nil {
		return bus.Failed(fmt.Errorf("systemctl daemon-reload: %w", err))
	}
	after := d.generatedSockets()
	var errs []string
	for _, disp := range c.Usable() {
		if err := d.applyDisplay(ctx, disp, before[disp.Number], after[disp.Number]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for n := range before {
		if c.Display(n) == nil || after[n] == "" {
			if err := d.job(ctx, "stop", vnc.SocketUnit(n)); err != nil {
				errs = append(errs, err.Error())
			} else {
				slog.Info("display removed: its socket is stopped", "display", ":"+strconv.Itoa(n))
			}
		}
	}
	if err := d.apply(c); err != nil {
		errs = append(errs, err.Error())
	}
	lifecycle.Status(d.status())
	slog.Info("reloaded", "displays", len(c.Displays))
	if len(errs) > 0 {
		return bus.Failed(errors.New(strings.Join(errs, "\n")))
	}
	return nil
}

// applyDisplay brings one display's units in line after a daemon-reload: oldUnit and
// newUnit are its generated socket unit before and after.
func (d *daemon) applyDisplay(ctx context.Context, c *vnc.Display, oldUnit, newUnit string) error {
	sock, err := vnc.ReadUnit(ctx, d.systemd, c.SocketUnit())
	if err != nil {
		return err
	}
	svc, err := vnc.ReadUnit(ctx, d.systemd, c.ServiceUnit())
	if err != nil {
		return err
	}
	idle := svc.ActiveState == "inactive" || svc.ActiveState == "failed"
	switch {
	case sock.ActiveState == "active" && oldUnit != newUnit && idle:
		// Listen= changed: the socket binds its new address. Not while a session runs:
		// Xvnc holds the old socket, and the new one could not bind the same port.
		if err := d.job(ctx, "restart", c.SocketUnit()); err != nil {
			return err
		}
	case sock.ActiveState == "active" && oldUnit != newUnit:
		slog.Warn("the socket changed; it is restarted by the next reload after the session ends", "display", c.Name())
	case sock.ActiveState != "active":
		if sock.ActiveState == "failed" {
			_ = d.systemd.ResetFailedUnitContext(ctx, c.SocketUnit())
		}
		if err := d.job(ctx, "start", c.SocketUnit()); err != nil {
			return err
		}
	}
	if c.Start == vnc.StartBoot && idle {
		return d.job(ctx, "start", c.ServiceUnit())
	}
	return nil
}

// generatedSockets reads the generator's socket units, by display number, as every file
// hostkit reads is read (config.ReadFile: regular files only, capped).
func (d *daemon) generatedSockets() map[int]string {
	out := map[int]string{}
	dir := d.opts.generatorDir
	for _, n := range vnc.GeneratedDisplays(dir) {
		data, _ := config.ReadFile(filepath.Join(dir, vnc.SocketUnit(n)), config.MaxFileSize)
		out[n] = string(data)
	}
	return out
}

// job runs a start, stop or restart of unit and waits for its result.
func (d *daemon) job(ctx context.Context, kind, unit string) error {
	if d.systemd == nil {
		return fmt.Errorf("cannot ask systemd: %w", d.sdErr)
	}
	done := make(chan string, 1)
	var err error
	switch kind {
	case "start":
		_, err = d.systemd.StartUnitContext(ctx, unit, "replace", done)
	case "stop":
		_, err = d.systemd.StopUnitContext(ctx, unit, "replace", done)
	case "restart":
		_, err = d.systemd.RestartUnitContext(ctx, unit, "replace", done)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, unit, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("%s %s: %s (journalctl -u %s says why)", kind, unit, result, unit)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: no result after %s", kind, unit, jobTimeout)
	}
}

// authorize checks the caller of a change to display disp (nil: to the service as a
// whole): the display's own user with org.hostkit.vnc1.manage-own, which polkit grants
// without a password by default, anyone else with org.hostkit.vnc1.manage. Root always.
func (d *daemon) authorize(sender dbus.Sender, msg dbus.Message, disp *display) *dbus.Error {
	action := manageAction
	if disp != nil {
		var uid uint32
		err := d.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
		if err != nil {
			return bus.Failed(fmt.Errorf("finding the user of caller %s: %w", sender, err))
		}
		cfg, _ := disp.config()
		if a, err := vnc.LookupAccount(cfg.User); err == nil && uint32(a.UID) == uid {
			action = manageOwnAction
		}
	}
	ok, err := bus.Authorize(d.conn, sender, action, bus.Interactive(msg))
	if !ok {
		slog.Info("denied", "caller", string(sender), "action", action, "err", err)
		return bus.ErrAccessDenied(action)
	}
	return nil
}

// refused is the error of a configuration that cannot be applied.
func refused(err error) *dbus.Error {
	return dbus.NewError(busName+".Error.ConfigRefused", []any{err.Error()})
}

// --- org.hostkit.VNC1.Display ---

func (disp *display) config() (*vnc.Display, error) {
	disp.mu.Lock()
	defer disp.mu.Unlock()
	return disp.cfg, disp.problem
}

// state asks systemd and the runtime directory.
func (disp *display) state() vnc.State {
	cfg, problem := disp.config()
	d := disp.d
	var svc, sock vnc.UnitInfo
	sdErr := d.sdErr
	if sdErr == nil && problem == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err1, err2 error
		svc, err1 = vnc.ReadUnit(ctx, d.systemd, cfg.ServiceUnit())
		sock, err2 = vnc.ReadUnit(ctx, d.systemd, cfg.SocketUnit())
		sdErr = errors.Join(err1, err2)
	}
	return vnc.ComputeState(cfg, problem, svc, sock, sdErr, d.runtimeDir(disp.n))
}

func (disp *display) properties() map[string]any {
	cfg, _ := disp.config()
	s := disp.state()
	return map[string]any{
		"Number":        uint32(disp.n),
		"User":          cfg.User,
		"Port":          cfg.Port(),
		"State":         s.State,
		"MainPID":       s.MainPID,
		"StartedAt":     s.StartedAt,
		"Restarts":      s.Restarts,
		"LastExit":      s.LastExit,
		"Clients":       s.Clients,
		"StaleCleanups": s.StaleCleanups,
		"Blank":         s.Blank,
		"LastError":     s.LastError,
	}
}

// refresh updates the properties; PropertiesChanged names what changed.
func (disp *display) refresh() {
	disp.mu.Lock()
	obj := disp.obj
	disp.mu.Unlock()
	if obj == nil {
		return
	}
	props := disp.properties()
	if err := obj.Update(disp.d.conn, props); err != nil {
		slog.Warn("PropertiesChanged not sent", "display", ":"+strconv.Itoa(disp.n), "err", err)
	}
}

// unitJob authorizes the caller and runs a job on the display's service.
func (disp *display) unitJob(sender dbus.Sender, msg dbus.Message, kind string) *dbus.Error {
	if err := disp.d.authorize(sender, msg, disp); err != nil {
		return err
	}
	cfg, problem := disp.config()
	if problem != nil {
		return refused(problem)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	if kind != "stop" {
		// Asked by hand: a display that hit its start limit after crashes, or whose
		// socket failed, is given a fresh start. The service takes its listening socket
		// from the socket unit.
		if d := disp.d; d.systemd != nil {
			_ = d.systemd.ResetFailedUnitContext(ctx, cfg.ServiceUnit())
			if sock, err := vnc.ReadUnit(ctx, d.systemd, cfg.SocketUnit()); err == nil && sock.ActiveState == "failed" {
				_ = d.systemd.ResetFailedUnitContext(ctx, cfg.SocketUnit())
			}
		}
		if err := disp.d.job(ctx, "start", cfg.SocketUnit()); err != nil {
			return bus.Failed(err)
		}
	}
	err := disp.d.job(ctx, kind, cfg.ServiceUnit())
	disp.refresh()
	if err != nil {
		if s := disp.state(); s.LastError != "" {
			err = fmt.Errorf("%w\n%s", err, s.LastError)
		}
		return bus.Failed(err)
	}
	slog.Info(kind+" by request", "display", cfg.Name(), "caller", string(sender))
	return nil
}

// Start starts the display's Xvnc and session now, without waiting for a connection.
func (disp *display) Start(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	return disp.unitJob(sender, msg, "start")
}

// Stop ends the display's session and Xvnc, every process of it; the socket keeps
// listening, so the display waits for the next connection.
func (disp *display) Stop(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	return disp.unitJob(sender, msg, "stop")
}

// Restart ends the display's session and starts a new one.
func (disp *display) Restart(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	return disp.unitJob(sender, msg, "restart")
}

// Clean removes what dead servers left of the display (lock file, X socket file) and,
// with kill, ends the live processes that hold it. It runs `hostkit-vncd clean N` as a
// transient unit: the daemon's sandbox cannot see other users' processes or remove their
// files in /tmp.
func (disp *display) Clean(sender dbus.Sender, msg dbus.Message, kill bool) *dbus.Error {
	if err := disp.d.authorize(sender, msg, disp); err != nil {
		return err
	}
	d := disp.d
	if d.systemd == nil {
		return bus.Failed(fmt.Errorf("cannot ask systemd: %w", d.sdErr))
	}
	self, err := os.Executable()
	if err != nil {
		return bus.Failed(err)
	}
	report := filepath.Join(d.runtimeDir(disp.n), "clean.json")
	argv := []string{self, "clean", strconv.Itoa(disp.n), "--report", report, "--runtime-dir", d.runtimeDir(disp.n)}
	if kill {
		argv = append(argv, "--kill")
	}
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	os.Remove(report)
	name := fmt.Sprintf("hostkit-vnc-clean@%d-%d.service", disp.n, time.Now().UnixNano())
	props := []sd.Property{
		sd.PropDescription(fmt.Sprintf("hostkit VNC display :%d: clean stale state", disp.n)),
		sd.PropExecStart(argv, false),
		sd.PropType("oneshot"),
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	done := make(chan string, 1)
	if _, err := d.systemd.StartTransientUnitContext(ctx, name, "fail", props, done); err != nil {
		return bus.Failed(fmt.Errorf("starting %s: %w", name, err))
	}
	select {
	case <-done:
	case <-ctx.Done():
		return bus.Failed(fmt.Errorf("%s: no result after %s", name, jobTimeout))
	}
	data, err := vnc.ReadRuntimeData(filepath.Dir(report), filepath.Base(report))
	if err != nil {
		return bus.Failed(fmt.Errorf("%s left no report (journalctl -u %s says why): %w", name, name, err))
	}
	var rep cleanReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return bus.Failed(fmt.Errorf("%s: %w", report, err))
	}
	disp.refresh()
	if rep.HeldBy != "" {
		hint := ""
		if !kill {
			hint = "; `hostkitctl vnc clean :" + strconv.Itoa(disp.n) + " --kill` ends it"
		}
		return dbus.NewError(busName+".Error.Held", []any{rep.HeldBy + hint})
	}
	return nil
}

// Screenshot returns the display's screen as PNG: the root window's pixels, which are
// what Xvnc sends its viewers, read through X with the session's cookie.
func (disp *display) Screenshot(sender dbus.Sender, msg dbus.Message) ([]byte, *dbus.Error) {
	if err := disp.d.authorize(sender, msg, disp); err != nil {
		return nil, err
	}
	if s := disp.state(); s.State != vnc.StateRunning {
		return nil, dbus.NewError(busName+".Error.NotRunning", []any{fmt.Sprintf(
			"display :%d is %s, not running: connect to it or `hostkitctl vnc start :%d` first", disp.n, s.State, disp.n)})
	}
	cookie, err := vnc.ReadXauthority(vnc.XauthorityPath(disp.d.runtimeDir(disp.n)), disp.n)
	if err != nil {
		return nil, bus.Failed(err)
	}
	x, err := vnc.DialX(disp.d.opts.tmp, disp.n, cookie, 10*time.Second)
	if err != nil {
		return nil, bus.Failed(err)
	}
	defer x.Close()
	img, err := x.Image()
	if err != nil {
		return nil, bus.Failed(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, bus.Failed(err)
	}
	return buf.Bytes(), nil
}
