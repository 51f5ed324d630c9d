package bootorder

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	p := storyPlan()
	p.Units = append(p.Units,
		Unit{Unit: "postgresql.service", Source: "/lib/systemd/system/postgresql.service", Kind: KindNative,
			Targets: []string{"multi-user.target"}, Shadowed: true, Priority: priority(50),
			Why: []Reason{{Fact: "priority 50", Path: "/etc/hostkit/boot-order.conf", Line: 4, Why: "Priority= rule"},
				{Fact: "shadowed", Path: "/lib/systemd/system/postgresql.service", Why: "the native unit replaces /etc/init.d/postgresql"}}},
		Unit{Unit: "lonely.service", Source: "/etc/init.d/lonely", Kind: KindSysV,
			Why: []Reason{{Fact: "not enabled", Path: "/etc/rc3.d/K20lonely", Why: "K links only: turned off in every runlevel"}}},
		Unit{Unit: "gone.service", Source: "/etc/init.d/gone", Kind: KindSysV, Priority: priority(30), Targets: []string{"multi-user.target"},
			Why: []Reason{{Fact: "masked", Path: "/etc/systemd/system/gone.service", Why: "a link to /dev/null: it does not start"},
				{Fact: "runlevels 35", Path: "/etc/init.d/gone", Line: 3, Why: "chkconfig: 35 30 70"}}},
	)
	p.Warnings = []Warning{
		{Path: "/etc/init.d/nginx", Line: 12, Message: "Provides: web duplicates /etc/init.d/apache2"},
		{Path: "/etc/init.d/nginx", Line: 2, Message: "chkconfig header says 55, the S54 link in /etc/rc3.d wins: fix the header"},
		{Path: "/etc/init.d/sshd", Line: 1, Message: "about another unit"},
	}
	tests := []struct {
		unit string
		want []string // in this order
		not  []string
	}{
		{
			unit: "nginx.service",
			want: []string{
				"nginx.service\n",
				"Source:    SysV init script /etc/init.d/nginx",
				"Priority:  55, from chkconfig header (/etc/init.d/nginx:2)",
				"Wanted by: multi-user.target",
				"After:\n    sshd.service (priority 54): nearest lower priority 54 (/etc/rc3.d/S54sshd)\n",
				"    network-online.target: Required-Start: $network (/etc/init.d/nginx:9)\n",
				"Wants:\n    network-online.target: no reason recorded in the plan\n",
				"Warnings:\n    /etc/init.d/nginx:2: chkconfig header says 55",
				"    /etc/init.d/nginx:12: Provides: web",
			},
			not: []string{"about another unit", "Shadowed", "Also:"},
		},
		{
			unit: "nginx", // the script's name, as an admin knows it
			want: []string{"nginx.service\n"},
		},
		{
			unit: "sshd.service",
			want: []string{
				"Priority:  54, from S54 link in /etc/rc3.d (/etc/rc3.d/S54sshd)",
				"Before:\n    nginx.service (priority 55): no reason recorded in the plan",
				"Warnings:\n    /etc/init.d/sshd:1: about another unit",
			},
		},
		{
			unit: "rc-local.service",
			want: []string{"Source:    rc.local /etc/rc.local, run last", "Priority:  none (no S## link", "After:\n    nginx.service (priority 55)"},
		},
		{
			unit: "postgresql.service",
			want: []string{"native unit, named by /lib/systemd/system/postgresql.service",
				"Priority:  50, from Priority= rule (/etc/hostkit/boot-order.conf:4)",
				"Shadowed:  a native unit postgresql.service replaces the script; systemd runs the native unit, and this ordering applies to it (the native unit replaces /etc/init.d/postgresql (/lib/systemd/system/postgresql.service))",
				"Ordering:  none"},
			not: []string{"Also:"},
		},
		{
			unit: "lonely.service",
			want: []string{"Wanted by: nothing: not enabled in any runlevel, so it starts only when asked for (K links only: turned off in every runlevel (/etc/rc3.d/K20lonely))", "Ordering:  none"},
			not:  []string{"After:", "Before:", "Warnings:", "Also:"},
		},
		{
			unit: "gone.service",
			want: []string{"Wanted by: multi-user.target, from chkconfig: 35 30 70 (/etc/init.d/gone:3)",
				"Masked:    a link to /dev/null: it does not start (/etc/systemd/system/gone.service)"},
			not: []string{"Also:"},
		},
	}
	for i, tc := range tests {
		got, err := Explain(p, tc.unit)
		if err != nil {
			t.Errorf("case %d (%s): %v", i, tc.unit, err)
			continue
		}
		rest := got
		for _, w := range tc.want {
			at := strings.Index(rest, w)
			if at < 0 {
				t.Errorf("case %d (%s): lacks %q (in this order) in:\n%s", i, tc.unit, w, got)
				break
			}
			rest = rest[at+len(w):]
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("case %d (%s): has %q in:\n%s", i, tc.unit, n, got)
			}
		}
	}
}

func TestExplainUnknownUnit(t *testing.T) {
	_, err := Explain(storyPlan(), "httpd.service")
	if err == nil || !strings.Contains(err.Error(), "httpd.service") || !strings.Contains(err.Error(), "hostkitctl boot plan") {
		t.Errorf("got %v, want an error naming httpd.service and suggesting `hostkitctl boot plan`", err)
	}
}

func TestExplainListsUnmatchedReasonsUnderAlso(t *testing.T) {
	p := storyPlan()
	p.Units[2].Why = []Reason{{Fact: "after all SysV units", Path: "/etc/rc.local", Why: "rc.local runs last, as S99local did"}}
	got, err := Explain(p, "rc-local.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "Also:\n    after all SysV units: rc.local runs last, as S99local did (/etc/rc.local)\n") {
		t.Errorf("reason without a matching edge not listed under Also:\n%s", got)
	}
}

func TestWritePlanText(t *testing.T) {
	const table = `UNIT              PRIORITY  TARGETS            AFTER
sshd.service      54        multi-user.target  -
nginx.service     55        multi-user.target  sshd.service,network-online.target
rc-local.service  -         multi-user.target  nginx.service,sshd.service
`
	cases := []struct {
		warnings []Warning
		want     string
	}{
		// 0: two warnings.
		{[]Warning{{Path: "/etc/init.d/nginx", Line: 2, Message: "chkconfig header says 55"}, {Path: "/etc/rc.local", Message: "not executable"}},
			table + "\n2 warnings:\n/etc/init.d/nginx:2: chkconfig header says 55\n/etc/rc.local: not executable\n"},
		// 1: one warning, in the singular.
		{[]Warning{{Path: "/etc/rc.local", Message: "not executable"}},
			table + "\n1 warning:\n/etc/rc.local: not executable\n"},
		// 2: none, no heading.
		{nil, table},
	}
	for i, c := range cases {
		p := storyPlan()
		p.Warnings = c.warnings
		var b strings.Builder
		if err := WritePlanText(&b, p); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("case %d: got\n%s\nwant\n%s", i, b.String(), c.want)
		}
	}
}

// TestExplainPlanned explains units of plans PlanOrder made, so that the wording of the
// planner's reasons is checked where people read it.
func TestExplainPlanned(t *testing.T) {
	masked := tree(script("a", "# chkconfig: 2345 10 90\n"), script("hwclock", "### BEGIN INIT INFO\n# Provides: hwclock\n# Default-Start: S\n### END INIT INFO\n# chkconfig: 2345 05 95\n"))
	masked.Scripts[1].Path = "/etc/init.d/hwclock.sh"
	masked.NativeUnits["hwclock.service"] = "/etc/systemd/system/hwclock.service"
	masked.Masked["hwclock.service"] = true
	cases := []struct {
		tree *Tree
		unit string
		want []string
		not  []string
	}{
		// 0: an equal-priority tie says that rc went by the names of the links.
		{tree(script("sshd", "", "S55:2345"), script("nginx", "", "S55:2345")), "sshd.service",
			[]string{"nginx.service (priority 55): same priority 55 as nginx.service; rc ran S55nginx before S55sshd (name order), in multi-user.target, graphical.target (/etc/rc2.d/S55sshd)"},
			[]string{"nearest lower position"}},
		// 1: and on the earlier unit, naming the later one.
		{tree(script("sshd", "", "S55:2345"), script("nginx", "", "S55:2345")), "nginx.service",
			[]string{"sshd.service (priority 55): same priority 55 as sshd.service; rc ran S55nginx before S55sshd (name order)"},
			[]string{"nearest higher position"}},
		// 2: without links, what chkconfig --add would link.
		{tree(script("b", "# chkconfig: 2345 20 80\n"), script("a", "# chkconfig: 2345 20 80\n")), "b.service",
			[]string{"same priority 20 as a.service; rc would run S20a before S20b (name order)"}, nil},
		// 3: rc.local's priority reads as a sentence.
		{func() *Tree {
			tr := tree(script("a", "", "S10:2345"))
			tr.RCLocal = &Script{Name: "rc-local", Unit: "rc-local.service", Path: "/etc/rc.d/rc.local", Executable: true}
			return tr
		}(), "rc-local.service",
			[]string{"Priority:  99, from S99local, the last S link of runlevels 2-5, which ran rc.local (/etc/rc.d/rc.local)\n"},
			[]string{"ran last, as S99local"}},
		// 4: a masked unit shadowing a script says so, and has no edges.
		{masked, "hwclock.service",
			[]string{"Masked:    systemd runs neither the unit nor the script /etc/init.d/hwclock.sh: the unit is a link to /dev/null (/etc/systemd/system/hwclock.service)\n",
				"Ordering:  none"},
			[]string{"After:", "Before:"}},
	}
	for i, c := range cases {
		got, err := Explain(PlanOrder(c.tree, ModeDropIns), c.unit)
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("case %d: explain %s lacks %q:\n%s", i, c.unit, w, got)
			}
		}
		for _, w := range c.not {
			if strings.Contains(got, w) {
				t.Errorf("case %d: explain %s holds %q:\n%s", i, c.unit, w, got)
			}
		}
	}
}
