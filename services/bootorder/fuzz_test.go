package bootorder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseHeader feeds arbitrary bytes to ParseHeader, seeded with every script of the
// golden trees. It must not panic or hang, every warning must name the path and a line
// within the input, and what it returns must be usable: JSON-encodable text, priorities
// in 0-99 or -1, LSB lines in order.
func FuzzParseHeader(f *testing.F) {
	scripts, _ := filepath.Glob(filepath.Join("testdata", "trees", "*", "etc", "*", "*"))
	more, _ := filepath.Glob(filepath.Join("testdata", "trees", "*", "etc", "rc.d", "init.d", "*"))
	for _, s := range append(scripts, more...) {
		if fi, err := os.Stat(s); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxHeaderBytes {
			continue
		}
		data, err := os.ReadFile(s)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("# chkconfig: 2345 55 25\n### BEGIN INIT INFO\n# Description: a\n#\tb\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, warnings := ParseHeader("/etc/init.d/fuzz", data)
		lines := strings.Count(string(data), "\n") + 1
		for _, w := range warnings {
			if w.Path != "/etc/init.d/fuzz" || w.Line < 0 || w.Line > lines || w.Message == "" {
				t.Fatalf("bad warning %+v (input has %d lines)", w, lines)
			}
		}
		if len(warnings) > maxWarningsPerFile+1 {
			t.Fatalf("%d warnings, want at most %d", len(warnings), maxWarningsPerFile+1)
		}
		if c := h.Chkconfig; c != nil {
			for _, v := range []int{c.Start, c.Stop} {
				if v < -1 || v > 99 {
					t.Fatalf("priority %d", v)
				}
			}
		}
		if l := h.LSB; l != nil {
			if l.End != 0 && l.End <= l.Line {
				t.Fatalf("LSB block ends at %d before it begins at %d", l.End, l.Line)
			}
			for _, names := range []Names{l.Provides, l.RequiredStart, l.ShouldStart, l.StartBefore, l.StartAfter} {
				for _, n := range names.Names {
					if !validName(strings.TrimPrefix(n, "$")) {
						t.Fatalf("invalid name %q kept", n)
					}
				}
			}
		}
		out, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), `\ufffd`) || strings.ContainsAny(string(out), "\x00") {
			t.Fatalf("text not cleaned: %s", out)
		}
	})
}

// FuzzPlanOrder builds a small tree in memory from the fuzzer's bytes (scripts with
// priorities, runlevels, relations, Provides, rules, shadows, rc.local) and checks that
// the plan keeps its invariants: above all, no cycle.
func FuzzPlanOrder(f *testing.F) {
	f.Add([]byte{3, 10, 0x3c, 1, 2, 20, 0x3c, 2, 0, 20, 0x3c, 0})
	f.Add([]byte("aaaabbbbccccddddeeeeffff"))
	f.Add([]byte{0xff, 0, 0xfe, 1, 0xfd, 2, 0xfc, 3, 0xfb, 4, 0xfa, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256 {
			return
		}
		tr := fuzzTree(data)
		p := PlanOrder(tr, ModeWrappers)
		checkPlan(t, "fuzz", p)
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
		if edges := p.Edges(); edges > 3*len(p.Units)+8*len(data) {
			t.Fatalf("%d edges for %d units", edges, len(p.Units))
		}
	})
}

// fuzzTree turns bytes into up to 8 scripts, 4 bytes each: priority, runlevels, and two
// relation bytes naming other scripts, aliases or facilities.
func fuzzTree(data []byte) *Tree {
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	rel := []string{"a", "b", "c", "d", "e", "f", "g", "h", "$all", "$network", "$x", "www", "nosuch", "$syslog", "a.service", "pg"}
	keys := []string{"Required-Start", "Should-Start", "X-Start-Before", "Provides", "X-Start-After"}
	tr := tree()
	for i := 0; i+4 <= len(data) && i/4 < len(names); i += 4 {
		name := names[i/4]
		prio, levels, r1, r2 := int(data[i]), data[i+1], data[i+2], data[i+3]
		var hdr strings.Builder
		switch prio % 4 {
		case 0:
			fmt.Fprintf(&hdr, "# chkconfig: %s %d 10\n", Runlevels(levels&0x3e), prio%120)
		case 1:
			fmt.Fprintf(&hdr, "# chkconfig: - %d\n", prio%100)
		}
		fmt.Fprintf(&hdr, "### BEGIN INIT INFO\n# %s: %s\n# %s: %s\n# Default-Start: 2 5\n### END INIT INFO\n",
			keys[r1%4], rel[r1>>4], keys[r2%5], rel[r2>>4])
		var links []string
		if levels&1 != 0 {
			links = append(links, fmt.Sprintf("S%02d:%s", prio%100, strings.TrimPrefix(Runlevels(levels&0x3e).String(), "-")))
		}
		if levels&0x40 != 0 {
			links = append(links, fmt.Sprintf("K%02d:1", prio%100))
		}
		s := script(name, hdr.String(), links...)
		s.Links = append(s.Links[:0:0], s.Links...)
		for j := range s.Links {
			if s.Links[j].Runlevel == 0 {
				s.Links = s.Links[:j]
				break
			}
		}
		tr.Scripts = append(tr.Scripts, s)
		if levels&0x80 != 0 {
			tr.NativeUnits[name+".service"] = "/usr/lib/systemd/system/" + name + ".service"
		}
		if r1&0x0c == 0x0c {
			tr.Rules = append(tr.Rules, Rule{Path: "/etc/hostkit/boot-order.conf", Line: i, Order: []string{rel[r2>>4], name}})
		}
		if r2&0x0c == 0x0c {
			tr.Rules = append(tr.Rules, Rule{Path: "/etc/hostkit/boot-order.conf", Line: i, Unit: "pg.service", Priority: prio % 100, Runlevels: Runlevels(levels & 0x3e)})
		}
	}
	if len(data)%3 == 0 {
		tr.RCLocal = &Script{Name: "rc-local", Unit: "rc-local.service", Path: "/etc/rc.local", Executable: true}
	}
	return tr
}
