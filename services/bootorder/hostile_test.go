package bootorder

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The worst inputs of issue 10 for the planner. None asserts on time (make bench
// measures these side by side); each asserts what made them slow: output that grew with
// the square of the input.

// longOrderRule is a [Rules] Order= line of n units u0 < u1 < ... in one file.
func longOrderRule(n int) *Tree {
	t := tree()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("u%d", i)
	}
	t.Rules = []Rule{{Path: "/etc/hostkit/boot-order.conf", Line: 2, Order: names}}
	return t
}

// cycleHub is one script, hub (S10 in rc3.d), whose Required-Start and X-Start-Before
// both name the same n empty scripts (S50 in rc3.d): n two-unit cycles in one component.
func cycleHub(n int) *Tree {
	names := make([]string, n)
	scripts := make([]Script, 0, n+1)
	for i := range names {
		names[i] = fmt.Sprintf("e%d", i)
		scripts = append(scripts, script(names[i], "", "S50:3"))
	}
	list := strings.Join(names, " ")
	scripts = append(scripts, script("hub", "### BEGIN INIT INFO\n# Provides: hub\n# Required-Start: "+list+
		"\n# X-Start-Before: "+list+"\n# Default-Start: 3\n### END INIT INFO\n", "S10:3"))
	return tree(scripts...)
}

// TestLongOrderRuleIsCitedShort: every reason and warning about a rule of 4000 units
// cites it by file:line and a short text, so the plan grows linearly (fault 4: each of
// its 8000 reasons and 4000 warnings repeated the 31 KB line).
func TestLongOrderRuleIsCitedShort(t *testing.T) {
	p := PlanOrder(longOrderRule(4000), ModeDropIns)
	checkPlan(t, "4000-unit rule", p)
	if got := after(p, "u1.service"); got != "u0.service" {
		t.Errorf("u1.service after %q, want u0.service", got)
	}
	for _, u := range p.Units {
		for _, r := range u.Why {
			if len(r.Why) > 100 || r.Path != "/etc/hostkit/boot-order.conf" || r.Line != 2 {
				t.Fatalf("%s: reason %+v: want the file, line 2 and a short text", u.Unit, r)
			}
		}
	}
	u5 := p.Find("u5.service")
	if u5 == nil || len(u5.Why) == 0 || !strings.Contains(u5.Why[0].Why, "u4 < u5") {
		t.Errorf("u5.service: %+v, want a reason citing the pair u4 < u5", u5)
	}
	if len(p.Warnings) != maxWarningsPerFile+1 || !strings.Contains(p.Warnings[maxWarningsPerFile].Message, "3980 more warnings") {
		t.Errorf("%d warnings, the last %+v; want %d and a count of the 3980 more", len(p.Warnings), p.Warnings[len(p.Warnings)-1], maxWarningsPerFile+1)
	}
	for _, w := range p.Warnings {
		if len(w.Message) > 200 {
			t.Errorf("warning of %d bytes: %.200s", len(w.Message), w.Message)
		}
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if perUnit := len(data) / len(p.Units); perUnit > 1000 {
		t.Errorf("the plan takes %d bytes per unit, want under 1000", perUnit)
	}
}

// TestCycleHubBreaksOnceAndNamesFew: n cycles through one script are broken in one pass,
// by the edges against the start order (hub S10 before the S50 scripts), with at most 20
// warnings, each naming a handful of the cycle's units (fault 5: one warning per cycle,
// each listing the whole remaining cycle).
func TestCycleHubBreaksOnceAndNamesFew(t *testing.T) {
	const n = 2000
	p := PlanOrder(cycleHub(n), ModeDropIns)
	checkPlan(t, "cycle hub", p)
	hub := p.Find("hub.service")
	if hub == nil || len(hub.Before) != n || len(hub.After) != 0 {
		t.Fatalf("hub.service: %d before, after %v; want before all %d scripts (X-Start-Before kept) and after none", len(hub.Before), hub.After, n)
	}
	if len(p.Warnings) != maxWarningsPerFile+1 {
		t.Fatalf("%d warnings, want %d", len(p.Warnings), maxWarningsPerFile+1)
	}
	w := p.Warnings[0]
	if w.Path != "/etc/init.d/hub" || !strings.Contains(w.Message, "ordering cycle among e0.service, e1.service, e10.service, e100.service, e1000.service and 1996 more; Required-Start: e") {
		t.Errorf("first warning %+v: want the cycle named by five units and a count", w)
	}
	if last := p.Warnings[maxWarningsPerFile]; last.Message != fmt.Sprintf("%d more warnings about this file not shown", n-maxWarningsPerFile) {
		t.Errorf("last warning %+v, want the count of the rest", last)
	}
}

// TestRulesFileWarningsAreCapped: 55,000 copies of one bad line give 20 warnings and a
// count.
func TestRulesFileWarningsAreCapped(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/etc/hostkit/boot-order.conf", "[Rules]\n"+strings.Repeat("Order=x\n", 55000), 0o644)
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	p := PlanOrder(tr, ModeDropIns)
	if len(p.Warnings) != maxWarningsPerFile+1 || p.Warnings[maxWarningsPerFile].Message != "54980 more warnings about this file not shown" {
		t.Errorf("%d warnings, last %+v; want %d and a count of 54980 more", len(p.Warnings), p.Warnings[len(p.Warnings)-1], maxWarningsPerFile+1)
	}
}

// TestControlCharactersStayOutOfText: a script named with terminal escapes and a rule
// holding them (fault 7) appear escaped in the text plan and in FormatWarning, one
// warning a line.
func TestControlCharactersStayOutOfText(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/etc/init.d/\x1b[2J\x1b]0;owned\ax", "#!/bin/sh\n# chkconfig: 2345 10 90\n", 0o755)
	write(t, root+"/etc/init.d/new\nline", "#!/bin/sh\n# chkconfig: 2345 10 90\n", 0o755)
	write(t, root+"/etc/hostkit/boot-order.conf", "[Rules]\nOrder=a < \x1b[31mred\n", 0o644)
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	p := PlanOrder(tr, ModeDropIns)
	var lines []string
	for _, w := range p.Warnings {
		lines = append(lines, FormatWarning(w))
	}
	text := strings.Join(lines, "\n")
	if strings.ContainsAny(text, "\x1b\a") || len(lines) != 3 || strings.Count(text, "\n") != 2 {
		t.Errorf("warnings hold control characters or span lines:\n%q", text)
	}
	for _, want := range []string{`/etc/init.d/\x1b[2J\x1b]0;owned\ax: `, `/etc/init.d/new\nline: `, `Order=a < \x1b[31mred`} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}

// allAndUnprioritized is n scripts with Required-Start: $all and n scripts with neither
// priority nor links, all in runlevels 2-5 of a tree without rcN.d links.
func allAndUnprioritized(n int) *Tree {
	var ss []Script
	for i := 0; i < n; i++ {
		ss = append(ss, script(fmt.Sprintf("all%d", i), "### BEGIN INIT INFO\n# Required-Start: $all\n# Default-Start: 2 3 4 5\n### END INIT INFO\n"),
			script(fmt.Sprintf("np%d", i), "### BEGIN INIT INFO\n# Default-Start: 2 3 4 5\n### END INIT INFO\n"))
	}
	return tree(ss...)
}

// TestAllAfterUnprioritizedIsLinear: every $all unit was ordered after every enabled unit
// without a priority (2000 of each: 4 million edges, 929 MB of JSON); now the first $all
// unit of each target is, and the others follow it in the chain.
func TestAllAfterUnprioritizedIsLinear(t *testing.T) {
	const n = 2000
	p := PlanOrder(allAndUnprioritized(n), ModeDropIns)
	checkPlan(t, "$all", p)
	if e := p.Edges(); e > 2*n {
		t.Errorf("%d edges for %d units, want at most %d", e, 2*n, 2*n)
	}
	first := p.Find("all0.service")
	if first == nil || len(first.After) != n {
		t.Fatalf("all0.service: %+v; want it after all %d units without a priority", first, n)
	}
	if got := after(p, "all1.service"); got != "all0.service" {
		t.Errorf("all1.service after %q, want all0.service (the chain)", got)
	}
}
