package bootorder

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// UnitTimes is what systemd and the journal of the current boot say about one unit.
// Timestamps are CLOCK_MONOTONIC microseconds of this boot; 0 means "never".
type UnitTimes struct {
	// LoadState is systemd's: loaded, not-found, masked, error, bad-setting; "invalid"
	// when systemd refused the name itself.
	LoadState   string `json:"load_state"`
	ActiveState string `json:"active_state"` // active, inactive, failed, activating ...
	SubState    string `json:"sub_state,omitempty"`
	// ConditionChecked is when systemd last checked the unit's Condition*= (0: never);
	// ConditionResult is false when one failed and the unit was skipped.
	ConditionChecked uint64 `json:"condition_checked_usec,omitempty"`
	ConditionResult  bool   `json:"condition_result"`
	// InactiveExit is when the unit last began starting (InactiveExitTimestampMonotonic).
	InactiveExit uint64 `json:"inactive_exit_usec"`
	// ActiveEnter is when the unit last became active (ActiveEnterTimestampMonotonic).
	ActiveEnter uint64 `json:"active_enter_usec"`
	// InactiveEnter is when the unit last became inactive: for a oneshot without
	// RemainAfterExit=, which is never "active", the moment it finished.
	InactiveEnter uint64 `json:"inactive_enter_usec"`

	// JournalStarting and JournalStarted are the first "Starting"/"Started" messages PID 1
	// logged for the unit in this boot (0: none found), JournalResult the JOB_RESULT= of
	// that "Started" message.
	JournalStarting uint64 `json:"journal_starting_usec,omitempty"`
	JournalStarted  uint64 `json:"journal_started_usec,omitempty"`
}

// Timestamps maps unit names to what systemd and the journal say about them.
type Timestamps map[string]UnitTimes

// Verification is the outcome of checking a booted system against a Plan. Its JSON form
// is what Verify() on org.hostkit.BootOrder1 and `hostkit-bootorder verify --json` print.
type Verification struct {
	BootID string    `json:"boot_id"`
	At     time.Time `json:"at"`
	// Checked counts the edges whose two units both ran, so that the order could be
	// compared; Violations those of them where the order did not hold.
	Checked    int          `json:"checked"`
	Violations int          `json:"violations"`
	Edges      []EdgeResult `json:"edges"`
	// NotRun are the planned units (and units the plan orders them against) that did not
	// run in this boot, with the reason systemd gives.
	NotRun []NotRun `json:"not_run"`
	// Notes are disagreements between systemd and the journal, and edges that could not be
	// judged; none of them is a violation.
	Notes []string `json:"notes"`
}

// EdgeResult is one planned edge "First before Then" as this boot ran it.
type EdgeResult struct {
	First  string `json:"first"`  // the unit that must be up first
	Then   string `json:"then"`   // the unit ordered after it
	Status string `json:"status"` // one of the Edge* constants
	// FirstUp is when First was up (became active, or finished as a oneshot); ThenStarting
	// when Then began starting. Monotonic microseconds; 0 when the unit did not get there.
	FirstUp      uint64 `json:"first_up_usec"`
	ThenStarting uint64 `json:"then_starting_usec"`
	// Source says whose timestamps were compared: "systemd", or "journal" when systemd
	// no longer knows a unit (unloaded since it ran) but the journal recorded it.
	Source string `json:"source,omitempty"`
	// Why is the plan's reason for the edge: which header, link or rule put it there.
	Why    string `json:"why,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Edge statuses.
const (
	EdgeOK       = "ok"           // Then began starting no earlier than First was up
	EdgeViolated = "violated"     // Then began starting before First was up
	EdgeNotRun   = "not-run"      // one of the two did not run in this boot
	EdgeFailed   = "first-failed" // First ran but never came up
)

// NotRun is a unit that did not run in this boot, and why.
type NotRun struct {
	Unit   string `json:"unit"`
	Reason string `json:"reason"`
}

// planIndex looks up the units of a plan and the reasons they record by name, so that
// checking every edge of a plan costs time linear in its size (a plan where rc.local
// follows thousands of scripts records thousands of reasons on one unit).
type planIndex struct {
	units map[string]*Unit
	facts map[string]map[string]Reason // unit -> fact -> the first reason for it
}

func newPlanIndex(p *Plan) *planIndex {
	x := &planIndex{units: make(map[string]*Unit, len(p.Units)), facts: map[string]map[string]Reason{}}
	for i := range p.Units {
		u := &p.Units[i]
		if _, dup := x.units[u.Unit]; dup {
			continue // as Find: the first one
		}
		x.units[u.Unit] = u
		facts := make(map[string]Reason, len(u.Why))
		for _, r := range u.Why {
			if _, dup := facts[r.Fact]; !dup {
				facts[r.Fact] = r
			}
		}
		x.facts[u.Unit] = facts
	}
	return x
}

// edgeReason returns the plan's reason for e, looked up in the later unit's Why ("after
// EARLIER") and the earlier unit's ("before LATER"); "" when the plan records none.
func (x *planIndex) edgeReason(e Edge) string {
	if r, ok := x.facts[e.Later]["after "+e.Earlier]; ok {
		return formatReason(r)
	}
	if r, ok := x.facts[e.Earlier]["before "+e.Later]; ok {
		return formatReason(r)
	}
	return ""
}

// formatReason renders r as "WHY (PATH:LINE)".
func formatReason(r Reason) string {
	place := r.Path
	if r.Line > 0 {
		place += ":" + strconv.Itoa(r.Line)
	}
	switch {
	case r.Why == "":
		return place
	case place == "":
		return r.Why
	}
	return r.Why + " (" + place + ")"
}

// VerificationUnits returns every unit Verify needs times for: the plan's units and the
// units its edges name, sorted.
func VerificationUnits(p *Plan) []string {
	set := map[string]bool{}
	for _, u := range p.Units {
		set[u.Unit] = true
	}
	for _, e := range p.EdgeList() {
		set[e.Earlier], set[e.Later] = true, true
	}
	out := make([]string, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// ran reports whether systemd saw the unit begin starting in this boot.
func (t UnitTimes) ran() bool { return t.InactiveExit > 0 }

// journalRan reports whether the journal recorded a start job of the unit in this boot.
func (t UnitTimes) journalRan() bool { return t.JournalStarting > 0 || t.JournalStarted > 0 }

// up returns when the unit was up: when it became active, or, for a oneshot that ran and
// finished without ever being "active", when it finished. ok is false when it never got
// there (failed, or still starting).
func (t UnitTimes) up() (uint64, bool) {
	switch {
	case t.ActiveEnter > 0:
		return t.ActiveEnter, true
	case t.ActiveState == "inactive" && t.InactiveExit > 0 && t.InactiveEnter >= t.InactiveExit:
		return t.InactiveEnter, true
	}
	return 0, false
}

// notRunReason says why a unit that did not run did not, from systemd's view of it.
func notRunReason(name string, t UnitTimes, known bool, x *planIndex) string {
	switch {
	case !known:
		return "systemd was not asked about it"
	case t.LoadState == "invalid":
		return "not a valid unit name"
	case t.LoadState == "not-found":
		return "no such unit (not found by systemd)"
	case t.LoadState == "masked":
		return "masked"
	case t.LoadState != "" && t.LoadState != "loaded":
		return "not loaded (" + t.LoadState + ")"
	case t.ConditionChecked > 0 && !t.ConditionResult:
		return "a condition failed, so systemd skipped it"
	}
	if u := x.units[name]; u != nil && len(u.Targets) == 0 && u.Kind != KindNative {
		return "not enabled in any runlevel"
	}
	return "never started in this boot (" + t.ActiveState + ")"
}

// Verify checks every edge of p (p.EdgeList) against ts. The rule, for each edge "A before B": B began
// starting no earlier than A was up (B.InactiveExit >= A.ActiveEnter, or A's finish for a
// oneshot). An edge one of whose units did not run is "not-run", one whose first unit ran
// but never came up is "first-failed"; neither counts as a violation, and units that did
// not run are listed in NotRun. When systemd has forgotten a unit (unloaded after it ran)
// the journal's times are used instead and a note says so. Where the journal recorded
// both units, its order is compared with systemd's and a disagreement is a note. Verify
// does not set BootID or At: it reads nothing but its arguments.
func Verify(p *Plan, ts Timestamps) *Verification {
	v := &Verification{Edges: []EdgeResult{}, NotRun: []NotRun{}, Notes: []string{}}
	journal := false
	for _, t := range ts {
		if t.JournalStarting > 0 || t.JournalStarted > 0 {
			journal = true
			break
		}
	}
	if !journal && len(ts) > 0 {
		v.Notes = append(v.Notes, "the journal of this boot has no Starting/Started messages of PID 1 for the planned units: checked against systemd's timestamps only")
	}

	// A planned unit no target wants and no edge names (a script enabled in no runlevel,
	// a masked unit) was never expected to run: listing it as not run is only noise.
	x := newPlanIndex(p)
	edges := p.EdgeList()
	inEdge := map[string]bool{}
	for _, e := range edges {
		inEdge[e.Earlier], inEdge[e.Later] = true, true
	}
	notRun := map[string]string{}
	for _, name := range VerificationUnits(p) {
		if u := x.units[name]; u != nil && len(u.Targets) == 0 && !inEdge[name] {
			continue
		}
		t, known := ts[name]
		switch {
		case t.ran() && journal && t.JournalStarting == 0 && t.JournalStarted == 0:
			v.Notes = append(v.Notes, fmt.Sprintf("%s: systemd says it began starting at %s, but the journal has no Starting/Started message for it", name, usec(t.InactiveExit)))
		case !t.ran() && t.journalRan():
			v.Notes = append(v.Notes, fmt.Sprintf("%s: systemd has no start time for it (%s), but the journal recorded its start job: using the journal's times", name, orUnknown(t.LoadState)))
		case !t.ran():
			notRun[name] = notRunReason(name, t, known, x)
			v.NotRun = append(v.NotRun, NotRun{Unit: name, Reason: notRun[name]})
		}
	}

	for _, e := range edges {
		a, b := ts[e.Earlier], ts[e.Later]
		r := EdgeResult{First: e.Earlier, Then: e.Later, Why: x.edgeReason(e), Source: "systemd"}
		aRan := a.ran() || a.journalRan()
		bRan := b.ran() || b.journalRan()
		switch {
		case !aRan || !bRan:
			r.Status = EdgeNotRun
			var parts []string
			if !aRan {
				parts = append(parts, e.Earlier+" did not run: "+notRun[e.Earlier])
			}
			if !bRan {
				parts = append(parts, e.Later+" did not run: "+notRun[e.Later])
			}
			r.Detail = strings.Join(parts, "; ")
			v.Edges = append(v.Edges, r)
			continue
		}
		if !a.ran() || !b.ran() {
			r.Source = "journal"
			r.FirstUp, r.ThenStarting = a.JournalStarted, b.JournalStarting
			if r.FirstUp == 0 || r.ThenStarting == 0 {
				r.Status = EdgeNotRun
				r.Detail = "the journal lacks the Started message of " + e.Earlier + " or the Starting message of " + e.Later
				v.Edges = append(v.Edges, r)
				continue
			}
		} else {
			up, ok := a.up()
			r.FirstUp, r.ThenStarting = up, b.InactiveExit
			if !ok {
				r.Status = EdgeFailed
				r.Detail = fmt.Sprintf("%s began starting at %s but never came up (%s)", e.Earlier, usec(a.InactiveExit), a.ActiveState)
				v.Notes = append(v.Notes, fmt.Sprintf("%s before %s: not judged, %s", e.Earlier, e.Later, r.Detail))
				v.Edges = append(v.Edges, r)
				continue
			}
		}
		v.Checked++
		if r.ThenStarting >= r.FirstUp {
			r.Status = EdgeOK
		} else {
			r.Status = EdgeViolated
			v.Violations++
			r.Detail = fmt.Sprintf("%s began starting at %s, %s before %s was up at %s",
				e.Later, usec(r.ThenStarting), time.Duration(r.FirstUp-r.ThenStarting)*time.Microsecond, e.Earlier, usec(r.FirstUp))
		}
		if r.Source == "systemd" {
			v.Notes = append(v.Notes, crossCheck(e, a, b, r.Status)...)
		}
		v.Edges = append(v.Edges, r)
	}
	return v
}

// crossCheck compares systemd's verdict on an edge with the journal's, when the journal
// recorded First's "Started" and Then's "Starting".
func crossCheck(e Edge, a, b UnitTimes, status string) []string {
	if a.JournalStarted == 0 || b.JournalStarting == 0 {
		return nil
	}
	journalOK := b.JournalStarting >= a.JournalStarted
	if journalOK == (status == EdgeOK) {
		return nil
	}
	if journalOK {
		return []string{fmt.Sprintf("%s before %s: systemd's timestamps say violated, but the journal's first Started of %s (%s) precedes the first Starting of %s (%s); was %s restarted since boot?",
			e.Earlier, e.Later, e.Earlier, usec(a.JournalStarted), e.Later, usec(b.JournalStarting), e.Earlier)}
	}
	return []string{fmt.Sprintf("%s before %s: systemd's timestamps say it held, but in the journal %s was Starting at %s before %s was Started at %s; was %s restarted since boot?",
		e.Earlier, e.Later, e.Later, usec(b.JournalStarting), e.Earlier, usec(a.JournalStarted), e.Later)}
}

// usec renders a monotonic timestamp as seconds since boot, as systemd-analyze does.
func usec(t uint64) string {
	return strconv.FormatFloat(float64(t)/1e6, 'f', 6, 64) + "s"
}

func orUnknown(s string) string {
	if s == "" {
		return "state unknown"
	}
	return s
}

// Summary is one line saying how the boot went, e.g. "12 edges checked, 1 violation,
// 2 units not run, 0 notes".
func (v *Verification) Summary() string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	return fmt.Sprintf("%s checked, %s, %s not run, %s",
		plural(v.Checked, "edge", "edges"), plural(v.Violations, "violation", "violations"),
		plural(len(v.NotRun), "unit", "units"), plural(len(v.Notes), "note", "notes"))
}

// systemd's D-Bus names.
const (
	systemdName    = "org.freedesktop.systemd1"
	systemdPath    = dbus.ObjectPath("/org/freedesktop/systemd1")
	systemdManager = "org.freedesktop.systemd1.Manager"
	systemdUnit    = "org.freedesktop.systemd1.Unit"
)

// ErrNoSystemd is returned (wrapped) by ReadTimestamps when no systemd answers on the bus.
var ErrNoSystemd = errors.New("systemd (org.freedesktop.systemd1) is not on this bus")

// ReadTimestamps asks systemd, over conn, for the state and timestamps of each unit, with
// LoadUnit (which loads a unit's configuration but never starts it). A unit systemd cannot
// find comes back with LoadState not-found, a name it refuses with LoadState "invalid".
// The error wraps ErrNoSystemd when systemd is not on the bus; any other failure names
// the unit.
func ReadTimestamps(conn *dbus.Conn, units []string) (Timestamps, error) {
	ts := Timestamps{}
	manager := conn.Object(systemdName, systemdPath)
	for _, name := range units {
		var path dbus.ObjectPath
		err := manager.Call(systemdManager+".LoadUnit", 0, name).Store(&path)
		var dbusErr dbus.Error
		if errors.As(err, &dbusErr) {
			switch dbusErr.Name {
			case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
				return nil, fmt.Errorf("%w: %s", ErrNoSystemd, dbusErr.Error())
			case "org.freedesktop.DBus.Error.InvalidArgs":
				ts[name] = UnitTimes{LoadState: "invalid"}
				continue
			case "org.freedesktop.systemd1.NoSuchUnit":
				ts[name] = UnitTimes{LoadState: "not-found"}
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("systemd LoadUnit(%s): %w", name, err)
		}
		var props map[string]dbus.Variant
		err = conn.Object(systemdName, path).Call("org.freedesktop.DBus.Properties.GetAll", 0, systemdUnit).Store(&props)
		if err != nil {
			return nil, fmt.Errorf("reading the properties of %s from systemd: %w", name, err)
		}
		str := func(k string) string { s, _ := props[k].Value().(string); return s }
		num := func(k string) uint64 { n, _ := props[k].Value().(uint64); return n }
		cond, _ := props["ConditionResult"].Value().(bool)
		ts[name] = UnitTimes{
			LoadState:        str("LoadState"),
			ActiveState:      str("ActiveState"),
			SubState:         str("SubState"),
			ConditionChecked: num("ConditionTimestampMonotonic"),
			ConditionResult:  cond,
			InactiveExit:     num("InactiveExitTimestampMonotonic"),
			ActiveEnter:      num("ActiveEnterTimestampMonotonic"),
			InactiveEnter:    num("InactiveEnterTimestampMonotonic"),
		}
	}
	return ts, nil
}

// The MESSAGE_IDs systemd (PID 1) logs a start job with: "Starting X..." when the job
// begins, "Started X." (or "Finished X." for a oneshot) when it completes, with UNIT=X,
// JOB_TYPE=start and JOB_RESULT=done; see systemd's catalog/systemd.catalog.
const (
	MessageUnitStarting = "7d4958e842da4a758f6c1cdc7b36dcc5"
	MessageUnitStarted  = "39f53479d3a045ac8e11786248231fbf"
)

// JournalArgs are the arguments of the journalctl call ReadJournal makes: PID 1's start
// job messages of boot bootID (the current boot when empty) as JSON, only the fields
// needed. Matching _PID=1 (a field journald sets, which a client cannot forge) keeps out
// messages any process could log with the same MESSAGE_ID and UNIT=.
func JournalArgs(bootID string) []string {
	boot := "--boot"
	if bootID != "" {
		boot = "_BOOT_ID=" + bootID
	}
	return []string{boot, "--output=json", "--no-pager", "--quiet",
		"--output-fields=MESSAGE_ID,UNIT,JOB_TYPE,JOB_RESULT",
		"_PID=1", "MESSAGE_ID=" + MessageUnitStarting, "MESSAGE_ID=" + MessageUnitStarted,
	}
}

// ReadJournal runs journalctl for boot bootID (the current boot when empty) and records
// in ts, for the units ts already holds, the first "Starting" and "Started" messages (see
// ParseJournal). The error says why the journal could not be read; ts is then unchanged.
func ReadJournal(ctx context.Context, ts Timestamps, bootID string) error {
	cmd := exec.CommandContext(ctx, "journalctl", JournalArgs(bootID)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running journalctl: %w", err)
	}
	found := Timestamps{}
	for name := range ts {
		found[name] = UnitTimes{}
	}
	parseErr := ParseJournal(out, found)
	if parseErr != nil {
		io.Copy(io.Discard, out) // let journalctl finish writing before Wait
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("journalctl %v: %w: %s", JournalArgs(bootID), err, stderr.String())
	}
	if parseErr != nil {
		return parseErr
	}
	for name, j := range found {
		t := ts[name]
		t.JournalStarting, t.JournalStarted = j.JournalStarting, j.JournalStarted
		ts[name] = t
	}
	return nil
}

// ParseJournal reads `journalctl -o json` output and sets, for every unit already in ts,
// JournalStarting to the first start job "Starting" message and JournalStarted to the first
// start job completed with JOB_RESULT=done. Entries for other units, of other kinds or with
// fields journalctl could not render as strings are skipped; a line that is not JSON is an
// error naming its number.
func ParseJournal(r io.Reader, ts Timestamps) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		// Not a struct: journalctl renders a field that is not UTF-8, or that occurs twice
		// in an entry, as an array, which would fail a string field.
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return fmt.Errorf("journalctl output line %d: %w", line, err)
		}
		field := func(k string) string { s, _ := raw[k].(string); return s }
		unit := field("UNIT")
		t, ok := ts[unit]
		if !ok || field("JOB_TYPE") != "start" {
			continue
		}
		mono, err := strconv.ParseUint(field("__MONOTONIC_TIMESTAMP"), 10, 64)
		if err != nil || mono == 0 {
			continue
		}
		switch id := field("MESSAGE_ID"); {
		case id == MessageUnitStarting && t.JournalStarting == 0:
			t.JournalStarting = mono
		case id == MessageUnitStarted && field("JOB_RESULT") == "done" && t.JournalStarted == 0:
			t.JournalStarted = mono
		}
		ts[unit] = t
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading journalctl output: %w", err)
	}
	return nil
}

// PlanBootID returns the boot p was planned for, or, for a plan made at run time, the
// current boot as ReadBootID reads it.
func PlanBootID(p *Plan) (string, error) {
	if p.BootID != "" {
		return p.BootID, nil
	}
	return ReadBootID()
}

// BootIDFile is where the kernel publishes the current boot's ID.
const BootIDFile = "/proc/sys/kernel/random/boot_id"

// ReadBootID returns the current boot's ID as the journal writes it (32 hex digits, no
// dashes).
func ReadBootID() (string, error) {
	data, err := os.ReadFile(BootIDFile)
	if err != nil {
		return "", fmt.Errorf("reading the boot ID: %w", err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(data)), "-", ""), nil
}

// VerifyBoot verifies the current boot against p: it reads the planned units' times from
// systemd over conn (ReadTimestamps) and from the journal (ReadJournal), runs Verify, and
// stamps the result with the boot ID and the time. A journal that cannot be read is a note,
// not an error; the error is systemd's, and wraps ErrNoSystemd when it is not on the bus.
func VerifyBoot(ctx context.Context, conn *dbus.Conn, p *Plan) (*Verification, error) {
	ts, err := ReadTimestamps(conn, VerificationUnits(p))
	if err != nil {
		return nil, err
	}
	bootID, bootErr := PlanBootID(p)
	journalErr := ReadJournal(ctx, ts, bootID)
	v := Verify(p, ts)
	if journalErr != nil {
		v.Notes = append(v.Notes, "journal not checked: "+journalErr.Error())
	}
	if bootErr != nil {
		v.Notes = append(v.Notes, bootErr.Error())
	}
	v.At = time.Now().UTC().Truncate(time.Microsecond)
	v.BootID = bootID
	return v, nil
}

// limitedBuffer keeps the first 4 KiB written to it: enough of journalctl's stderr to
// say what went wrong.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// WriteVerificationText writes v for a person: a summary line, then each violation with
// the plan's reason for the edge, the units that did not run and the notes. Edges that
// held are not listed (the JSON form has them).
func WriteVerificationText(w io.Writer, v *Verification) error {
	var b strings.Builder
	when := "never"
	if !v.At.IsZero() {
		when = v.At.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	fmt.Fprintf(&b, "Boot %s, verified %s: %s\n", orUnknown(v.BootID), when, v.Summary())
	if v.Violations > 0 {
		fmt.Fprintf(&b, "Violations:\n")
		for _, e := range v.Edges {
			if e.Status != EdgeViolated {
				continue
			}
			fmt.Fprintf(&b, "  %s before %s: %s (from %s)\n", e.First, e.Then, e.Detail, e.Source)
			if e.Why != "" {
				fmt.Fprintf(&b, "    planned because: %s\n", e.Why)
			}
		}
	}
	if len(v.NotRun) > 0 {
		fmt.Fprintf(&b, "Not run:\n")
		for _, n := range v.NotRun {
			fmt.Fprintf(&b, "  %s: %s\n", n.Unit, n.Reason)
		}
	}
	if len(v.Notes) > 0 {
		fmt.Fprintf(&b, "Notes:\n")
		for _, n := range v.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
