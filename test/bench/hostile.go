package main

// The worst inputs of issue 10 for the boot-order planner, each side by side with its
// anchor, the same ordering without the hostile shape, at two sizes: a planner that
// stays near-linear keeps the ratio to its anchor flat as n grows four-fold (it was
// quadratic: a 4000-unit Order= line took 16 s against 0.08 s for the same chain as
// two-unit lines). In-process: Scan is not involved, PlanOrder and the plan's JSON are.

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hostkit/hostkit/services/bootorder"
)

// hostileCase is one hostile tree builder and its anchor.
type hostileCase struct {
	name, anchorName string
	hostile, anchor  func(n int) *bootorder.Tree
}

func benchHostile() error {
	cases := []hostileCase{
		{"Order= u0 < ... < uN-1, one line", "the same chain as N-1 two-unit lines", longRule, twoUnitRules},
		{"hub: Required-Start and X-Start-Before name N scripts", "hub: X-Start-Before only (no cycle)", func(n int) *bootorder.Tree { return hub(n, true) }, func(n int) *bootorder.Tree { return hub(n, false) }},
		{"N/2 scripts Required-Start: $all, N/2 without priority", "the same N scripts without $all", func(n int) *bootorder.Tree { return withAll(n, true) }, func(n int) *bootorder.Tree { return withAll(n, false) }},
	}
	fmt.Printf("\nboot order, hostile input (issue 10): PlanOrder + plan JSON, median of %d runs, in-process\n", benchRuns)
	fmt.Printf("%-54s %6s %10s %12s %10s %12s %8s\n", "case", "N", "hostile", "JSON bytes", "anchor", "JSON bytes", "ratio")
	for _, c := range cases {
		for _, n := range []int{1000, 4000} {
			th, bh, err := timePlan(c.hostile(n))
			if err != nil {
				return err
			}
			ta, ba, err := timePlan(c.anchor(n))
			if err != nil {
				return err
			}
			fmt.Printf("%-54s %6d %8.1fms %12d %8.1fms %12d %7.2fx\n", c.name, n, ms(th), bh, ms(ta), ba, float64(th)/float64(ta))
		}
		fmt.Printf("  (anchor: %s)\n", c.anchorName)
	}
	return nil
}

// timePlan plans t benchRuns times and returns the median time and the JSON size.
func timePlan(t *bootorder.Tree) (time.Duration, int, error) {
	var times []time.Duration
	size := 0
	for range benchRuns {
		start := time.Now()
		p := bootorder.PlanOrder(t, bootorder.ModeDropIns)
		data, err := json.Marshal(p)
		if err != nil {
			return 0, 0, err
		}
		times = append(times, time.Since(start))
		size = len(data)
	}
	return median(times), size, nil
}

func emptyTree() *bootorder.Tree {
	return &bootorder.Tree{NativeUnits: map[string]string{}, Masked: map[string]bool{}}
}

func unitNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("u%d", i)
	}
	return names
}

func longRule(n int) *bootorder.Tree {
	t := emptyTree()
	t.Rules = []bootorder.Rule{{Path: "/etc/hostkit/boot-order.conf", Line: 2, Order: unitNames(n)}}
	return t
}

func twoUnitRules(n int) *bootorder.Tree {
	t := emptyTree()
	names := unitNames(n)
	for i := 1; i < n; i++ {
		t.Rules = append(t.Rules, bootorder.Rule{Path: "/etc/hostkit/boot-order.conf", Line: i + 1, Order: []string{names[i-1], names[i]}})
	}
	return t
}

// hub is a script linked S10 in rc3.d whose X-Start-Before (and, when cycle, also
// Required-Start) names n empty scripts linked S50 in rc3.d.
func hub(n int, cycle bool) *bootorder.Tree {
	t := emptyTree()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("e%d", i)
		t.Scripts = append(t.Scripts, benchScript(names[i], "", 50))
	}
	list := strings.Join(names, " ")
	header := "### BEGIN INIT INFO\n# Provides: hub\n# X-Start-Before: " + list + "\n"
	if cycle {
		header += "# Required-Start: " + list + "\n"
	}
	t.Scripts = append(t.Scripts, benchScript("hub", header+"# Default-Start: 3\n### END INIT INFO\n", 10))
	return t
}

func benchScript(name, header string, prio int) bootorder.Script {
	path := "/etc/init.d/" + name
	h, _ := bootorder.ParseHeader(path, []byte("#!/bin/sh\n"+header))
	return bootorder.Script{Name: name, Unit: name + ".service", Path: path, Header: h, Executable: true,
		Links: []bootorder.Link{{Path: fmt.Sprintf("/etc/rc3.d/S%02d%s", prio, name), Runlevel: 3, Start: true, Priority: prio}}}
}

// withAll is n/2 scripts with (when all) Required-Start: $all and n/2 scripts with
// neither priority nor links, all in runlevels 2-5.
func withAll(n int, all bool) *bootorder.Tree {
	t := emptyTree()
	req := ""
	if all {
		req = "# Required-Start: $all\n"
	}
	for i := 0; i < n/2; i++ {
		for _, s := range []struct{ name, header string }{{fmt.Sprintf("all%d", i), req}, {fmt.Sprintf("np%d", i), ""}} {
			path := "/etc/init.d/" + s.name
			h, _ := bootorder.ParseHeader(path, []byte("#!/bin/sh\n### BEGIN INIT INFO\n"+s.header+"# Default-Start: 2 3 4 5\n### END INIT INFO\n"))
			t.Scripts = append(t.Scripts, bootorder.Script{Name: s.name, Unit: s.name + ".service", Path: path, Header: h, Executable: true})
		}
	}
	return t
}
