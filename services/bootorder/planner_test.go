package bootorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// script builds an executable script for an in-memory Tree: header is its text after
// "#!/bin/sh", links are "S55:2345" (S55 links in rc2.d to rc5.d) or "K20:1".
func script(name, header string, links ...string) Script {
	h, _ := ParseHeader("/etc/init.d/"+name, []byte("#!/bin/sh\n"+header))
	s := Script{Name: name, Unit: name + ".service", Path: "/etc/init.d/" + name, Header: h, Executable: true}
	for _, spec := range links {
		kind, levels, _ := strings.Cut(spec, ":")
		var prio int
		fmt.Sscanf(kind[1:], "%d", &prio)
		for _, c := range levels {
			l := int(c - '0')
			s.Links = append(s.Links, Link{Path: fmt.Sprintf("/etc/rc%d.d/%s%s", l, kind, name), Runlevel: l, Start: kind[0] == 'S', Priority: prio})
		}
	}
	return s
}

func tree(scripts ...Script) *Tree {
	return &Tree{Scripts: scripts, NativeUnits: map[string]string{}, Masked: map[string]bool{}}
}

// checkPlan fails t unless p keeps the plan's invariants: no cycle, no self edge, every
// edge between two plan units listed on both, lists sorted, slices not nil.
func checkPlan(t *testing.T, where string, p *Plan) {
	t.Helper()
	succ := map[string][]string{}
	for _, e := range p.EdgeList() {
		if e.Earlier == e.Later {
			t.Errorf("%s: %s is ordered after itself", where, e.Later)
		}
		succ[e.Earlier] = append(succ[e.Earlier], e.Later)
		a, b := p.Find(e.Earlier), p.Find(e.Later)
		if a != nil && b != nil && (!slices.Contains(b.After, e.Earlier) || !slices.Contains(a.Before, e.Later)) {
			t.Errorf("%s: edge %s -> %s not listed on both units", where, e.Earlier, e.Later)
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, path []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Errorf("%s: cycle %v", where, append(path, n))
			return
		case 2:
			return
		}
		state[n] = 1
		for _, s := range succ[n] {
			visit(s, append(path, n))
		}
		state[n] = 2
	}
	for n := range succ {
		visit(n, nil)
	}
	if p.Units == nil || p.Warnings == nil {
		t.Errorf("%s: nil Units or Warnings", where)
	}
	for _, u := range p.Units {
		for _, l := range [][]string{u.After, u.Before, u.Wants, u.Targets} {
			if !slices.IsSorted(l) {
				t.Errorf("%s: %s: list %v not sorted", where, u.Unit, l)
			}
		}
		if u.After == nil || u.Before == nil || u.Targets == nil || u.Why == nil {
			t.Errorf("%s: %s has a nil list", where, u.Unit)
		}
	}
}

func after(p *Plan, unit string) string {
	u := p.Find(unit)
	if u == nil {
		return "<no unit>"
	}
	return strings.Join(u.After, " ")
}

func warningsText(p *Plan) string {
	var b strings.Builder
	for _, w := range p.Warnings {
		b.WriteString(FormatWarning(w) + "\n")
	}
	return b.String()
}

func TestPlanOrder(t *testing.T) {
	cases := []struct {
		name  string
		tree  *Tree
		after map[string]string // unit -> its After, space-separated
		order string            // units in plan order, when checked
		warn  []string          // substrings of expected warnings
		mode  string            // ModeDropIns when ""
	}{
		{
			name:  "equal priority: by name, as rc ran S55nginx before S55sshd",
			tree:  tree(script("sshd", "# chkconfig: 2345 55 25\n", "S55:2345"), script("nginx", "# chkconfig: 2345 55 25\n", "S55:2345")),
			after: map[string]string{"sshd.service": "nginx.service", "nginx.service": ""},
		},
		{
			name:  "links win over the header, with a warning",
			tree:  tree(script("sshd", "# chkconfig: 2345 54 25\n", "S55:2345"), script("nginx", "# chkconfig: 2345 55 25\n", "S55:2345")),
			after: map[string]string{"sshd.service": "nginx.service"},
			warn:  []string{"/etc/init.d/sshd:2: chkconfig: start priority 54 disagrees with the link /etc/rc2.d/S55sshd"},
		},
		{
			name:  "headers without links",
			tree:  tree(script("sshd", "# chkconfig: 2345 54 25\n"), script("nginx", "# chkconfig: 2345 55 25\n")),
			after: map[string]string{"nginx.service": "sshd.service", "sshd.service": ""},
		},
		{
			name: "a chain, not every lower one",
			tree: tree(script("a", "# chkconfig: 2345 10 90\n"), script("b", "# chkconfig: 2345 20 80\n"),
				script("c", "# chkconfig: 2345 30 70\n"), script("d", "# chkconfig: 2345 40 60\n")),
			after: map[string]string{"a.service": "", "b.service": "a.service", "c.service": "b.service", "d.service": "c.service"},
		},
		{
			name:  "runlevel 5 only: ordered among the others, and multi-user keeps its own chain",
			tree:  tree(script("a", "# chkconfig: 2345 10 90\n"), script("x", "# chkconfig: 5 15 85\n"), script("b", "# chkconfig: 2345 20 80\n")),
			after: map[string]string{"x.service": "a.service", "b.service": "a.service x.service"},
		},
		{
			name:  "rescue chain",
			tree:  tree(script("a", "# chkconfig: 12345 10 90\n"), script("b", "# chkconfig: 2345 20 80\n"), script("s", "# chkconfig: 1 30 70\n")),
			after: map[string]string{"b.service": "a.service", "s.service": "a.service"},
		},
		{
			name:  "disabled and dash runlevels stay out of the chain",
			tree:  tree(script("a", "# chkconfig: 2345 10 90\n", "S10:2345"), script("off", "# chkconfig: - 15 85\n", "K85:12345"), script("k", "# chkconfig: 2345 16 84\n", "K84:12345"), script("b", "# chkconfig: 2345 20 80\n", "S20:2345")),
			after: map[string]string{"b.service": "a.service", "off.service": "", "k.service": ""},
		},
		{
			name: "LSB pair with different priorities: ordered (systemd-sysv-generator does not)",
			tree: tree(script("lsb-a", "### BEGIN INIT INFO\n# Provides: lsb-a\n### END INIT INFO\n", "S02:2345"),
				script("lsb-b", "### BEGIN INIT INFO\n# Provides: lsb-b\n### END INIT INFO\n", "S03:2345")),
			after: map[string]string{"lsb-b.service": "lsb-a.service"},
		},
		{
			name: "explicit relation wins over priority",
			tree: tree(script("a", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Required-Start: c\n### END INIT INFO\n"),
				script("b", "# chkconfig: 2345 20 80\n"), script("c", "# chkconfig: 2345 30 70\n"), script("z", "# chkconfig: 2345 5 95\n")),
			order: "z.service b.service c.service a.service",
			after: map[string]string{"b.service": "z.service", "c.service": "b.service", "a.service": "c.service"},
			warn:  []string{"/etc/init.d/a:4: Required-Start: c orders a.service after c.service against their priorities (priority 10 comes before 30); the explicit relation wins"},
		},
		{
			name: "a cycle is broken, weakest first, every member named",
			tree: tree(script("p", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Required-Start: q\n### END INIT INFO\n"),
				script("q", "# chkconfig: 2345 20 80\n### BEGIN INIT INFO\n# Should-Start: r\n### END INIT INFO\n"),
				script("r", "# chkconfig: 2345 30 70\n### BEGIN INIT INFO\n# Required-Start: p\n### END INIT INFO\n")),
			order: "q.service p.service r.service",
			after: map[string]string{"p.service": "q.service", "q.service": "", "r.service": "p.service"},
			warn:  []string{"/etc/init.d/q:4: ordering cycle among p.service, q.service, r.service; Should-Start: r is left out (q.service after r.service)"},
		},
		{
			name: "facilities, Provides aliases and X-Start-Before",
			tree: tree(
				script("net", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Provides: net $network $custom\n### END INIT INFO\n"),
				script("web", "# chkconfig: 2345 20 80\n### BEGIN INIT INFO\n# Provides: httpd\n# Required-Start: $network $remote_fs $syslog $named $time $portmap $local_fs\n# X-Start-Before: display-manager\n### END INIT INFO\n"),
				script("app", "# chkconfig: 2345 30 70\n### BEGIN INIT INFO\n# Required-Start: httpd $custom\n### END INIT INFO\n")),
			after: map[string]string{
				"web.service": "local-fs.target net.service network-online.target nss-lookup.target remote-fs.target rpcbind.target time-sync.target",
				"app.service": "net.service web.service",
			},
		},
		{
			name: "$all comes after every other unit of its targets",
			tree: tree(script("last", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Required-Start: $all\n### END INIT INFO\n"),
				script("a", "# chkconfig: 2345 20 80\n"), script("b", "# chkconfig: 2345 30 70\n"),
				script("nolinks", "### BEGIN INIT INFO\n# Default-Start: 2 3 4 5\n### END INIT INFO\n")),
			order: "nolinks.service a.service b.service last.service",
			after: map[string]string{"last.service": "b.service nolinks.service", "b.service": "a.service"},
		},
		{
			name:  "duplicate Provides: first by name wins",
			tree:  tree(script("a", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Provides: www\n### END INIT INFO\n"), script("b", "# chkconfig: 2345 5 90\n### BEGIN INIT INFO\n# Provides: www\n### END INIT INFO\n"), script("c", "# chkconfig: 2345 1 90\n### BEGIN INIT INFO\n# Should-Start: www\n### END INIT INFO\n")),
			after: map[string]string{"c.service": "a.service"},
			warn:  []string{"/etc/init.d/b:4: Provides: www is also provided by /etc/init.d/a"},
		},
		{
			name:  "equal priority: by the names of the links, as rc's glob sorted S55a before S55a-b",
			tree:  tree(script("a-b", "", "S55:2345"), script("a", "", "S55:2345")),
			order: "a.service a-b.service",
			after: map[string]string{"a-b.service": "a.service", "a.service": ""},
		},
		{
			name: "Priority= naming a masked unit: a warning that says why it does nothing",
			tree: func() *Tree {
				tr := tree(script("a", "# chkconfig: 2345 10 90\n"))
				tr.NativeUnits["gone.service"] = "/etc/systemd/system/gone.service"
				tr.Masked["gone.service"] = true
				tr.Rules = []Rule{{Path: "/etc/hostkit/boot-order.conf", Line: 3, Unit: "gone.service", Priority: 50, Runlevels: defaultRuleRunlevels}}
				return tr
			}(),
			order: "a.service",
			warn:  []string{"/etc/hostkit/boot-order.conf:3: Priority=gone.service 50 2345: gone.service is masked (a link to /dev/null): it never starts, so it has no place in the order; rule left out"},
		},
		{
			name: "a masked unit that shadows a script: in the plan, in no edge, every relation to it a warning",
			tree: func() *Tree {
				tr := tree(script("a", "# chkconfig: 2345 10 90\n", "S10:2345"),
					script("hwclock", "# chkconfig: 2345 20 80\n### BEGIN INIT INFO\n# Provides: hwclock $clock\n# Required-Start: a\n### END INIT INFO\n", "S20:2345"),
					script("b", "# chkconfig: 2345 30 70\n### BEGIN INIT INFO\n# Required-Start: hwclock $clock\n### END INIT INFO\n", "S30:2345"))
				tr.NativeUnits["hwclock.service"] = "/etc/systemd/system/hwclock.service"
				tr.Masked["hwclock.service"] = true
				tr.Rules = []Rule{
					{Path: "/etc/hostkit/boot-order.conf", Line: 2, Order: []string{"hwclock", "a"}},
					{Path: "/etc/hostkit/boot-order.conf", Line: 3, Unit: "hwclock.service", Priority: 5, Runlevels: defaultRuleRunlevels},
				}
				tr.RCLocal = &Script{Name: "rc-local", Unit: "rc-local.service", Path: "/etc/rc.local", Executable: true}
				return tr
			}(),
			after: map[string]string{"hwclock.service": "", "b.service": "a.service", "a.service": "", "rc-local.service": "a.service b.service network.target"},
			warn: []string{
				"/etc/hostkit/boot-order.conf:2: Order=hwclock < a: hwclock.service is masked: systemd runs neither the unit nor the script /etc/init.d/hwclock; ordering a.service after hwclock.service left out",
				"/etc/hostkit/boot-order.conf:3: Priority=hwclock.service 5 2345: hwclock.service is masked: systemd runs neither the unit nor the script /etc/init.d/hwclock, so it has no place in the order; rule left out",
				"/etc/init.d/b:4: Required-Start: hwclock: hwclock.service is masked: systemd runs neither the unit nor the script /etc/init.d/hwclock; ordering b.service after hwclock.service left out",
				"/etc/init.d/b:4: Required-Start: $clock: hwclock.service is masked",
			},
		},
		{
			name: "no header, no links: not enabled",
			tree: tree(script("bare", "echo hi\n")),
			warn: []string{"/etc/init.d/bare: no rcN.d links, chkconfig: line or LSB Default-Start: not enabled"},
		},
		{
			// 17: systemd-sysv-generator orders by the highest S number (rc1.d to rc5.d);
			// hostkit going by rc2.d's 50 would write b before a, its units a after b.
			name: "S links that disagree: the highest counts, as systemd-sysv-generator takes it",
			tree: tree(script("a", "# chkconfig: 2345 50 50\n", "S50:25", "S70:3"), script("b", "# chkconfig: 2345 60 50\n", "S60:2345"),
				script("r", "# chkconfig: 12345 10 90\n", "S10:2345", "S80:1")),
			order: "b.service a.service r.service",
			after: map[string]string{"a.service": "b.service", "b.service": "", "r.service": "a.service"},
			warn: []string{
				"/etc/init.d/a: its S links disagree (S50 in /etc/rc2.d, S50 in /etc/rc5.d, but S70 in /etc/rc3.d); hostkit uses the highest, 70 from /etc/rc3.d/S70a, for every target, because systemd-sysv-generator orders by the highest",
				"/etc/init.d/a:2: chkconfig: start priority 50 disagrees with the link /etc/rc3.d/S70a",
				"/etc/init.d/r: its S links disagree (S10 in /etc/rc2.d, S10 in /etc/rc3.d, S10 in /etc/rc4.d, S10 in /etc/rc5.d, but S80 in /etc/rc1.d); hostkit uses the highest, 80 from /etc/rc1.d/S80r",
			},
		},
		{
			// 18: after chkconfig --del the script keeps its header and loses its links.
			name:  "a script without links where others have them: not enabled, and no chain through it",
			tree:  tree(script("a", "# chkconfig: 2345 10 90\n", "S10:2345"), script("gone", "# chkconfig: 2345 20 80\n"), script("b", "# chkconfig: 2345 30 70\n", "S30:2345")),
			order: "a.service gone.service b.service",
			after: map[string]string{"b.service": "a.service", "gone.service": ""},
			warn:  []string{"/etc/init.d/gone: not linked in any rcN.d: not started at boot (chkconfig --add / update-rc.d defaults to enable)"},
		},
		{
			// 19: the relation contradicts the priorities, c has no LSB header, and both
			// are linked: systemd-sysv-generator writes a before c itself.
			name: "drop-ins: a contradicted relation with a script without LSB header stays a cycle",
			tree: tree(script("a", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Required-Start: c\n### END INIT INFO\n", "S10:2345"),
				script("c", "# chkconfig: 2345 30 70\n", "S30:2345")),
			after: map[string]string{"a.service": "c.service"},
			warn:  []string{"/etc/init.d/a:4: Required-Start: c orders a.service after c.service against their priorities (priority 10 comes before 30), and the contradiction remains: systemd-sysv-generator orders the two by priority too, as c.service has no LSB header, so systemd finds an ordering cycle at boot and breaks it by deleting a start job; fix the header or the priority so that they agree"},
		},
		{
			// 20: wrappers mode has no systemd-sysv-generator: the relation wins.
			name: "wrappers: the same contradicted relation wins",
			tree: tree(script("a", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# Required-Start: c\n### END INIT INFO\n", "S10:2345"),
				script("c", "# chkconfig: 2345 30 70\n", "S30:2345")),
			mode:  ModeWrappers,
			after: map[string]string{"a.service": "c.service"},
			warn:  []string{"/etc/init.d/a:4: Required-Start: c orders a.service after c.service against their priorities (priority 10 comes before 30); the explicit relation wins"},
		},
		{
			// 21: X-Start-After is an After= only, as Should-Start, weakest in a cycle;
			// of two equally weak relations, the one against the priorities goes.
			name: "X-Start-After orders after",
			tree: tree(script("a", "# chkconfig: 2345 10 90\n### BEGIN INIT INFO\n# X-Start-After: c $remote_fs\n### END INIT INFO\n"),
				script("c", "# chkconfig: 2345 30 70\n### BEGIN INIT INFO\n# X-Start-After: a\n### END INIT INFO\n")),
			order: "a.service c.service",
			after: map[string]string{"a.service": "remote-fs.target", "c.service": "a.service"},
			warn: []string{
				"/etc/init.d/a:4: ordering cycle among a.service, c.service; X-Start-After: c is left out (a.service after c.service)",
			},
		},
	}
	for i, c := range cases {
		mode := c.mode
		if mode == "" {
			mode = ModeDropIns
		}
		p := PlanOrder(c.tree, mode)
		where := fmt.Sprintf("case %d (%s)", i, c.name)
		checkPlan(t, where, p)
		for unit, want := range c.after {
			if got := after(p, unit); got != want {
				t.Errorf("%s: %s after %q, want %q", where, unit, got, want)
			}
		}
		if c.order != "" {
			var got []string
			for _, u := range p.Units {
				got = append(got, u.Unit)
			}
			if strings.Join(got, " ") != c.order {
				t.Errorf("%s: order %v, want %s", where, got, c.order)
			}
		}
		text := warningsText(p)
		for _, w := range c.warn {
			if !strings.Contains(text, w) {
				t.Errorf("%s: no warning containing %q in:\n%s", where, w, text)
			}
		}
		if len(c.warn) == 0 && text != "" {
			t.Errorf("%s: unexpected warnings:\n%s", where, text)
		}
	}
}

func TestPlanOrderShadowMaskRCLocal(t *testing.T) {
	tr := tree(script("a", "# chkconfig: 2345 10 90\n"), script("postfix", "# chkconfig: 2345 20 80\n"),
		script("b", "# chkconfig: 2345 30 70\n"), script("old", "# chkconfig: 2345 40 60\n"), script("c", "# chkconfig: 2345 50 50\n"))
	tr.NativeUnits["postfix.service"] = "/usr/lib/systemd/system/postfix.service"
	tr.NativeUnits["old.service"] = "/etc/systemd/system/old.service"
	tr.Masked["old.service"] = true
	tr.RCLocal = &Script{Name: "rc-local", Unit: "rc-local.service", Path: "/etc/rc.d/rc.local", Executable: true}
	for _, mode := range []string{ModeDropIns, ModeWrappers} {
		p := PlanOrder(tr, mode)
		checkPlan(t, mode, p)
		if p.Mode != mode {
			t.Errorf("%s: mode %q", mode, p.Mode)
		}
		u := p.Find("postfix.service")
		if u == nil || u.Kind != KindNative || !u.Shadowed || u.Source != "/usr/lib/systemd/system/postfix.service" || after(p, "postfix.service") != "a.service" || after(p, "b.service") != "postfix.service" {
			t.Errorf("%s: shadowed postfix %+v, want a native unit in the script's place", mode, u)
		}
		if o := p.Find("old.service"); o == nil || len(o.Targets) != 0 || len(o.After) != 0 || len(o.Before) != 0 || after(p, "c.service") != "b.service" {
			t.Errorf("%s: masked old.service %+v must be out of the chain", mode, o)
		} else if !slices.ContainsFunc(o.Why, func(r Reason) bool {
			return r.Fact == "masked" && strings.HasPrefix(r.Why, "systemd runs neither the unit nor the script /etc/init.d/old")
		}) {
			t.Errorf("%s: masked old.service has no reason saying so: %+v", mode, o.Why)
		}
		rc := p.Find("rc-local.service")
		if rc == nil || rc.Kind != KindRCLocal || strings.Join(rc.After, " ") != "a.service b.service c.service network.target postfix.service" || p.Units[len(p.Units)-1].Unit != "rc-local.service" {
			t.Errorf("%s: rc-local %+v, want it last, after every started SysV unit", mode, rc)
		}
	}
}

func TestPlanOrderDeterministic(t *testing.T) {
	tr, err := Scan(filepath.Join("testdata", "trees", "debian"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := json.Marshal(PlanOrder(tr, ModeWrappers))
	for i := range 20 {
		// Shuffle what a caller might hand over unsorted.
		slices.Reverse(tr.Scripts)
		again, _ := json.Marshal(PlanOrder(tr, ModeWrappers))
		if string(again) != string(first) {
			t.Fatalf("run %d: the plan changed", i)
		}
	}
}

func TestEdgesCountsEachOrderingOnce(t *testing.T) {
	p := &Plan{Units: []Unit{
		{Unit: "a.service", Before: []string{"b.service", "x.target"}},
		{Unit: "b.service", After: []string{"a.service", "y.target"}},
	}}
	if got := p.Edges(); got != 3 {
		t.Errorf("Edges() = %d, want 3 (%v)", got, p.EdgeList())
	}
	if p.Find("b.service") != &p.Units[1] || p.Find("c.service") != nil {
		t.Error("Find does not return the plan's own unit, or finds a missing one")
	}
}

// TestScale1000 is the case: 1000 chkconfig-only scripts linked in rc2.d to
// rc5.d, where systemd-sysv-generator writes 1.48 million After= lines. Edges stay O(n).
func TestScale1000(t *testing.T) {
	const n = 1000
	root := t.TempDir()
	for i := range n {
		name := fmt.Sprintf("svc%04d", i)
		prio := 10 + i%80 // many equal priorities, as real systems have
		text := fmt.Sprintf("#!/bin/sh\n# chkconfig: 2345 %d %d\n# description: service %d\ncase \"$1\" in start) ;; esac\n", prio, 100-prio, i)
		write(t, filepath.Join(root, "etc/init.d", name), text, 0o755)
		for level := 2; level <= 5; level++ {
			dir := filepath.Join(root, fmt.Sprintf("etc/rc%d.d", level))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../init.d/"+name, filepath.Join(dir, fmt.Sprintf("S%02d%s", prio, name))); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	tr, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	scanned := time.Since(start)
	p := PlanOrder(tr, ModeDropIns)
	planned := time.Since(start) - scanned
	edges := p.Edges()
	t.Logf("%d scripts: scan %v, plan %v, %d edges, %d warnings", n, scanned, planned, edges, len(p.Warnings))
	if edges >= 3*n {
		t.Errorf("%d edges for %d scripts, want fewer than %d", edges, n, 3*n)
	}
	if len(p.Units) != n || len(p.Warnings) != 0 {
		t.Errorf("%d units, %d warnings (%v), want %d and none", len(p.Units), len(p.Warnings), p.Warnings, n)
	}
	checkPlan(t, "scale", p)
}

func write(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}
