package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/vnc"
)

func init() {
	commands["status"] = command{"[--json]   (also hostkitctl alone: each service, its state and its headline)", status}
}

// A statusService is one line of `hostkitctl status`. A new service adds a line to
// statusServices with its unit, bus name and a headline read over the bus.
type statusService struct {
	Service string
	Unit    string
	BusName string
	// OnDemand: the bus or a socket starts it when asked, so "inactive" means idle;
	// otherwise an inactive service is stopped and its headline cannot be read.
	OnDemand bool
	// Headline reads a line about the service over conn; a bus-activated service is
	// started by it.
	Headline func(conn *dbus.Conn) (string, error)
}

var statusServices = []statusService{
	{"hostkit-hwd", "hostkit-hwd.service", hwName, true, hwHeadline},
	{"hostkit-bootorder", "hostkit-bootorder.service", bootName, true, bootHeadline},
	{"hostkit-syncd", "hostkit-syncd.service", syncName, false, syncHeadline},
	{"hostkit-vncd", "hostkit-vncd.service", vncName, true, vncHeadline},
}

// serviceStatus is a service's line of `status --json`.
type serviceStatus struct {
	Service     string `json:"service"`
	Unit        string `json:"unit"`
	BusName     string `json:"bus_name"`
	Installed   bool   `json:"installed"`
	State       string `json:"state"`        // not-installed, running, idle, stopped, failed, starting, stopping
	ActiveState string `json:"active_state"` // systemd's, before the headline was read
	Headline    string `json:"headline"`
	Error       string `json:"error,omitempty"`
}

func status(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the services' states as JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	conn, err := connect(busSpec)
	if err != nil {
		return err
	}
	var all []serviceStatus
	for _, s := range statusServices {
		all = append(all, s.status(conn))
	}
	if *asJSON {
		data, err := json.MarshalIndent(struct {
			Services []serviceStatus `json:"services"`
		}{all}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(term.NewJSONWriter(stdout), "%s\n", data)
		return err
	}
	tw := tabwriter.NewWriter(term.NewWriter(stdout), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEADLINE")
	for _, s := range all {
		line := s.Headline
		if s.Error != "" {
			line = "error: " + s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Service, s.State, line)
	}
	return tw.Flush()
}

// status asks systemd whether the unit is there and running, then the service itself.
func (s statusService) status(conn *dbus.Conn) serviceStatus {
	st := serviceStatus{Service: s.Service, Unit: s.Unit, BusName: s.BusName, State: "not-installed"}
	load, active, err := unitState(conn, s.Unit)
	if err != nil {
		st.Error = err.Error()
		st.State = "unknown"
		return st
	}
	st.ActiveState = active
	if load != "loaded" {
		st.Headline = "not installed (" + s.Unit + " is " + load + ")"
		return st
	}
	st.Installed = true
	switch active {
	case "active", "reloading":
		st.State = "running"
	case "inactive":
		st.State = "stopped"
		if s.OnDemand {
			st.State = "idle"
		}
	case "activating":
		st.State = "starting"
	case "deactivating":
		st.State = "stopping"
	default:
		st.State = active // failed
	}
	if !s.OnDemand && st.State != "running" {
		st.Headline = "not running (systemctl start " + s.Unit + ")"
		return st
	}
	st.Headline, err = s.Headline(conn)
	if err != nil {
		st.Error = err.Error()
	}
	return st
}

// unitState returns the unit's LoadState ("loaded", "not-found", "masked" ...) and
// ActiveState, as `systemctl show -p LoadState,ActiveState` reads them.
func unitState(conn *dbus.Conn, unit string) (load, active string, err error) {
	var path dbus.ObjectPath
	systemd := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	if err := systemd.Call("org.freedesktop.systemd1.Manager.LoadUnit", 0, unit).Store(&path); err != nil {
		return "", "", fmt.Errorf("systemd: LoadUnit %s: %w", unit, err)
	}
	u := conn.Object("org.freedesktop.systemd1", path)
	for _, p := range []struct {
		name string
		out  *string
	}{{"LoadState", &load}, {"ActiveState", &active}} {
		v, err := u.GetProperty("org.freedesktop.systemd1.Unit." + p.name)
		if err != nil {
			return "", "", fmt.Errorf("systemd: %s of %s: %w", p.name, unit, err)
		}
		if err := v.Store(p.out); err != nil {
			return "", "", fmt.Errorf("systemd: %s of %s: %w", p.name, unit, err)
		}
	}
	return load, active, nil
}

// properties reads the named properties of a service's main object (interface = bus name).
func properties(conn *dbus.Conn, name string, path dbus.ObjectPath, out map[string]any) error {
	obj := conn.Object(name, path)
	for p, dst := range out {
		v, err := obj.GetProperty(name + "." + p)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", name, p, err)
		}
		if err := v.Store(dst); err != nil {
			return fmt.Errorf("%s.%s: %w", name, p, err)
		}
	}
	return nil
}

func hwHeadline(conn *dbus.Conn) (string, error) {
	var available bool
	var problem string
	var used, slots uint32
	var installed uint64
	if err := properties(conn, hwName, hwPath, map[string]any{"Available": &available, "Problem": &problem,
		"MemorySlotsUsed": &used, "MemorySlots": &slots, "MemoryInstalledBytes": &installed}); err != nil {
		return "", err
	}
	if !available {
		return "no SMBIOS tables: " + problem, nil
	}
	return fmt.Sprintf("memory: %d of %d slots used, %s installed", used, slots, bytesText(int64(installed))), nil
}

func bootHeadline(conn *dbus.Conn) (string, error) {
	var mode string
	var edges, checked, violations uint32
	var last uint64
	if err := properties(conn, bootName, bootPath, map[string]any{"Mode": &mode, "Edges": &edges,
		"LastVerification": &last, "Checked": &checked, "Violations": &violations}); err != nil {
		return "", err
	}
	if last == 0 {
		return fmt.Sprintf("boot: %s planned (%s), not verified this boot", plural(int(edges), "edge"), mode), nil
	}
	return fmt.Sprintf("boot: %s this boot (%d of %d edges checked, %s)", plural(int(violations), "violation"), checked, edges, mode), nil
}

func syncHeadline(conn *dbus.Conn) (string, error) {
	var jobs, peers []dbus.ObjectPath
	var modules []string
	if err := properties(conn, syncName, syncPath, map[string]any{"Jobs": &jobs, "Modules": &modules, "Peers": &peers}); err != nil {
		return "", err
	}
	states := map[string]int{}
	for _, j := range jobs {
		v, err := conn.Object(syncName, j).GetProperty(syncName + ".Job.State")
		if err != nil {
			return "", fmt.Errorf("job %s: %w", j, err)
		}
		s, _ := v.Value().(string)
		states[s]++
	}
	return fmt.Sprintf("sync: %s%s, %s, %s", plural(len(jobs), "job"), countsText(states),
		plural(len(modules), "module"), plural(len(peers), "sender")+" connected"), nil
}

func vncHeadline(conn *dbus.Conn) (string, error) {
	var data string
	if err := conn.Object(vncName, vncPath).Call(vncName+".Describe", 0).Store(&data); err != nil {
		return "", fmt.Errorf("%s.Describe: %w", vncName, err)
	}
	var d vnc.Description
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return "", fmt.Errorf("%s.Describe returned JSON this hostkitctl cannot read: %w", vncName, err)
	}
	states := map[string]int{}
	viewers := 0
	for _, disp := range d.Displays {
		states[disp.State]++
		viewers += int(disp.Clients)
	}
	return fmt.Sprintf("vnc: %s%s, %s", plural(len(d.Displays), "display"), countsText(states), plural(viewers, "viewer")), nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// countsText is " (2 idle, 1 syncing)", in name order, or "" for none.
func countsText(counts map[string]int) string {
	if len(counts) == 0 {
		return ""
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[name], name))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
