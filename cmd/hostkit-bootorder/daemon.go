package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/bootorder"
)

const (
	busName    = "org.hostkit.BootOrder1"
	objectPath = "/org/hostkit/BootOrder1"

	// defaultPlanFile is where hostkit-bootorder-generator saves the plan of this boot.
	defaultPlanFile = "/run/systemd/generator/hostkit-bootorder.plan.json"
	// defaultStateDir keeps the last verification of this boot (RuntimeDirectory= of
	// both units, preserved), so that the daemon, which exits when idle, still answers
	// with what hostkit-bootorder-verify.service found at boot.
	defaultStateDir = "/run/hostkit-bootorder"
	// verificationFile is the file in the state directory.
	verificationFile = "verification.json"
)

// loadIdleTimeout reads the [Daemon] section of boot-order.conf. The same file holds the
// generator's [Rules] (see services/bootorder/rules.go), which the generator reads and
// reports on; here their values are accepted unread, so that a bad rule never stops the
// daemon. A line that is not INI syntax at all, in any of the files, does stop it, as in
// every hostkit configuration file, with the file and line in the error.
func loadIdleTimeout(path string) (time.Duration, error) {
	idle := config.DefaultIdleTimeout
	ignore := func(string) error { return nil }
	opts := append(config.DaemonOptions(&idle),
		config.Option{Section: "Rules", Key: "*", Set: ignore})
	return idle, config.Load(path, opts)
}

// loadPlan reads the plan named by file. When file is the generator's default and that is
// missing or unreadable (hostkit-bootorder-generator did not run, or failed), it plans now
// from / as the generator would, and source says so; a file named explicitly must exist.
// source is the file, or how the plan was made.
func loadPlan(file string) (p *bootorder.Plan, source string, err error) {
	p, err = readPlanFile(file)
	if err == nil {
		return p, file, nil
	}
	if file != defaultPlanFile {
		return nil, "", err
	}
	why := "no plan saved by the generator at " + file
	if !errors.Is(err, fs.ErrNotExist) {
		why = err.Error()
		slog.Warn("saved plan unreadable, planning now", "plan", file, "err", err)
	}
	source = "planned from / at start (" + why + ")"
	mode := bootorder.DetectMode("/")
	tree, err := bootorder.Scan("/")
	if err != nil {
		// As the generator does: nothing to order, and the plan's warning says why.
		return &bootorder.Plan{Mode: mode, Units: []bootorder.Unit{},
			Warnings: []bootorder.Warning{{Path: "/", Message: err.Error()}}}, source, nil
	}
	return bootorder.PlanOrder(tree, mode), source, nil
}

// maxStateBytes caps the plan and verification files the daemon reads: the plan of a
// thousand scripts is under 1 MiB, and a FIFO or a link to /dev/zero named with --plan
// must not hang the daemon or take its memory.
const maxStateBytes = 64 << 20

// readStateFile reads a plan or verification file, as config.OpenFile opens files: a
// regular file of at most maxStateBytes.
func readStateFile(file string) ([]byte, error) {
	f, err := config.OpenFile(file, 0, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return config.ReadAtMost(f, maxStateBytes)
}

// readPlanFile reads a plan as `hostkit-bootorder plan --json` and the generator write it.
func readPlanFile(file string) (*bootorder.Plan, error) {
	data, err := readStateFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the boot order plan: %w", err)
	}
	var p bootorder.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("boot order plan %s: not a plan: %w", file, err)
	}
	return &p, nil
}

// loadVerification returns the last verification saved in dir for the current boot, or
// nil when there is none (or it is from another boot, or unreadable: the next Verify()
// replaces it).
func loadVerification(dir, bootID string) *bootorder.Verification {
	data, err := readStateFile(filepath.Join(dir, verificationFile))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("last verification unreadable", "err", err)
		}
		return nil
	}
	var v bootorder.Verification
	if err := json.Unmarshal(data, &v); err != nil {
		slog.Warn("last verification unreadable", "file", filepath.Join(dir, verificationFile), "err", err)
		return nil
	}
	if bootID != "" && v.BootID != bootID {
		return nil
	}
	return &v
}

// saveVerification writes v to dir atomically, creating dir when missing.
func saveVerification(dir string, v *bootorder.Verification) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving the verification: %w", err)
	}
	tmp, err := os.CreateTemp(dir, verificationFile+".*")
	if err != nil {
		return fmt.Errorf("saving the verification: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the verification to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, verificationFile)); err != nil {
		return fmt.Errorf("saving the verification: %w", err)
	}
	return nil
}

// systemdConn returns a connection to the bus where systemd is: the service's own when
// they are the same bus, else a new one the caller closes (done).
func systemdConn(own *dbus.Conn, ownSpec, systemdSpec string) (conn *dbus.Conn, done func(), err error) {
	if own != nil && ownSpec == systemdSpec {
		return own, func() {}, nil
	}
	conn, err = bus.Connect(systemdSpec)
	if err != nil {
		return nil, nil, err
	}
	return conn, func() { conn.Close() }, nil
}

// verifyNow verifies the current boot against p with systemd on the bus systemdSpec
// names; errors name that bus.
func verifyNow(ctx context.Context, conn *dbus.Conn, systemdSpec string, p *bootorder.Plan) (*bootorder.Verification, error) {
	v, err := bootorder.VerifyBoot(ctx, conn, p)
	if err != nil {
		return nil, fmt.Errorf("cannot verify the boot order on the %s bus: %w", systemdSpec, err)
	}
	return v, nil
}

// bootOrderObject implements org.hostkit.BootOrder1 (see dbus/org.hostkit.BootOrder1.xml).
//
// No method asks polkit, as systemd-hostnamed asks none for reads: the plan, the
// explanations and the verification hold nothing secret (unit names and timestamps any
// user reads with `systemctl show`). Verify() changes nothing but this service's record
// of the last verification, which the next Verify() or boot replaces; calls to it are
// serialized so that callers cannot pile up work.
type bootOrderObject struct {
	conn *dbus.Conn
	obj  *bus.Object
	opts options

	mu     sync.RWMutex
	plan   *bootorder.Plan
	source string
	bootID string
	last   *bootorder.Verification

	verifying sync.Mutex
}

func serve(ctx context.Context, o options) error {
	idle, err := loadIdleTimeout(o.configPath)
	if err != nil {
		return err
	}
	p, source, err := loadPlan(o.planFile)
	if err != nil {
		return err
	}
	bootID, err := bootorder.PlanBootID(p)
	if err != nil {
		slog.Warn("boot ID unknown", "err", err)
	}
	svc, err := bus.Open(o.bus, busName)
	if err != nil {
		return err
	}
	defer svc.Conn.Close() // Serve closes it too; this covers a failed Export
	b := &bootOrderObject{conn: svc.Conn, opts: o, plan: p, source: source, bootID: bootID,
		last: loadVerification(o.stateDir, bootID)}
	b.obj = &bus.Object{
		Path:       objectPath,
		Interface:  busName,
		Methods:    b,
		Properties: b.properties(),
	}
	if err := svc.Export(b.obj); err != nil {
		return err
	}
	return svc.Serve(ctx, b.status(), idle, b.reload)
}

// properties are the values of every property; the caller holds mu or owns b alone.
func (b *bootOrderObject) properties() map[string]any {
	props := map[string]any{
		"Mode":             b.plan.Mode,
		"PlanSource":       b.source,
		"Units":            uint32(len(b.plan.Units)),
		"Edges":            uint32(b.plan.Edges()),
		"Warnings":         uint32(len(b.plan.Warnings)),
		"BootID":           b.bootID,
		"LastVerification": uint64(0),
		"Checked":          uint32(0),
		"Violations":       uint32(0),
		"NotRun":           uint32(0),
	}
	if v := b.last; v != nil {
		props["LastVerification"] = uint64(v.At.UnixMicro())
		props["Checked"] = uint32(v.Checked)
		props["Violations"] = uint32(v.Violations)
		props["NotRun"] = uint32(len(v.NotRun))
	}
	return props
}

// status is the line `systemctl status` shows; the caller holds mu or owns b alone.
func (b *bootOrderObject) status() string {
	s := fmt.Sprintf("Serving the boot order of %d units, %d edges (%s)", len(b.plan.Units), b.plan.Edges(), b.plan.Mode)
	if b.last != nil {
		s += "; last verification: " + b.last.Summary()
	}
	return s
}

// current returns the plan and the last verification.
func (b *bootOrderObject) current() (*bootorder.Plan, *bootorder.Verification) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.plan, b.last
}

// Describe returns the service's state as JSON: the plan, where it came from, the boot
// and the last verification of this boot (null before the first).
func (b *bootOrderObject) Describe() (string, *dbus.Error) {
	b.mu.RLock()
	d := struct {
		PlanSource       string                  `json:"plan_source"`
		BootID           string                  `json:"boot_id"`
		Plan             *bootorder.Plan         `json:"plan"`
		LastVerification *bootorder.Verification `json:"last_verification"`
	}{b.source, b.bootID, b.plan, b.last}
	data, err := json.Marshal(d)
	b.mu.RUnlock()
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

// Plan returns the plan as JSON, in the shape `hostkit-bootorder plan --json` prints.
func (b *bootOrderObject) Plan() (string, *dbus.Error) {
	p, _ := b.current()
	data, err := json.Marshal(p)
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

// Explain says why unit is where it is in the plan; an unknown unit is the error
// org.hostkit.BootOrder1.Error.NoSuchUnit.
func (b *bootOrderObject) Explain(unit string) (string, *dbus.Error) {
	p, _ := b.current()
	text, err := bootorder.Explain(p, unit)
	if err != nil {
		return "", dbus.NewError(busName+".Error.NoSuchUnit", []any{err.Error()})
	}
	return text, nil
}

// LastVerification returns the last verification of this boot as JSON; before the first
// it is the error org.hostkit.BootOrder1.Error.NotVerified.
func (b *bootOrderObject) LastVerification() (string, *dbus.Error) {
	_, v := b.current()
	if v == nil {
		return "", dbus.NewError(busName+".Error.NotVerified",
			[]any{"the boot order has not been verified in this boot yet (call Verify(), or `hostkitctl boot verify`)"})
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

// Verify verifies the current boot against the plan now, keeps the result as the last
// verification (PropertiesChanged names what changed) and returns it as JSON. When
// systemd cannot be asked it is the error org.hostkit.BootOrder1.Error.NoSystemd naming
// the bus, and the last verification stays.
func (b *bootOrderObject) Verify() (string, *dbus.Error) {
	b.verifying.Lock()
	defer b.verifying.Unlock()
	p, _ := b.current()
	conn, done, err := systemdConn(b.conn, b.opts.bus, b.opts.systemdBus)
	if err != nil {
		return "", dbus.NewError(busName+".Error.NoSystemd", []any{"cannot verify the boot order: " + err.Error()})
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := verifyNow(ctx, conn, b.opts.systemdBus, p)
	if errors.Is(err, bootorder.ErrNoSystemd) {
		return "", dbus.NewError(busName+".Error.NoSystemd", []any{err.Error()})
	}
	if err != nil {
		return "", bus.Failed(err)
	}
	// Only the oneshot after boot logs each violation (with MESSAGE_ID=): any caller may
	// ask for a verification, and a repeated call must not repeat them in the journal.
	if err := saveVerification(b.opts.stateDir, v); err != nil {
		slog.Warn("verification not kept for the next start", "err", err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", bus.Failed(err)
	}
	b.mu.Lock()
	b.last = v
	props, status := b.properties(), b.status()
	b.mu.Unlock()
	lifecycle.Status(status)
	if err := b.obj.Update(b.conn, props); err != nil {
		slog.Warn("PropertiesChanged not sent", "err", err)
	}
	return string(data), nil
}

// reload re-reads the plan (on SIGHUP): after `systemctl daemon-reload` the generator has
// saved a new one. A plan that cannot be read is refused and the current one stays.
func (b *bootOrderObject) reload() error {
	p, source, err := loadPlan(b.opts.planFile)
	if err != nil {
		return fmt.Errorf("reload refused, the current plan stays: %w", err)
	}
	b.mu.Lock()
	b.plan, b.source = p, source
	props, status := b.properties(), b.status()
	b.mu.Unlock()
	slog.Info("reloaded", "plan_source", source, "units", len(p.Units))
	lifecycle.Status(status)
	return b.obj.Update(b.conn, props)
}
