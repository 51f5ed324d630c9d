package vnc

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
)

// A display's state is what systemd says of its two units, what its status line says
// while it runs, and what its runtime directory keeps of the last start and exit.

// States of a display (the State property).
const (
	StateWaiting  = "waiting"  // the socket listens, no Xvnc runs
	StateStarting = "starting" // Xvnc is starting, or the display restarts after a crash
	StateRunning  = "running"
	StateStopping = "stopping"
	StateFailed   = "failed"
)

// UnitInfo is what hostkit reads of a unit.
type UnitInfo struct {
	LoadState, ActiveState, SubState, Result string
	StatusText                               string
	NRestarts                                uint32
	ExecMainCode                             int32
	ExecMainStatus                           int32
	ExecMainStartTimestamp                   uint64
}

// ReadUnit reads unit's state from systemd (loading the unit if it is not loaded).
func ReadUnit(ctx context.Context, c *sd.Conn, unit string) (UnitInfo, error) {
	var u UnitInfo
	props, err := c.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return u, fmt.Errorf("reading %s from systemd: %w", unit, err)
	}
	u.LoadState, _ = props["LoadState"].(string)
	u.ActiveState, _ = props["ActiveState"].(string)
	u.SubState, _ = props["SubState"].(string)
	var kind string
	switch {
	case strings.HasSuffix(unit, ".service"):
		kind = "Service"
	case strings.HasSuffix(unit, ".socket"):
		kind = "Socket"
	}
	if u.LoadState != "loaded" || kind == "" {
		return u, nil
	}
	typed, err := c.GetUnitTypePropertiesContext(ctx, unit, kind)
	if err != nil {
		return u, fmt.Errorf("reading %s from systemd: %w", unit, err)
	}
	u.Result, _ = typed["Result"].(string)
	u.StatusText, _ = typed["StatusText"].(string)
	u.NRestarts, _ = typed["NRestarts"].(uint32)
	u.ExecMainCode, _ = typed["ExecMainCode"].(int32)
	u.ExecMainStatus, _ = typed["ExecMainStatus"].(int32)
	u.ExecMainStartTimestamp, _ = typed["ExecMainStartTimestamp"].(uint64)
	return u, nil
}

// State is everything the bus shows of a display besides its configuration.
type State struct {
	State         string
	MainPID       uint32 // Xvnc's
	StartedAt     uint64 // usec since the epoch
	Restarts      uint32
	LastExit      string
	Clients       uint32
	StaleCleanups uint32
	Blank         bool
	LastError     string
}

// ComputeState combines display d's units and runtime directory into its state. problem
// is what refuses the display's configuration (nil when none); sdErr, when not nil, says
// why systemd could not be asked.
func ComputeState(d *Display, problem error, svc, sock UnitInfo, sdErr error, runtimeDir string) State {
	s := State{
		LastExit:  ReadRuntimeFile(runtimeDir, LastExitFile),
		LastError: ReadRuntimeFile(runtimeDir, LastErrorFile),
		Restarts:  svc.NRestarts,
	}
	n, _ := strconv.Atoi(ReadRuntimeFile(runtimeDir, StaleCleanupsFile))
	s.StaleCleanups = uint32(n)
	switch {
	case problem != nil:
		s.State, s.LastError = StateFailed, problem.Error()
		return s
	case sdErr != nil:
		s.State, s.LastError = StateFailed, "cannot ask systemd: "+sdErr.Error()
		return s
	}
	switch svc.ActiveState {
	case "active", "reloading":
		s.State = StateRunning
		s.StartedAt = svc.ExecMainStartTimestamp
		if live, ok := ParseStatus(svc.StatusText); ok {
			s.MainPID, s.Clients, s.Blank = uint32(live.XvncPID), uint32(live.Clients), live.Blank
		}
		return s
	case "activating":
		s.State = StateStarting
		return s
	case "deactivating":
		s.State = StateStopping
		return s
	case "failed":
		s.State = StateFailed
		if s.LastError == "" {
			s.LastError = fmt.Sprintf("%s failed (%s): see journalctl -u %s", d.ServiceUnit(), svc.Result, d.ServiceUnit())
		}
		return s
	}
	switch {
	case sock.ActiveState == "active":
		s.State = StateWaiting
	case sock.LoadState != "loaded":
		s.State = StateFailed
		s.LastError = fmt.Sprintf("%s does not exist: vnc.conf changed since the last reload; run `hostkitctl vnc reload`", d.SocketUnit())
	case sock.ActiveState == "failed":
		s.State = StateFailed
		s.LastError = fmt.Sprintf("%s failed (%s): is port %d held by another program? `hostkitctl vnc clean %s` names it",
			d.SocketUnit(), sock.Result, d.Port(), d.Name())
	default:
		s.State = StateFailed
		s.LastError = fmt.Sprintf("%s is %s, not listening: run `hostkitctl vnc reload`", d.SocketUnit(), sock.ActiveState)
	}
	return s
}

// Description is what Describe() of org.hostkit.VNC1 returns as JSON, and what
// `hostkitctl vnc status` reads: the configuration and state of every display.
type Description struct {
	Config   string               `json:"config"`
	Displays []DisplayDescription `json:"displays"`
}

// DisplayDescription is one display in a Description.
type DisplayDescription struct {
	Number        int      `json:"number"`
	User          string   `json:"user"`
	Port          uint16   `json:"port"`
	Listen        string   `json:"listen"`
	Geometry      string   `json:"geometry"`
	Depth         int      `json:"depth"`
	Session       string   `json:"session"`
	SecurityTypes []string `json:"security_types"`
	Start         string   `json:"start"`
	XvncOptions   []string `json:"xvnc_options"`
	ConfiguredAt  string   `json:"configured_at"`
	Units         []string `json:"units"`
	State         string   `json:"state"`
	MainPID       uint32   `json:"main_pid"`
	StartedAt     uint64   `json:"started_at_usec"`
	Restarts      uint32   `json:"restarts"`
	LastExit      string   `json:"last_exit"`
	Clients       uint32   `json:"clients"`
	StaleCleanups uint32   `json:"stale_cleanups"`
	Blank         bool     `json:"blank"`
	LastError     string   `json:"last_error"`
}
