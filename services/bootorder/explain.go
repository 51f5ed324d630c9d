package bootorder

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hostkit/hostkit/internal/term"
)

// Explain says in plain text why unit is where it is in p: what kind of unit it is and
// where it comes from, its priority and the link, header or rule that set it, the targets
// that want it, every unit it is ordered after or before with the reason the plan records
// (or that it records none), what else it wants, whether a native unit shadows the script,
// and the warnings about its source file. A unit that is not in p is an error naming it.
func Explain(p *Plan, unit string) (string, error) {
	u := p.Find(unit)
	if u == nil {
		// A bare script name is what an admin knows from /etc/init.d: accept it.
		u = p.Find(unit + ".service")
	}
	if u == nil {
		return "", fmt.Errorf("%s is not in the boot order plan (it has no SysV script, rc.local or rule; `hostkitctl boot plan` lists the planned units)", unit)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", u.Unit)
	fmt.Fprintf(&b, "  Source:    %s\n", describeSource(u))
	if u.Description != "" {
		fmt.Fprintf(&b, "  Describes: %s\n", u.Description)
	}

	used := map[int]bool{} // indexes of u.Why explained above the "Also" list
	byFact := map[string][]int{}
	for i, r := range u.Why {
		byFact[r.Fact] = append(byFact[r.Fact], i)
	}
	// reason returns the first unused reason for fact; a fact ending in a space ("priority ")
	// matches any value. Exact facts are looked up, so that a unit ordered after thousands
	// of others (rc.local) is explained in linear time.
	reason := func(fact string) (string, bool) {
		if !strings.HasSuffix(fact, " ") {
			for len(byFact[fact]) > 0 {
				i := byFact[fact][0]
				byFact[fact] = byFact[fact][1:]
				if !used[i] {
					used[i] = true
					return formatReason(u.Why[i]), true
				}
			}
			return "", false
		}
		for i, r := range u.Why {
			if !used[i] && strings.HasPrefix(r.Fact, fact) {
				used[i] = true
				return formatReason(r), true
			}
		}
		return "", false
	}
	priorities := map[string]int{}
	for _, o := range p.Units {
		if _, seen := priorities[o.Unit]; !seen && o.Priority != nil {
			priorities[o.Unit] = *o.Priority
		}
	}

	if u.Priority == nil {
		fmt.Fprintf(&b, "  Priority:  none (%s)\n", noPriority(u))
	} else {
		line := fmt.Sprintf("  Priority:  %d", *u.Priority)
		if why, ok := reason("priority "); ok {
			line += ", from " + why
		}
		fmt.Fprintln(&b, line)
	}

	if len(u.Targets) == 0 {
		line := "  Wanted by: nothing: not enabled in any runlevel, so it starts only when asked for"
		if why, ok := reason("not enabled"); ok {
			line += " (" + why + ")"
		}
		fmt.Fprintln(&b, line)
	} else {
		line := "  Wanted by: " + strings.Join(u.Targets, " ")
		if why, ok := reason("runlevels "); ok {
			line += ", from " + why
		}
		fmt.Fprintln(&b, line)
	}
	if why, ok := reason("masked"); ok {
		fmt.Fprintf(&b, "  Masked:    %s\n", why)
	}
	if u.Shadowed {
		line := fmt.Sprintf("  Shadowed:  a native unit %s replaces the script; systemd runs the native unit, and this ordering applies to it", u.Unit)
		if why, ok := reason("shadowed"); ok {
			line += " (" + why + ")"
		}
		fmt.Fprintln(&b, line)
	}

	relations := []struct {
		title, fact string
		units       []string
	}{
		{"After", "after ", u.After},
		{"Before", "before ", u.Before},
		{"Wants", "wants ", u.Wants},
	}
	for _, rel := range relations {
		if len(rel.units) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %s:\n", rel.title)
		for _, other := range rel.units {
			why, ok := reason(rel.fact + other)
			if !ok {
				why = "no reason recorded in the plan"
			}
			note := ""
			if prio, ok := priorities[other]; ok {
				note = " (priority " + strconv.Itoa(prio) + ")"
			}
			fmt.Fprintf(&b, "    %s%s: %s\n", other, note, why)
		}
	}
	if len(u.After) == 0 && len(u.Before) == 0 {
		fmt.Fprintf(&b, "  Ordering:  none: no enabled unit with a lower priority, and no header or rule relating it to another unit\n")
	}

	var also []string
	for i, r := range u.Why {
		if !used[i] {
			also = append(also, r.Fact+": "+formatReason(r))
		}
	}
	if len(also) > 0 {
		fmt.Fprintf(&b, "  Also:\n")
		for _, a := range also {
			fmt.Fprintf(&b, "    %s\n", a)
		}
	}

	var warnings []Warning
	for _, w := range p.Warnings {
		if u.Source != "" && w.Path == u.Source {
			warnings = append(warnings, w)
		}
	}
	sort.SliceStable(warnings, func(i, j int) bool { return warnings[i].Line < warnings[j].Line })
	if len(warnings) > 0 {
		fmt.Fprintf(&b, "  Warnings:\n")
		for _, w := range warnings {
			fmt.Fprintf(&b, "    %s\n", FormatWarning(w))
		}
	}
	return b.String(), nil
}

// FormatWarning renders w as compilers do: "PATH:LINE: MESSAGE" (no line when it is 0),
// as one line: control characters in the path (a file name in the input) or the message
// are escaped as term.Escape does.
func FormatWarning(w Warning) string {
	if w.Line > 0 {
		return term.Escape(w.Path) + ":" + strconv.Itoa(w.Line) + ": " + term.Escape(w.Message)
	}
	return term.Escape(w.Path) + ": " + term.Escape(w.Message)
}

func describeSource(u *Unit) string {
	switch u.Kind {
	case KindSysV:
		return "SysV init script " + u.Source
	case KindRCLocal:
		return "rc.local " + u.Source + ", run last as S99local was"
	case KindNative:
		if u.Source == "" {
			return "native unit, named by a rule"
		}
		return "native unit, named by " + u.Source
	}
	return u.Source
}

// noPriority says why a unit has no priority.
func noPriority(u *Unit) string {
	if u.Kind == KindNative {
		return "a native unit without a Priority= rule in boot-order.conf takes no part in chkconfig ordering"
	}
	return "no S## link and no chkconfig header"
}

// WritePlanText writes p as a table, one unit a line in plan order: UNIT, PRIORITY ("-"
// for none), TARGETS and AFTER (comma-separated, "-" for none); then its warnings as
// "PATH:LINE: MESSAGE", so that editors and terminals can jump to them.
func WritePlanText(w io.Writer, p *Plan) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "UNIT\tPRIORITY\tTARGETS\tAFTER")
	list := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ",")
	}
	for _, u := range p.Units {
		prio := "-"
		if u.Priority != nil {
			prio = strconv.Itoa(*u.Priority)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Unit, prio, list(u.Targets), list(u.After))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Warnings) > 0 {
		noun := "warnings"
		if len(p.Warnings) == 1 {
			noun = "warning"
		}
		if _, err := fmt.Fprintf(w, "\n%d %s:\n", len(p.Warnings), noun); err != nil {
			return err
		}
		for _, warn := range p.Warnings {
			if _, err := fmt.Fprintln(w, FormatWarning(warn)); err != nil {
				return err
			}
		}
	}
	return nil
}
