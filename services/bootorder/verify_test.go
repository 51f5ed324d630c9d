package bootorder

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func priority(n int) *int { return &n }

// storyPlan is the story: sshd at 54 before nginx at 55, rc.local last, and
// nginx wanting the network up.
func storyPlan() *Plan {
	return &Plan{
		Mode: ModeDropIns,
		Units: []Unit{
			{Unit: "sshd.service", Source: "/etc/init.d/sshd", Kind: KindSysV, Priority: priority(54),
				Targets: []string{"multi-user.target"}, Before: []string{"nginx.service"},
				Why: []Reason{{Fact: "priority 54", Path: "/etc/rc3.d/S54sshd", Why: "S54 link in /etc/rc3.d"}}},
			{Unit: "nginx.service", Source: "/etc/init.d/nginx", Kind: KindSysV, Priority: priority(55),
				Targets: []string{"multi-user.target"}, After: []string{"sshd.service", "network-online.target"},
				Wants: []string{"network-online.target"},
				Why: []Reason{
					{Fact: "priority 55", Path: "/etc/init.d/nginx", Line: 2, Why: "chkconfig header"},
					{Fact: "after sshd.service", Path: "/etc/rc3.d/S54sshd", Why: "nearest lower priority 54"},
					{Fact: "after network-online.target", Path: "/etc/init.d/nginx", Line: 9, Why: "Required-Start: $network"},
				}},
			{Unit: "rc-local.service", Source: "/etc/rc.local", Kind: KindRCLocal,
				Targets: []string{"multi-user.target"}, After: []string{"nginx.service", "sshd.service"},
				Why: []Reason{{Fact: "after sshd.service", Path: "/etc/rc.local", Why: "rc.local runs after every SysV unit, as S99local did"}}},
		},
	}
}

// up is a unit that began starting at start and was active at active (µs).
func up(start, active uint64) UnitTimes {
	return UnitTimes{LoadState: "loaded", ActiveState: "active", SubState: "running", ConditionResult: true,
		ConditionChecked: start, InactiveExit: start, ActiveEnter: active}
}

// withJournal adds journal times to t.
func withJournal(t UnitTimes, starting, started uint64) UnitTimes {
	t.JournalStarting, t.JournalStarted = starting, started
	return t
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name       string
		ts         Timestamps
		checked    int
		violations int
		statuses   []string // per edge (sorted by later unit): network-online.target->nginx, sshd->nginx, nginx->rc-local, sshd->rc-local
		notRun     []string
		notes      []string // substrings, one per expected note
	}{
		{
			name: "all in order, journal agrees",
			ts: Timestamps{
				"network-online.target": withJournal(up(900, 1000), 0, 1000),
				"sshd.service":          withJournal(up(1000, 2000), 1000, 2000),
				"nginx.service":         withJournal(up(2000, 3000), 2000, 3000),
				"rc-local.service":      withJournal(up(3000, 3500), 3000, 3500),
			},
			checked: 4, statuses: []string{EdgeOK, EdgeOK, EdgeOK, EdgeOK},
			notRun: []string{}, notes: []string{},
		},
		{
			name: "equal timestamps hold",
			ts: Timestamps{
				"network-online.target": up(900, 1000),
				"sshd.service":          up(1000, 2000),
				"nginx.service":         up(2000, 3000),
				"rc-local.service":      up(3000, 3500),
			},
			checked: 4, statuses: []string{EdgeOK, EdgeOK, EdgeOK, EdgeOK},
			notRun: []string{}, notes: []string{"checked against systemd's timestamps only"},
		},
		{
			name: "nginx started while sshd was still starting",
			ts: Timestamps{
				"network-online.target": up(100, 200),
				"sshd.service":          up(1000, 2000),
				"nginx.service":         up(1500, 3000),
				"rc-local.service":      up(3000, 3500),
			},
			checked: 4, violations: 1, statuses: []string{EdgeOK, EdgeViolated, EdgeOK, EdgeOK},
			notRun: []string{}, notes: []string{"timestamps only"},
		},
		{
			name: "sshd not installed, rc.local skipped by its condition",
			ts: Timestamps{
				"network-online.target": up(100, 200),
				"sshd.service":          {LoadState: "not-found", ActiveState: "inactive"},
				"nginx.service":         up(2000, 3000),
				"rc-local.service":      {LoadState: "loaded", ActiveState: "inactive", ConditionChecked: 3100},
			},
			checked: 1, statuses: []string{EdgeOK, EdgeNotRun, EdgeNotRun, EdgeNotRun},
			notRun: []string{"rc-local.service: a condition failed", "sshd.service: no such unit"},
			notes:  []string{"timestamps only"},
		},
		{
			name: "sshd failed: the edge is not judged",
			ts: Timestamps{
				"network-online.target": up(100, 200),
				"sshd.service":          {LoadState: "loaded", ActiveState: "failed", InactiveExit: 1000, InactiveEnter: 1200},
				"nginx.service":         up(2000, 3000),
				"rc-local.service":      up(3000, 3500),
			},
			checked: 2, statuses: []string{EdgeOK, EdgeFailed, EdgeOK, EdgeFailed},
			notRun: []string{}, notes: []string{"timestamps only", "sshd.service before nginx.service: not judged", "sshd.service before rc-local.service: not judged"},
		},
		{
			name: "rc.local is a oneshot that finished: its finish counts as up",
			ts: Timestamps{
				"network-online.target": up(100, 200),
				"sshd.service":          up(1000, 2000),
				"nginx.service":         up(2000, 3000),
				"rc-local.service":      {LoadState: "loaded", ActiveState: "inactive", ConditionResult: true, InactiveExit: 3000, InactiveEnter: 3200},
			},
			checked: 4, statuses: []string{EdgeOK, EdgeOK, EdgeOK, EdgeOK},
			notRun: []string{}, notes: []string{"timestamps only"},
		},
		{
			name: "sshd restarted since boot: systemd says violated, the journal says it held",
			ts: Timestamps{
				"network-online.target": withJournal(up(100, 200), 0, 200),
				"sshd.service":          withJournal(up(9000, 9100), 1000, 2000),
				"nginx.service":         withJournal(up(2000, 3000), 2000, 3000),
				"rc-local.service":      withJournal(up(3000, 3500), 3000, 3500),
			},
			checked: 4, violations: 2, statuses: []string{EdgeOK, EdgeViolated, EdgeOK, EdgeViolated},
			notRun: []string{}, notes: []string{"was sshd.service restarted since boot?", "sshd.service before rc-local.service: systemd's timestamps say violated"},
		},
		{
			name: "nginx unloaded since it ran: the journal's times are used",
			ts: Timestamps{
				"network-online.target": withJournal(up(100, 200), 0, 200),
				"sshd.service":          withJournal(up(1000, 2000), 1000, 2000),
				"nginx.service":         withJournal(UnitTimes{LoadState: "loaded", ActiveState: "inactive"}, 1500, 3000),
				"rc-local.service":      withJournal(up(3000, 3500), 3000, 3500),
			},
			checked: 4, violations: 1, statuses: []string{EdgeOK, EdgeViolated, EdgeOK, EdgeOK},
			notRun: []string{}, notes: []string{"nginx.service: systemd has no start time"},
		},
		{
			name: "systemd saw a start the journal lacks",
			ts: Timestamps{
				"network-online.target": withJournal(up(100, 200), 0, 200),
				"sshd.service":          up(1000, 2000),
				"nginx.service":         withJournal(up(2000, 3000), 2000, 3000),
				"rc-local.service":      withJournal(up(3000, 3500), 3000, 3500),
			},
			checked: 4, statuses: []string{EdgeOK, EdgeOK, EdgeOK, EdgeOK},
			notRun: []string{}, notes: []string{"sshd.service: systemd says it began starting at 0.001000s, but the journal has no"},
		},
		{
			name:     "systemd was asked about nothing",
			ts:       Timestamps{},
			statuses: []string{EdgeNotRun, EdgeNotRun, EdgeNotRun, EdgeNotRun},
			notRun: []string{"network-online.target: systemd was not asked", "nginx.service: systemd was not asked",
				"rc-local.service: systemd was not asked", "sshd.service: systemd was not asked"},
			notes: []string{},
		},
	}
	for i, tc := range tests {
		v := Verify(storyPlan(), tc.ts)
		if v.Checked != tc.checked || v.Violations != tc.violations {
			t.Errorf("case %d (%s): checked %d, violations %d; want %d, %d", i, tc.name, v.Checked, v.Violations, tc.checked, tc.violations)
		}
		var statuses []string
		for _, e := range v.Edges {
			statuses = append(statuses, e.Status)
		}
		if !reflect.DeepEqual(statuses, tc.statuses) {
			t.Errorf("case %d (%s): statuses %v, want %v", i, tc.name, statuses, tc.statuses)
		}
		var notRun []string
		for _, n := range v.NotRun {
			notRun = append(notRun, n.Unit+": "+n.Reason)
		}
		if len(notRun) != len(tc.notRun) {
			t.Errorf("case %d (%s): not run %q, want %q", i, tc.name, notRun, tc.notRun)
		} else {
			for j := range notRun {
				if !strings.HasPrefix(notRun[j], tc.notRun[j]) {
					t.Errorf("case %d (%s): not run %q, want %q", i, tc.name, notRun[j], tc.notRun[j])
				}
			}
		}
		if len(v.Notes) != len(tc.notes) {
			t.Errorf("case %d (%s): notes %q, want %d matching %q", i, tc.name, v.Notes, len(tc.notes), tc.notes)
			continue
		}
		for j, n := range tc.notes {
			if !strings.Contains(v.Notes[j], n) {
				t.Errorf("case %d (%s): note %d is %q, want it to contain %q", i, tc.name, j, v.Notes[j], n)
			}
		}
	}
}

func TestVerifyEdgeDetails(t *testing.T) {
	v := Verify(storyPlan(), Timestamps{
		"network-online.target": up(100, 200),
		"sshd.service":          up(1000, 2000),
		"nginx.service":         up(1500, 3000),
		"rc-local.service":      up(3000, 3500),
	})
	want := EdgeResult{First: "sshd.service", Then: "nginx.service", Status: EdgeViolated,
		FirstUp: 2000, ThenStarting: 1500, Source: "systemd",
		Why:    "nearest lower priority 54 (/etc/rc3.d/S54sshd)",
		Detail: "nginx.service began starting at 0.001500s, 500µs before sshd.service was up at 0.002000s"}
	if !reflect.DeepEqual(v.Edges[1], want) {
		t.Errorf("edge 1:\n got %+v\nwant %+v", v.Edges[1], want)
	}
	if why := v.Edges[0].Why; why != "Required-Start: $network (/etc/init.d/nginx:9)" {
		t.Errorf("edge 0 reason %q", why)
	}
	if why := v.Edges[3].Why; v.Edges[3].First != "sshd.service" || why != "rc.local runs after every SysV unit, as S99local did (/etc/rc.local)" {
		t.Errorf("edge 3 (%s before %s) reason %q", v.Edges[3].First, v.Edges[3].Then, why)
	}
	if got := v.Summary(); got != "4 edges checked, 1 violation, 0 units not run, 1 note" {
		t.Errorf("summary %q", got)
	}
}

func TestVerificationUnitsIncludeEdgeEnds(t *testing.T) {
	got := VerificationUnits(storyPlan())
	want := []string{"network-online.target", "nginx.service", "rc-local.service", "sshd.service"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseJournal(t *testing.T) {
	// As `journalctl -o json --output-fields=...` prints them on systemd 252: the address
	// fields always, then the requested ones; a field that is not UTF-8 as an array.
	const out = `{"__CURSOR":"s=1;i=1","__REALTIME_TIMESTAMP":"1700000000000000","__MONOTONIC_TIMESTAMP":"1000","_BOOT_ID":"b","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","UNIT":"sshd.service","JOB_TYPE":"start"}
{"__CURSOR":"s=1;i=2","__MONOTONIC_TIMESTAMP":"2000","_BOOT_ID":"b","MESSAGE_ID":"39f53479d3a045ac8e11786248231fbf","UNIT":"sshd.service","JOB_TYPE":"start","JOB_RESULT":"done"}
{"__CURSOR":"s=1;i=3","__MONOTONIC_TIMESTAMP":"2500","_BOOT_ID":"b","MESSAGE_ID":"39f53479d3a045ac8e11786248231fbf","UNIT":"nginx.service","JOB_TYPE":"start","JOB_RESULT":"failed"}
{"__CURSOR":"s=1;i=4","__MONOTONIC_TIMESTAMP":"2600","_BOOT_ID":"b","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","UNIT":[110,103],"JOB_TYPE":"start"}
{"__CURSOR":"s=1;i=5","__MONOTONIC_TIMESTAMP":"2700","_BOOT_ID":"b","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","UNIT":"other.service","JOB_TYPE":"start"}

{"__CURSOR":"s=1;i=6","__MONOTONIC_TIMESTAMP":"3000","_BOOT_ID":"b","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","UNIT":"nginx.service","JOB_TYPE":"start"}
{"__CURSOR":"s=1;i=7","__MONOTONIC_TIMESTAMP":"4000","_BOOT_ID":"b","MESSAGE_ID":"39f53479d3a045ac8e11786248231fbf","UNIT":"nginx.service","JOB_TYPE":"start","JOB_RESULT":"done"}
{"__CURSOR":"s=1;i=8","__MONOTONIC_TIMESTAMP":"9000","_BOOT_ID":"b","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","UNIT":"sshd.service","JOB_TYPE":"start"}
{"__CURSOR":"s=1;i=9","__MONOTONIC_TIMESTAMP":"9500","_BOOT_ID":"b","MESSAGE_ID":"7d4958e842da4a758f6c1cdc7b36dcc5","UNIT":"sshd.service","JOB_TYPE":"reload"}
`
	ts := Timestamps{"sshd.service": {}, "nginx.service": {}}
	if err := ParseJournal(strings.NewReader(out), ts); err != nil {
		t.Fatal(err)
	}
	want := Timestamps{
		"sshd.service":  {JournalStarting: 1000, JournalStarted: 2000},
		"nginx.service": {JournalStarting: 3000, JournalStarted: 4000},
	}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("got %+v, want %+v", ts, want)
	}
	err := ParseJournal(strings.NewReader("{}\nnot json\n"), Timestamps{})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v, want an error naming line 2", err)
	}
}

func TestWriteVerificationText(t *testing.T) {
	v := Verify(storyPlan(), Timestamps{
		"network-online.target": up(100, 200),
		"sshd.service":          up(1000, 2000),
		"nginx.service":         up(1500, 3000),
		"rc-local.service":      {LoadState: "masked", ActiveState: "inactive"},
	})
	v.BootID = "4c8f84bc75f0449f858e1a3adc62cefd"
	v.At = time.Date(2026, 11, 28, 1, 2, 3, 0, time.UTC)
	var b strings.Builder
	if err := WriteVerificationText(&b, v); err != nil {
		t.Fatal(err)
	}
	want := `Boot 4c8f84bc75f0449f858e1a3adc62cefd, verified 2026-11-28 01:02:03 UTC: 2 edges checked, 1 violation, 1 unit not run, 1 note
Violations:
  sshd.service before nginx.service: nginx.service began starting at 0.001500s, 500µs before sshd.service was up at 0.002000s (from systemd)
    planned because: nearest lower priority 54 (/etc/rc3.d/S54sshd)
Not run:
  rc-local.service: masked
Notes:
  the journal of this boot has no Starting/Started messages of PID 1 for the planned units: checked against systemd's timestamps only
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestVerifyLeavesOutUnitsNothingExpectsToRun: a masked unit or a script enabled in no
// runlevel, in no edge, is not listed as not run; a wanted one that did not run is.
func TestVerifyLeavesOutUnitsNothingExpectsToRun(t *testing.T) {
	p := storyPlan()
	p.Units = append(p.Units,
		Unit{Unit: "hwclock.service", Kind: KindNative, Shadowed: true},
		Unit{Unit: "netconsole.service", Kind: KindSysV, Source: "/etc/init.d/netconsole"},
		Unit{Unit: "lonely.service", Kind: KindSysV, Source: "/etc/init.d/lonely", Targets: []string{"multi-user.target"}})
	ts := Timestamps{
		"network-online.target": up(900, 1000),
		"sshd.service":          up(1000, 2000),
		"nginx.service":         up(2000, 3000),
		"rc-local.service":      up(3000, 3500),
		"hwclock.service":       {LoadState: "masked", ActiveState: "inactive"},
		"netconsole.service":    {LoadState: "loaded", ActiveState: "inactive"},
		"lonely.service":        {LoadState: "loaded", ActiveState: "inactive"},
	}
	v := Verify(p, ts)
	var names []string
	for _, n := range v.NotRun {
		names = append(names, n.Unit)
	}
	if !reflect.DeepEqual(names, []string{"lonely.service"}) {
		t.Errorf("not run: %v, want only lonely.service (wanted by multi-user.target)", names)
	}
}
