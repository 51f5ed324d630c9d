package bootorder

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The debian12 tree holds real Debian 12 init scripts, insserv.conf and
// insserv.conf.d/bind9, and the links Debian's insserv made for them (see
// testdata/trees/debian12.copyright/README). insserv's own dependency files are the
// anchor: every pair of scripts insserv orders (directly, transitively, or because the
// first is in rcS.d and the second in rc2.d-rc5.d) must be ordered the same way by the
// plan, with the links and from the headers alone (issue 13).

// insservPairs reads the dependency files and returns every pair insserv orders,
// earlier first, as unit names, and how many of them are a relation (not only the
// boot phase before the others).
func insservPairs(t *testing.T) (pairs [][2]string, relations int) {
	t.Helper()
	f, err := os.Open("testdata/trees/debian12.insserv-depend")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := func(script string) string { return scriptName(script) + ".service" }
	var phases [][]string // TARGETS of .depend.boot, then of .depend.start
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"), strings.HasPrefix(line, "INTERACTIVE"):
		case strings.HasPrefix(line, "TARGETS = "):
			var units []string
			for _, s := range strings.Fields(strings.TrimPrefix(line, "TARGETS = ")) {
				units = append(units, unit(s))
			}
			phases = append(phases, units)
		default:
			later, earlier, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("debian12.insserv-depend: bad line %q", line)
			}
			for _, e := range strings.Fields(earlier) {
				deps[unit(later)] = append(deps[unit(later)], unit(e))
			}
		}
	}
	if len(phases) != 2 {
		t.Fatalf("debian12.insserv-depend: %d TARGETS lines, want 2 (boot, start)", len(phases))
	}
	// The transitive closure of the dependencies, then every boot script before every
	// start script.
	seen := map[[2]string]bool{}
	var visit func(later, from string)
	visit = func(later, from string) {
		for _, e := range deps[from] {
			if p := [2]string{e, later}; !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
				visit(later, e)
			}
		}
	}
	for _, phase := range phases {
		for _, u := range phase {
			visit(u, u)
		}
	}
	relations = len(pairs)
	for _, b := range phases[0] {
		for _, s := range phases[1] {
			if p := [2]string{b, s}; !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	return pairs, relations
}

// reaches reports whether the plan orders to after from: a path of After=/Before=
// edges, through targets and other units.
func reaches(p *Plan, from, to string) bool {
	succ := map[string][]string{}
	for _, e := range p.EdgeList() {
		succ[e.Earlier] = append(succ[e.Earlier], e.Later)
	}
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range succ[n] {
			if m == to {
				return true
			}
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
	}
	return false
}

// countPairs says how many of pairs p orders as insserv does, against it, or not at all.
func countPairs(p *Plan, pairs [][2]string) (same, against int, unordered []string) {
	for _, pr := range pairs {
		switch {
		case reaches(p, pr[0], pr[1]):
			same++
		case reaches(p, pr[1], pr[0]):
			against++
		default:
			unordered = append(unordered, pr[0]+" < "+pr[1])
		}
	}
	return same, against, unordered
}

// copyWithoutLinks copies the tree at src to a new directory, leaving out rc*.d: an /etc
// whose scripts were never enabled.
func copyWithoutLinks(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && strings.HasPrefix(d.Name(), "rc") && strings.HasSuffix(d.Name(), ".d") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestDebian12AgreesWithInsserv(t *testing.T) {
	pairs, relations := insservPairs(t)
	if len(pairs) == 0 || relations == 0 {
		t.Fatal("no pairs read from debian12.insserv-depend")
	}
	linked, err := Scan("testdata/trees/debian12")
	if err != nil {
		t.Fatal(err)
	}
	headersRoot := copyWithoutLinks(t, "testdata/trees/debian12")
	headers, err := Scan(headersRoot)
	if err != nil {
		t.Fatal(err)
	}
	headersPlan := PlanOrder(headers, ModeDropIns)
	checkGolden(t, "debian12 without links", headersPlan, "testdata/trees/debian12-headers")
	for _, c := range []struct {
		name string
		plan *Plan
	}{{"with insserv's links", PlanOrder(linked, ModeDropIns)}, {"headers only", headersPlan}} {
		checkPlan(t, c.name, c.plan)
		same, against, unordered := countPairs(c.plan, pairs)
		rel, _, _ := countPairs(c.plan, pairs[:relations])
		t.Logf("%s: of the %d pairs insserv orders, %d ordered alike (relations %d of %d, rcS.d before rc2.d-rc5.d %d of %d), %d against, %d not ordered",
			c.name, len(pairs), same, rel, relations, same-rel, len(pairs)-relations, against, len(unordered))
		if against > 0 || len(unordered) > 0 {
			t.Errorf("%s: %d pairs against insserv, not ordered: %v", c.name, against, unordered)
		}
		if u := c.plan.Find("hwclock.service"); u == nil || strings.Join(u.Targets, " ") != "sysinit.target" || !slices.Contains(u.Before, "basic.target") {
			t.Errorf("%s: hwclock.service (rcS.d) %+v: want it in sysinit.target, before basic.target", c.name, u)
		}
		for unit, want := range map[string]string{
			"nginx":     "as /etc/insserv.conf:14 and /etc/insserv.conf.d/bind9:1 and /etc/insserv.conf:9 define it",
			"syslog-ng": `"### END INIT INFO#" ends the LSB block, as insserv reads it`,
		} {
			if text, err := Explain(c.plan, unit); err != nil || !strings.Contains(text, want) {
				t.Errorf("%s: explain %s: %v; no %q in:\n%s", c.name, unit, err, want, text)
			}
		}
		for _, w := range c.plan.Warnings {
			if strings.Contains(w.Message, "not linked in any rcN.d") || strings.Contains(w.Message, "no ### END INIT INFO") {
				t.Errorf("%s: %s", c.name, FormatWarning(w))
			}
		}
	}
}
