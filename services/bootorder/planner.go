package bootorder

import (
	"cmp"
	"container/heap"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// How PlanOrder orders (see also the package documentation of hostkit-bootorder(8)):
//
// 1. Every script, rc.local and native unit a rule names is a node. A script's priority is
//    its S## link: that is what rc ran. When its S links in rc1.d to rc5.d disagree, the
//    highest number counts, in every target and both modes, because that is the one
//    systemd-sysv-generator orders by (it takes the maximum over the links): drop-ins can
//    only add ordering, and ordering by another number would add the opposite of its
//    edges, a cycle. On a system that enables scripts through rcN.d (any S or K link in
//    rc1.d to rc5.d), a script without links is not enabled: rc and
//    systemd-sysv-generator do not start it (after `chkconfig --del` or `update-rc.d
//    remove` the script stays, its links go). Only where rcN.d holds no link at all (an
//    init.d copied without them), the chkconfig: header says what `chkconfig --add`
//    would link; without that, LSB Default-Start gives the runlevels and there is no
//    priority.
// 2. Explicit relations (LSB Required-Start, Should-Start, X-Start-After, X-Start-Before,
//    Provides aliases and custom $facilities, and Order= rules) are edges between nodes.
//    Cycles among them are broken, weakest first (Should-Start and X-Start-After, then
//    Required-Start and X-Start-Before, then rules), each with a warning naming every
//    member.
// 3. One start order of all nodes is computed: a topological sort of the explicit edges
//    that, among the nodes free to go next, takes the lowest (priority, name) first, the
//    name compared bytewise as rc's glob sorted S55nginx before S55sshd. So the order is
//    the priority order wherever no explicit relation contradicts it; where one does, the
//    later node waits for its dependency and a warning says so. Units with $all come
//    after every other unit, rc.local after those.
// 4. Edges are minimal: per target each node is ordered after its nearest predecessor in
//    that order among the nodes with a priority enabled in the target's runlevels
//    (rescue.target: 1; multi-user.target: 2, 3, 4; graphical.target: 2-5, as graphical
//    pulls in multi-user). A chain per target, not one for all: After= has no effect
//    through a unit that is not started, so a script enabled only in runlevel 5 must not
//    be the only link between two multi-user scripts. Chains of targets that hold the same
//    units give the same edges, written once, so a tree of n scripts gets at most 3n
//    priority edges (n-1 when all share their runlevels), against systemd-sysv-generator's
//    n²/2. Because every chain follows the one order, no chain edge can close a cycle.
// 5. rc.local (rc-local.service) is ordered after every SysV unit of runlevels 2-5,
//    explicitly rather than through the chain, so it holds whatever fails to start, and
//    after network.target, as systemd's own rc-local.service. These are all its edges:
//    Generate writes the plan's and adds none.
// 6. Debian's boot runlevel S (rcS.d, Default-Start: S) is sysinit.target: its scripts
//    come first (group sysinit), chained among themselves, after sysinit.target and
//    before basic.target, which every other script is ordered after (addSysinit).
//    Facilities mean their systemd target and their providers: the scripts that Provide
//    them and those insserv.conf(.d) names (addFacilities, relateFacility), so that the
//    relations hold with links or without.

// Edge strengths: when explicit relations form a cycle, the weakest edge is dropped first.
const (
	strengthShould   = 1 // Should-Start, X-Start-After
	strengthRequired = 2 // Required-Start, X-Start-Before
	strengthRule     = 3 // Order= in boot-order.conf: the admin's own word
)

// Groups come before priority in the start order.
const (
	groupSysinit = -1 // linked in rcS.d (or Default-Start: S): the boot runlevel, first
	groupNormal  = 0
	groupAll     = 1 // Required-Start or Should-Start: $all
	groupRCLocal = 2
)

// facilityTargets are the LSB facilities systemd has targets for, as
// systemd-sysv-generator maps them. $syslog has none: it means its providers where
// insserv.conf names some, else nothing, as journald's socket is up before any service
// starts.
var facilityTargets = map[string]string{
	"$local_fs":  "local-fs.target",
	"$remote_fs": "remote-fs.target",
	"$network":   "network-online.target",
	"$named":     "nss-lookup.target",
	"$time":      "time-sync.target",
	"$portmap":   "rpcbind.target",
}

// chainTargets are the targets whose start order the priorities decide, with the
// runlevels whose scripts run when the target is reached.
// The scripts of runlevel S (rcS.d) have a chain of their own in sysinit.target; they
// come before all others through sysinit.target itself (see addSysinit).
var chainTargets = []struct {
	target string
	levels Runlevels
}{
	{"sysinit.target", bootLevel},
	{"rescue.target", 1 << 1},
	{"multi-user.target", 1<<2 | 1<<3 | 1<<4},
	{"graphical.target", 1<<2 | 1<<3 | 1<<4 | 1<<5},
}

// bootLevel is runlevel S, rcS.d.
const bootLevel = Runlevels(1 << RunlevelS)

// startLevels are the runlevels whose scripts start at boot: S, 1 (rescue), 2-5.
const startLevels = bootLevel | 1<<1 | multiUserLevels

// multiUserLevels are the runlevels rc.local ran in (S99local in rc2.d to rc5.d).
const multiUserLevels = Runlevels(1<<2 | 1<<3 | 1<<4 | 1<<5)

type node struct {
	u      Unit
	prio   int       // -1: none
	levels Runlevels // runlevels it starts in (1-5 and S only)
	group  int
	sysv   bool // a SysV script, also when a native unit shadows it
	// ghost is a unit outside the plan (a target, a native unit no rule names) that
	// relations name: it takes part in cycle detection, as a cycle can pass through it.
	ghost  bool
	script *Script
	name   string // script name (for Provides), "" for others
	pos    int    // place in the start order
	// rcName is the S link that gave the priority ("S55nginx"), or the one
	// `chkconfig --add` would make when a chkconfig: header gave it ("" otherwise);
	// rcLinked says the link exists. rc ran equal priorities in the order of these names.
	rcName   string
	rcLinked bool
	// masked says why the unit never starts ("" when it can): a masked unit takes part
	// in no edge.
	masked string

	prioWhy  *Reason
	after    map[string]Reason
	before   map[string]Reason
	wants    map[string]Reason
	allWhy   *Reason // its Required-Start: $all
	extraWhy []Reason
}

func (n *node) ordered() bool { return n.prio >= 0 || n.group > groupNormal }

type relEdge struct {
	earlier, later *node
	strength       int
	reason         Reason // Path, Line and Why; Fact is set per side
	dropped        bool
}

type planner struct {
	t        *Tree
	nodes    []*node
	byUnit   map[string]*node
	byName   map[string]*node   // script names
	alias    map[string]*node   // LSB Provides names
	provides map[string][]*node // facility -> its providers, in the order found
	provided map[string]map[*node]bool
	// includes are the facilities a facility includes by insserv.conf ($named includes
	// $network), and facilityDefs the definitions of each (at most a few), for reasons.
	includes     map[string][]string
	facilityDefs map[string][]Reason
	edges        []*relEdge
	rc           *node
	ghosts       map[string]*node
	warnings     []Warning
	reasons      map[*node][]Reason // facts in the order they were found
	mode         string
	// rcTree says that the system enables its scripts through rcN.d links: the tree
	// has at least one S or K link.
	rcTree bool
}

// PlanOrder turns t into the ordering hostkit makes real, written in mode (ModeDropIns or
// ModeWrappers, recorded in the plan). The plan holds every script (a shadowed one under
// its native unit's name, Kind native), rc.local as rc-local.service when t has one
// (in both modes: systemd's own rc-local.service is not ordered after SysV units), and
// every native unit a rule names. Units are listed in the planned start order; their
// After, Before, Wants and Targets are sorted, every edge listed on both of its plan
// units. Warnings are t's and the planner's (contradictions, cycles, rules that cannot
// apply), sorted by path and line, at most maxWarningsPerFile for each file and then a
// count of the rest. The same Tree always gives the same Plan; PlanOrder
// never fails and never plans a cycle. See the comment above for how it orders.
func PlanOrder(t *Tree, mode string) *Plan {
	p := &planner{
		t:        t,
		byUnit:   map[string]*node{},
		byName:   map[string]*node{},
		alias:    map[string]*node{},
		provides: map[string][]*node{},
		provided: map[string]map[*node]bool{},
		includes: map[string][]string{},

		facilityDefs: map[string][]Reason{},
		reasons:      map[*node][]Reason{},
		ghosts:       map[string]*node{},
		mode:         mode,
		rcTree:       t.RCLinks || slices.ContainsFunc(t.Scripts, func(s Script) bool { return len(s.Links) > 0 }),
	}
	p.warnings = append(p.warnings, t.Warnings...)
	p.addScripts()
	p.addRCLocal()
	p.addProvides()
	p.addFacilities()
	p.applyPriorityRules()
	p.addRuleNodes()
	p.addRelations()
	p.addSysinit()
	p.addOrderRules()
	p.breakCycles()
	order := p.startOrder()
	p.warnContradictions()
	p.addExplicitEdges()
	p.addChains(order)
	p.addRCLocalEdges(order)
	return p.result(order, mode)
}

func (p *planner) warn(path string, line int, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *planner) why(n *node, r Reason) { p.reasons[n] = append(p.reasons[n], r) }

func (p *planner) newNode(u Unit) *node {
	n := &node{u: u, prio: -1, after: map[string]Reason{}, before: map[string]Reason{}, wants: map[string]Reason{}}
	p.nodes = append(p.nodes, n)
	p.byUnit[u.Unit] = n
	return n
}

func (p *planner) addScripts() {
	scripts := slices.Clone(p.t.Scripts)
	sort.SliceStable(scripts, func(i, j int) bool { return scripts[i].Name < scripts[j].Name })
	for i := range scripts {
		sc := &scripts[i]
		unit := sc.Unit // Scan names it and checks the name
		if other := p.byUnit[unit]; other != nil {
			p.warn(sc.Path, 0, "%s is already the script of %s; skipped", other.u.Source, unit)
			continue
		}
		n := p.newNode(Unit{Unit: unit, Source: sc.Path, Kind: KindSysV})
		n.sysv, n.script, n.name = true, sc, sc.Name
		p.byName[sc.Name] = n
		p.placeScript(n, sc)
		h := sc.Header
		if native, ok := p.t.NativeUnits[unit]; ok {
			n.u.Kind, n.u.Source, n.u.Shadowed = KindNative, native, true
			if p.t.Masked[unit] {
				// Kept in the plan, so that explain can say what became of the script,
				// but out of every target, chain and edge.
				n.levels = 0
				n.masked = fmt.Sprintf("%s is masked: systemd runs neither the unit nor the script %s", unit, sc.Path)
				p.why(n, Reason{Fact: "masked", Path: native, Why: fmt.Sprintf("systemd runs neither the unit nor the script %s: the unit is a link to /dev/null", sc.Path)})
			} else {
				p.why(n, Reason{Fact: "shadowed", Path: native, Why: fmt.Sprintf("the native unit replaces %s, which systemd does not run; the unit takes the script's place in the order", sc.Path)})
			}
			continue // the native unit has its own description, pidfile and reload
		}
		n.u.PIDFile, n.u.Reload = h.PIDFile, h.Reload
		switch {
		case h.LSB != nil && h.LSB.ShortDescription != "":
			n.u.Description = h.LSB.ShortDescription
		case h.LSB != nil && h.LSB.Description != "":
			n.u.Description = h.LSB.Description
		default:
			n.u.Description = h.Description
		}
	}
}

// placeScript sets a script's runlevels and priority from its links, else its headers.
func (p *planner) placeScript(n *node, sc *Script) {
	h := sc.Header
	starts := map[int]Link{} // the first S link of each runlevel
	var all []Link
	for _, l := range sc.Links {
		if (l.Runlevel < 1 || l.Runlevel > 5) && l.Runlevel != RunlevelS || !l.Start {
			continue
		}
		all = append(all, l)
		if first, ok := starts[l.Runlevel]; ok {
			if first.Priority != l.Priority {
				p.warn(l.Path, 0, "a second S link for %s in runlevel %d besides %s (rc ran it twice); its number counts as well", sc.Name, l.Runlevel, first.Path)
			}
			continue
		}
		starts[l.Runlevel] = l
		n.levels |= 1 << l.Runlevel
	}
	// The S link with the highest number gives the priority; of equal ones, the first
	// in runlevels 2-5, else 1, else S.
	var used Link
	for _, level := range []int{2, 3, 4, 5, 1, RunlevelS} {
		for _, l := range all {
			if l.Runlevel == level && (used.Path == "" || l.Priority > used.Priority) {
				used = l
			}
		}
	}
	chk := h.Chkconfig
	switch {
	case n.levels != 0:
		n.prio = used.Priority
		n.rcName, n.rcLinked = path.Base(used.Path), true
		n.prioWhy = &Reason{Fact: fmt.Sprintf("priority %d", used.Priority), Path: used.Path,
			Why: fmt.Sprintf("S%02d link in %s", used.Priority, dirOf(used.Path))}
		var others []string
		for _, l := range all {
			if l.Priority != used.Priority {
				others = append(others, linkText(l))
			}
		}
		if len(others) > 0 {
			n.prioWhy.Why += ", the highest of its S links, as systemd-sysv-generator takes it"
			p.warn(sc.Path, 0, "its S links disagree (%s, but %s); hostkit uses the highest, %d from %s, for every target, because systemd-sysv-generator orders by the highest and ordering by another would contradict its units (an ordering cycle); make the links agree (chkconfig --del and --add, or update-rc.d remove and defaults) to choose",
				strings.Join(others, ", "), linkText(used), used.Priority, used.Path)
		}
		if chk != nil && chk.Start >= 0 && chk.Start != used.Priority {
			p.warn(sc.Path, chk.Line, "chkconfig: start priority %d disagrees with the link %s, which is what init ran and what hostkit follows; to make %d real run `chkconfig %s resetpriorities` (or chkconfig --del and --add), else change the header to %d",
				chk.Start, used.Path, chk.Start, sc.Name, used.Priority)
		}
		p.why(n, Reason{Fact: "runlevels " + n.levels.String(), Path: used.Path, Why: "S links in " + linkDirs(starts)})
	case len(sc.Links) > 0:
		// Only K links: `chkconfig NAME off` (or update-rc.d disable) in every runlevel.
		p.why(n, Reason{Fact: "not enabled", Path: sc.Links[0].Path, Why: "K links only: turned off in every runlevel"})
		p.headerPriority(n, chk)
	case p.rcTree:
		// `chkconfig --del` or `update-rc.d remove`: the script stays, its links go, and
		// neither rc nor systemd-sysv-generator starts it.
		p.headerPriority(n, chk)
		if _, native := p.t.NativeUnits[sc.Unit]; native {
			// The native unit starts as its own [Install] section and systemctl say.
			p.why(n, Reason{Fact: "not enabled", Path: sc.Path, Why: "the script is not linked in any rcN.d: the native unit that replaces it takes no place in the SysV order"})
			break
		}
		p.why(n, Reason{Fact: "not enabled", Path: sc.Path, Why: "not linked in any rcN.d, where this system enables its scripts: rc and systemd-sysv-generator do not start it"})
		p.warn(sc.Path, 0, "not linked in any rcN.d: not started at boot (chkconfig --add / update-rc.d defaults to enable)")
	case chk != nil:
		n.levels = chk.Runlevels & startLevels
		if chk.Start >= 0 {
			n.prio = chk.Start
			n.rcName = fmt.Sprintf("S%02d%s", chk.Start, path.Base(sc.Path))
			n.prioWhy = &Reason{Fact: fmt.Sprintf("priority %d", chk.Start), Path: sc.Path, Line: chk.Line, Why: chkText(chk) + " (no rcN.d links: as chkconfig --add would link it)"}
		}
		if l := h.LSB; l != nil && l.DefaultStartLine != 0 && l.DefaultStart&^1&^(1<<6) != chk.Runlevels&^1&^(1<<6) {
			p.warn(sc.Path, l.DefaultStartLine, "Default-Start %s disagrees with the chkconfig: runlevels %s of line %d; hostkit follows the chkconfig: line",
				l.DefaultStart, chk.Runlevels, chk.Line)
		}
		p.why(n, Reason{Fact: "runlevels " + n.levels.String(), Path: sc.Path, Line: chk.Line, Why: chkText(chk)})
	case h.LSB != nil && h.LSB.DefaultStartLine != 0:
		n.levels = h.LSB.DefaultStart & startLevels
		p.why(n, Reason{Fact: "runlevels " + n.levels.String(), Path: sc.Path, Line: h.LSB.DefaultStartLine, Why: "Default-Start (no rcN.d links or chkconfig: line); no priority"})
	default:
		p.warn(sc.Path, 0, "no rcN.d links, chkconfig: line or LSB Default-Start: not enabled (add a line such as \"# chkconfig: 2345 50 50\" and run chkconfig --add %s)", sc.Name)
	}
	if n.prio >= 0 {
		n.u.Priority = ptr(n.prio)
	}
	if n.levels&bootLevel != 0 {
		n.group = groupSysinit
	}
	if l := h.LSB; l != nil && l.EndNote != "" {
		p.why(n, Reason{Fact: "note", Path: sc.Path, Line: l.End, Why: l.EndNote})
	}
}

// headerPriority gives a script that is not enabled the start priority of its chkconfig:
// line, if any, so that explain can show it: with no runlevels it is in no chain.
func (p *planner) headerPriority(n *node, chk *Chkconfig) {
	if chk != nil && chk.Start >= 0 {
		n.prio = chk.Start
		n.prioWhy = &Reason{Fact: fmt.Sprintf("priority %d", chk.Start), Path: n.script.Path, Line: chk.Line, Why: chkText(chk)}
	}
}

func (p *planner) addRCLocal() {
	rc := p.t.RCLocal
	if rc == nil {
		return
	}
	if other := p.byUnit["rc-local.service"]; other != nil {
		p.warn(rc.Path, 0, "rc-local.service is already the unit of %s; rc.local left out", other.u.Source)
		return
	}
	n := p.newNode(Unit{Unit: "rc-local.service", Source: rc.Path, Kind: KindRCLocal, Priority: ptr(99)})
	n.levels, n.group = multiUserLevels, groupRCLocal
	n.prioWhy = &Reason{Fact: "priority 99", Path: rc.Path, Why: "S99local, the last S link of runlevels 2-5, which ran rc.local"}
	p.rc = n
	// As systemd's own rc-local.service: rc.local scripts expect the network. In the plan,
	// so that what is written and verified is the plan and nothing else.
	p.addExternal(n, true, "network.target", strengthRequired, Reason{Path: rc.Path, Why: "rc.local expects the network, as systemd's rc-local.service orders it"})
}

// addProvides records LSB Provides: names as aliases of their script's unit, and
// facilities as targets the script is before.
func (p *planner) addProvides() {
	for _, n := range p.nodes {
		if n.script == nil || n.script.Header.LSB == nil {
			continue
		}
		prov := n.script.Header.LSB.Provides
		for _, name := range prov.Names {
			r := Reason{Path: n.script.Path, Line: prov.Line, Why: "Provides: " + name}
			switch {
			case name == n.name:
			case strings.HasPrefix(name, "$"):
				p.provideFacility(n, name, r)
			case p.byName[name] != nil:
				p.warn(n.script.Path, prov.Line, "Provides: %s is the name of the script %s, which keeps it; ignored", name, p.byName[name].u.Source)
			case p.alias[name] != nil:
				p.warn(n.script.Path, prov.Line, "Provides: %s is also provided by %s, which comes first by name and keeps it; ignored", name, p.alias[name].u.Source)
			default:
				p.alias[name] = n
			}
		}
	}
}

// provideFacility records n as a provider of facility name (r says where that is
// written). Where systemd has a target for the facility, the facility is there once the
// provider has run: other units reach it through the target, which the provider is
// ordered before and pulls in (unless a native unit replaces the script, or n is a unit
// outside the plan: their unit files order them).
func (p *planner) provideFacility(n *node, name string, r Reason) {
	if p.provided[name][n] {
		return
	}
	if p.provided[name] == nil {
		p.provided[name] = map[*node]bool{}
	}
	p.provided[name][n] = true
	p.provides[name] = append(p.provides[name], n)
	if target, ok := facilityTargets[name]; ok && !n.ghost && !n.u.Shadowed {
		p.addExternal(n, false, target, strengthRequired, r)
		if name == "$network" {
			p.addExternal(n, false, "network.target", strengthRequired, r)
		}
		r.Fact = "wants " + target
		n.wants[target] = r
	}
}

// maxFacilityIncludes bounds how many facilities one facility stands for with those it
// includes, so that a contrived insserv.conf cannot make every relation to it costly.
const maxFacilityIncludes = 16

// addFacilities applies the definitions of insserv.conf and insserv.conf.d: each named
// script (or Provides name, or unit file) provides the facility, as if its header said
// so, and a facility named in the definition is included. A provider marked "+" may be
// missing; a missing one without "+" is a warning.
func (p *planner) addFacilities() {
	for _, f := range p.t.Facilities {
		r := Reason{Path: f.Path, Line: f.Line, Why: clip(f.Name + " " + strings.Join(f.Providers, " "))}
		if len(p.facilityDefs[f.Name]) < 3 {
			p.facilityDefs[f.Name] = append(p.facilityDefs[f.Name], r)
		}
		for _, prov := range f.Providers {
			if strings.HasPrefix(prov, "$") {
				if prov != f.Name && !slices.Contains(p.includes[f.Name], prov) {
					p.includes[f.Name] = append(p.includes[f.Name], prov)
				}
				continue
			}
			name, optional := strings.CutPrefix(prov, "+")
			n, unit := p.resolve(name)
			switch {
			case n != nil:
				p.provideFacility(n, f.Name, r)
			case p.t.NativeUnits[unit] != "":
				p.provideFacility(p.ghost(unit), f.Name, r)
			case !optional:
				p.warn(f.Path, f.Line, "%s: no init script, Provides name or unit file %s (write +%s if it may be missing); left out", f.Name, name, name)
			}
		}
	}
}

// facilityClosure returns name and the facilities it includes, directly or not, name
// first, at most maxFacilityIncludes.
func (p *planner) facilityClosure(name string) []string {
	out := []string{name}
	seen := map[string]bool{name: true}
	for i := 0; i < len(out) && len(out) < maxFacilityIncludes; i++ {
		for _, inc := range p.includes[out[i]] {
			if !seen[inc] && len(out) < maxFacilityIncludes {
				seen[inc] = true
				out = append(out, inc)
			}
		}
	}
	return out
}

// resolve returns the plan node name stands for, or nil and the unit name outside the
// plan. A name without a unit suffix is a script's, else a native unit's, else an LSB
// Provides alias (systemd's own units win over aliases, as systemd-sysv-generator does
// not write an alias over a real unit).
func (p *planner) resolve(name string) (*node, string) {
	unit, stem := name, name
	if isUnitName(name) {
		s, ok := strings.CutSuffix(name, ".service")
		if !ok {
			return p.byUnit[name], name
		}
		stem = s
	} else {
		unit = name + ".service"
	}
	if n := p.byUnit[unit]; n != nil {
		return n, unit
	}
	if _, ok := p.t.NativeUnits[unit]; ok {
		return nil, unit
	}
	if n := p.alias[stem]; n != nil {
		return n, n.u.Unit
	}
	return nil, unit
}

// nativeNode returns the node of native unit unit, adding it.
func (p *planner) nativeNode(unit string) *node {
	if n := p.byUnit[unit]; n != nil {
		return n
	}
	n := p.newNode(Unit{Unit: unit, Source: p.t.NativeUnits[unit], Kind: KindNative})
	if p.t.Masked[unit] {
		n.masked = unit + " is masked (a link to /dev/null): it never starts"
		p.why(n, Reason{Fact: "masked", Path: n.u.Source, Why: "a link to /dev/null: it does not start"})
	}
	return n
}

func (p *planner) applyPriorityRules() {
	for _, r := range p.t.Rules {
		if r.Order != nil {
			continue
		}
		n, unit := p.resolve(r.Unit)
		switch {
		case n != nil && (n.u.Kind == KindSysV || n.u.Kind == KindRCLocal):
			p.warn(r.Path, r.Line, "%s: %s is %s; its priority comes from its S## link or chkconfig: header (set it there); rule left out", r.Text(), n.u.Unit, n.u.Source)
			continue
		case n == nil && strings.HasSuffix(unit, ".target"):
			p.warn(r.Path, r.Line, "%s: a target has no priority; rule left out", r.Text())
			continue
		case n != nil && n.masked != "":
			p.warn(r.Path, r.Line, "%s: %s, so it has no place in the order; rule left out", r.Text(), n.masked)
			continue
		case n == nil && p.t.Masked[unit]:
			p.warn(r.Path, r.Line, "%s: %s is masked (a link to /dev/null): it never starts, so it has no place in the order; rule left out", r.Text(), unit)
			continue
		case n == nil:
			n = p.nativeNode(unit)
			p.warnUnknown(r, unit)
		}
		n.prio, n.u.Priority = r.Priority, ptr(r.Priority)
		n.levels = r.Runlevels & startLevels
		n.prioWhy = &Reason{Fact: fmt.Sprintf("priority %d", r.Priority), Path: r.Path, Line: r.Line, Why: r.Text()}
	}
}

func (p *planner) warnUnknown(r Rule, unit string) {
	if _, ok := p.t.NativeUnits[unit]; !ok {
		p.warn(r.Path, r.Line, "%s: no unit file, init script or Provides name for %s (a typo?); the rule still names it, in case a generator makes it", r.Text(), unit)
	}
}

// addRuleNodes adds the native units Order= rules name before any relation is resolved,
// so that a header naming such a unit is an edge between nodes.
func (p *planner) addRuleNodes() {
	for _, r := range p.t.Rules {
		for _, name := range r.Order {
			if n, unit := p.resolve(name); n == nil && !strings.HasSuffix(unit, ".target") {
				p.nativeNode(unit)
				p.warnUnknown(r, unit)
			}
		}
	}
}

// ghost returns the node of unit, a unit outside the plan, adding it.
func (p *planner) ghost(unit string) *node {
	g := p.ghosts[unit]
	if g == nil {
		g = &node{u: Unit{Unit: unit}, prio: -1, ghost: true}
		p.nodes = append(p.nodes, g)
		p.ghosts[unit] = g
	}
	return g
}

// addExternal orders n after (or before) a unit outside the plan.
func (p *planner) addExternal(n *node, after bool, unit string, strength int, r Reason) {
	g := p.ghost(unit)
	if after {
		p.addEdge(g, n, strength, r)
	} else {
		p.addEdge(n, g, strength, r)
	}
}

// addEdge records that later starts after earlier. An edge with a masked unit is a
// warning instead: the masked unit never starts, so the ordering would order nothing.
func (p *planner) addEdge(earlier, later *node, strength int, r Reason) {
	for _, n := range []*node{earlier, later} {
		if n.masked != "" {
			p.warn(r.Path, r.Line, "%s: %s; ordering %s after %s left out", r.Why, n.masked, later.u.Unit, earlier.u.Unit)
			return
		}
	}
	p.edges = append(p.edges, &relEdge{earlier: earlier, later: later, strength: strength, reason: r})
}

// addRelations turns LSB Required-Start, Should-Start, X-Start-After and X-Start-Before
// into edges.
func (p *planner) addRelations() {
	for _, n := range p.nodes {
		if n.script == nil || n.script.Header.LSB == nil || n.u.Shadowed {
			continue // a native unit that shadows a script has relations of its own
		}
		l := n.script.Header.LSB
		p.relation(n, "Required-Start", l.RequiredStart, strengthRequired, true)
		p.relation(n, "Should-Start", l.ShouldStart, strengthShould, true)
		p.relation(n, "X-Start-After", l.StartAfter, strengthShould, true)
		p.relation(n, "X-Start-Before", l.StartBefore, strengthRequired, false)
	}
}

func (p *planner) relation(n *node, key string, list Names, strength int, after bool) {
	path := n.script.Path
	for _, name := range list.Names {
		r := Reason{Path: path, Line: list.Line, Why: key + ": " + name}
		edge := func(other *node) {
			if after {
				p.addEdge(other, n, strength, r)
			} else {
				p.addEdge(n, other, strength, r)
			}
		}
		switch {
		case name == "$all":
			if !after {
				p.warn(path, list.Line, "%s: $all means nothing before a unit; ignored", key)
				continue
			}
			n.group = groupAll
			n.allWhy = &r
		case strings.HasPrefix(name, "$"):
			p.relateFacility(n, key, name, strength, after, r, edge)
		default:
			other, unit := p.resolve(name)
			switch {
			case other == n:
				p.warn(path, list.Line, "%s: %s names the script itself; ignored", key, name)
			case other != nil:
				edge(other)
			default:
				if _, native := p.t.NativeUnits[unit]; !native && key == "Required-Start" {
					p.warn(path, list.Line, "%s: %s is no init script, Provides name or unit file; ordered after %s anyway, in case it appears", key, name, unit)
				}
				p.addExternal(n, after, unit, strength, r)
			}
		}
	}
}

// addSysinit orders the scripts of runlevel S (rcS.d, or Default-Start: S) as rc ran
// them, before every script of the runlevel entered, the way systemd expresses it:
// wanted by sysinit.target and started after it, as systemd's early services are, and
// before basic.target, which every service with default dependencies (every other SysV
// script) waits for. Generate turns their default dependencies off, so they are also
// before shutdown.target as those would have them. Written out, the edges are in the plan
// for a reader and for Verify: every other script is after basic.target. Nothing is
// added to a tree without such scripts.
func (p *planner) addSysinit() {
	var boot, rest []*node
	for _, n := range p.nodes {
		switch {
		case n.ghost || n.script == nil || n.u.Shadowed || n.masked != "":
		case n.group == groupSysinit:
			boot = append(boot, n)
		case n.levels != 0:
			rest = append(rest, n)
		}
	}
	if len(boot) == 0 {
		return
	}
	for _, n := range boot {
		r := Reason{Path: n.u.Source, Why: "runlevel S: rcS.d ran first at boot; systemd's early services start after sysinit.target"}
		for _, l := range n.script.Links {
			if l.Runlevel == RunlevelS && l.Start {
				r.Path = l.Path
				break
			}
		}
		p.addExternal(n, true, "sysinit.target", strengthRequired, r)
		r.Why = "runlevel S: rcS.d ran before the scripts of the runlevel entered, which wait for basic.target"
		p.addExternal(n, false, "basic.target", strengthRequired, r)
		r.Why = "runlevel S: as systemd's default dependencies, which an early service does without"
		p.addExternal(n, false, "shutdown.target", strengthRequired, r)
	}
	for _, n := range rest {
		p.addExternal(n, true, "basic.target", strengthRequired, Reason{Path: n.u.Source,
			Why: "the scripts of runlevel S (rcS.d) ran first; they are before basic.target, which systemd starts every service after"})
	}
}

// lateTargets are the facility targets systemd reaches only after basic.target where
// anything provides them (a wait-online service, a resolver, an NTP daemon, remote
// mounts after the network: all services with default dependencies). A script of
// runlevel S, which comes before basic.target, cannot also wait for one: that would be
// an ordering cycle at boot.
var lateTargets = map[string]bool{
	"network-online.target": true, "remote-fs.target": true, "nss-lookup.target": true,
	"rpcbind.target": true, "time-sync.target": true,
}

// relateFacility orders n after (or, for X-Start-Before, before) facility name and the
// facilities it includes. After a facility systemd has a target for, n is ordered after
// the target, which its providers are before; after any other, after each provider
// (insserv.conf's $syslog providers, a script's own Provides: $custom). Before a
// facility, n is ordered before each provider as well as the target: being before the
// target does not put it before them. $syslog without providers needs nothing:
// journald's socket is there before any service. Any other facility that is neither
// mapped nor provided is a warning.
func (p *planner) relateFacility(n *node, key, name string, strength int, after bool, r Reason, edge func(*node)) {
	known := false
	var meaning, places []string // what name stands for, and where insserv.conf says so
	var first *Reason
	for _, f := range p.facilityClosure(name) {
		target := facilityTargets[f]
		if target != "" && after && n.group == groupSysinit && lateTargets[target] {
			known = true
			p.warn(n.script.Path, r.Line, "%s: %s is %s, which systemd reaches after basic.target, and a script of runlevel S (rcS.d) comes before it; not ordered after it (that would be an ordering cycle at boot)", key, name, target)
			target = ""
		} else if target != "" {
			known = true
			p.addExternal(n, after, target, strength, r)
			if f == "$network" && after {
				w := r
				w.Fact = "wants " + target
				n.wants[target] = w
			}
		}
		providers := p.provides[f]
		if len(providers) > 0 {
			known = true
		}
		if target == "" || !after {
			for _, other := range providers {
				if other != n {
					edge(other)
				}
			}
		}
		if defs := p.facilityDefs[f]; len(defs) > 0 {
			known = true
			meaning = append(meaning, facilityText(f, target, providers))
			for _, d := range defs {
				places = append(places, fmt.Sprintf("%s:%d", d.Path, d.Line))
			}
			if first == nil {
				first = &defs[0]
			}
		}
	}
	if first != nil {
		// Explain shows which files gave the facility its meaning.
		verb := "defines"
		if len(places) > 1 {
			verb = "define"
		}
		p.why(n, Reason{Fact: "facility " + name, Path: first.Path, Line: first.Line,
			Why: fmt.Sprintf("%s: %s, as %s %s it", r.Why, strings.Join(meaning, "; "), strings.Join(places, " and "), verb)})
	}
	if !known && name != "$syslog" {
		p.warn(n.script.Path, r.Line, "%s: unknown facility %s (systemd maps none such, and no script Provides it); ignored", key, name)
	}
}

// facilityText says what a facility stands for: its target and providers.
func facilityText(name, target string, providers []*node) string {
	var parts []string
	if target != "" {
		parts = append(parts, target)
	}
	for i, n := range providers {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(providers)-5))
			break
		}
		parts = append(parts, n.u.Unit)
	}
	if len(parts) == 0 {
		return name + " is nothing here"
	}
	return name + " is " + strings.Join(parts, ", ")
}

func (p *planner) addOrderRules() {
	for _, rule := range p.t.Rules {
		for i := 1; i < len(rule.Order); i++ {
			first, firstUnit := p.resolve(rule.Order[i-1])
			then, thenUnit := p.resolve(rule.Order[i])
			r := Reason{Path: rule.Path, Line: rule.Line, Why: rule.pairText(i)}
			switch {
			case first != nil && first == then:
				p.warn(rule.Path, rule.Line, "%s: %s is ordered after itself; left out", r.Why, firstUnit)
			case first != nil && then != nil:
				p.addEdge(first, then, strengthRule, r)
			case then != nil:
				p.addExternal(then, true, firstUnit, strengthRule, r)
			case first != nil:
				p.addExternal(first, false, thenUnit, strengthRule, r)
			default:
				p.warn(rule.Path, rule.Line, "%s: neither %s nor %s is a service hostkit plans; order targets in their unit files; left out", r.Why, firstUnit, thenUnit)
			}
		}
	}
}

// breakCycles drops explicit edges until none form a cycle, in time near-linear in the
// edges whatever the input (the generator runs at boot): see breakCyclesAmong.
func (p *planner) breakCycles() {
	var live []*relEdge
	for _, e := range p.edges {
		if !e.dropped {
			live = append(live, e)
		}
	}
	p.breakCyclesAmong(live)
}

// breakCyclesAmong makes edges acyclic. Every cycle lies within one strongly connected
// component, and each component is handled once: its stronger edges are made acyclic
// first (the same way, recursively, so at most once per strength), then its units are
// put in one order that keeps every stronger edge and, where a choice is left, goes by
// the start order (group, priority, name); the weakest edges that go against that order
// are dropped, each with a warning naming the cycle's units (a few of them, when many).
// So a weaker relation never survives at the cost of a stronger one, as the former
// "drop the weakest edge of each cycle, repeat" did, but without its quadratic time:
// one component of n units with 2n edges costs O(n log n) instead of n rounds.
func (p *planner) breakCyclesAmong(edges []*relEdge) {
	for _, c := range components(p.nodes, edges) {
		weakest := c.edges[0].strength
		for _, e := range c.edges {
			weakest = min(weakest, e.strength)
		}
		var strong, weak []*relEdge
		for _, e := range c.edges {
			if e.strength == weakest {
				weak = append(weak, e)
			} else {
				strong = append(strong, e)
			}
		}
		p.breakCyclesAmong(strong)
		members := cycleMembers(c.nodes)
		for _, e := range againstOrder(c.nodes, strong, weak) {
			e.dropped = true
			p.warn(e.reason.Path, e.reason.Line, "ordering cycle among %s; %s is left out (%s after %s), the weakest relation in the cycle",
				members, e.reason.Why, e.later.u.Unit, e.earlier.u.Unit)
		}
	}
}

// cycleMembers names the units of a cycle for a warning, sorted: all of them, or the
// first few and how many more.
func cycleMembers(nodes []*node) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.u.Unit
	}
	sort.Strings(names)
	if len(names) > 6 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
	}
	return strings.Join(names, ", ")
}

// againstOrder orders nodes (one strongly connected component) by strong and weak, its
// internal edges, the strong ones acyclic: a topological sort taking the lowest node by
// orderLess among those free to go, and when none is free (the weak edges close a cycle),
// the lowest one whose strong predecessors have all gone. It returns the weak edges
// that order a node after one that went later, the edges to drop. The weak edges all
// have one strength, below every strong one.
func againstOrder(nodes []*node, strong, weak []*relEdge) []*relEdge {
	type state struct {
		in, strongIn int // predecessors not yet placed: over all edges, over strong ones
		out          []*relEdge
		placed       bool
		pos          int
	}
	st := make(map[*node]*state, len(nodes))
	for _, n := range nodes {
		st[n] = &state{}
	}
	for _, list := range [][]*relEdge{strong, weak} {
		for _, e := range list {
			if e.dropped {
				continue
			}
			st[e.earlier].out = append(st[e.earlier].out, e)
			st[e.later].in++
		}
	}
	for _, e := range strong {
		if !e.dropped {
			st[e.later].strongIn++
		}
	}
	weakest := 0
	if len(weak) > 0 {
		weakest = weak[0].strength
	}
	free, forced := &nodeHeap{}, &nodeHeap{}
	for _, n := range nodes {
		if st[n].in == 0 {
			*free = append(*free, n)
		}
		if st[n].strongIn == 0 {
			*forced = append(*forced, n)
		}
	}
	heap.Init(free)
	heap.Init(forced)
	next := func(h *nodeHeap) *node {
		for h.Len() > 0 {
			if n := heap.Pop(h).(*node); !st[n].placed {
				return n
			}
		}
		return nil
	}
	for pos := range nodes {
		n := next(free)
		if n == nil {
			n = next(forced) // never nil: the strong edges are acyclic
		}
		s := st[n]
		s.placed, s.pos = true, pos
		for _, e := range s.out {
			w := st[e.later]
			if w.placed {
				continue
			}
			if w.in--; w.in == 0 {
				heap.Push(free, e.later)
			}
			if e.strength > weakest {
				if w.strongIn--; w.strongIn == 0 {
					heap.Push(forced, e.later)
				}
			}
		}
	}
	var drop []*relEdge
	for _, e := range weak {
		if !e.dropped && st[e.later].pos < st[e.earlier].pos {
			drop = append(drop, e)
		}
	}
	return drop
}

// components returns the strongly connected components of more than one node of the
// graph of edges (Tarjan's algorithm, iterative so that no input can exhaust a stack),
// each with the edges between its nodes. nodes gives the order in which they are
// visited, so that the result does not depend on map order.
func components(nodes []*node, edges []*relEdge) []component {
	succ := map[*node][]*node{}
	for _, e := range edges {
		if !e.dropped {
			succ[e.earlier] = append(succ[e.earlier], e.later)
		}
	}
	index := map[*node]int{}
	low := map[*node]int{}
	onStack := map[*node]bool{}
	comp := map[*node]int{}
	var stack []*node
	var out []component
	next := 0
	type frame struct {
		n *node
		i int
	}
	for _, root := range nodes {
		if _, seen := index[root]; seen || len(succ[root]) == 0 {
			continue
		}
		work := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(work) > 0 {
			f := &work[len(work)-1]
			if f.i < len(succ[f.n]) {
				w := succ[f.n][f.i]
				f.i++
				if _, seen := index[w]; !seen {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					work = append(work, frame{w, 0})
				} else if onStack[w] {
					low[f.n] = min(low[f.n], index[w])
				}
				continue
			}
			v := f.n
			work = work[:len(work)-1]
			if len(work) > 0 {
				parent := work[len(work)-1].n
				low[parent] = min(low[parent], low[v])
			}
			if low[v] == index[v] {
				var scc []*node
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					scc = append(scc, w)
					if w == v {
						break
					}
				}
				if len(scc) > 1 {
					for _, w := range scc {
						comp[w] = len(out) + 1
					}
					out = append(out, component{nodes: scc})
				}
			}
		}
	}
	for _, e := range edges {
		if c := comp[e.earlier]; !e.dropped && c != 0 && comp[e.later] == c {
			out[c-1].edges = append(out[c-1].edges, e)
		}
	}
	return out
}

// component is a strongly connected component: its nodes and the edges between them.
type component struct {
	nodes []*node
	edges []*relEdge
}

// orderLess is a node's place when nothing but priority decides: group, priority (none
// counts as earliest: such a node goes as soon as its relations allow), then the name
// compared bytewise, as the C locale does: the name of the S link after its S##, as rc's
// glob sorted them (S55a before S55a-b, although "a-b.service" < "a.service"), else the
// unit name without .service; the unit name last, so that the order is total.
func orderLess(a, b *node) bool {
	if a.group != b.group {
		return a.group < b.group
	}
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	if ka, kb := a.sortName(), b.sortName(); ka != kb {
		return ka < kb
	}
	return a.u.Unit < b.u.Unit
}

// sortName is the name rc compared at equal priority.
func (n *node) sortName() string {
	if len(n.rcName) > 3 {
		return n.rcName[3:]
	}
	return strings.TrimSuffix(n.u.Unit, ".service")
}

type nodeHeap []*node

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return orderLess(h[i], h[j]) }
func (h nodeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)        { *h = append(*h, x.(*node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

// startOrder sorts the nodes topologically by the explicit edges, taking the lowest
// (group, priority, name) among the nodes free to go.
func (p *planner) startOrder() []*node {
	indeg := map[*node]int{}
	succ := map[*node][]*node{}
	for _, e := range p.edges {
		if !e.dropped {
			indeg[e.later]++
			succ[e.earlier] = append(succ[e.earlier], e.later)
		}
	}
	h := &nodeHeap{}
	for _, n := range p.nodes {
		if indeg[n] == 0 {
			*h = append(*h, n)
		}
	}
	heap.Init(h)
	order := make([]*node, 0, len(p.nodes))
	for h.Len() > 0 {
		n := heap.Pop(h).(*node)
		n.pos = len(order)
		order = append(order, n)
		for _, s := range succ[n] {
			if indeg[s]--; indeg[s] == 0 {
				heap.Push(h, s)
			}
		}
	}
	if len(order) != len(p.nodes) {
		panic("bootorder: a cycle survived breakCycles") // breakCycles leaves none
	}
	return order
}

// warnContradictions says where an explicit relation overrides the priority order of
// two units that start in a common runlevel. In drop-ins mode that holds only where
// systemd-sysv-generator does not order the two by priority itself: where it does, its
// edge and the relation form a cycle that no drop-in can undo.
func (p *planner) warnContradictions() {
	for _, e := range p.edges {
		a, b := e.earlier, e.later
		if e.dropped || a.prio < 0 || b.prio < 0 || a.levels&b.levels == 0 || a.group != b.group || !orderLess(b, a) {
			continue
		}
		how := fmt.Sprintf("priority %d comes before %d", b.prio, a.prio)
		if a.prio == b.prio {
			how = fmt.Sprintf("at equal priority %d, rc ran %s first by name", a.prio, b.u.Unit)
		}
		if p.mode == ModeDropIns {
			if bare := sysvPriorityOrdered(a, b); bare != nil {
				p.warn(e.reason.Path, e.reason.Line, "%s orders %s after %s against their priorities (%s), and the contradiction remains: systemd-sysv-generator orders the two by priority too, as %s has no LSB header, so systemd finds an ordering cycle at boot and breaks it by deleting a start job; fix the header or the priority so that they agree",
					e.reason.Why, b.u.Unit, a.u.Unit, how, strings.Join(bare, " and "))
				continue
			}
		}
		p.warn(e.reason.Path, e.reason.Line, "%s orders %s after %s against their priorities (%s); the explicit relation wins",
			e.reason.Why, b.u.Unit, a.u.Unit, how)
	}
}

// sysvPriorityOrdered returns the scripts of a and b that have no LSB header (their
// units), when systemd-sysv-generator orders a and b by priority: both are scripts it
// wraps (no native unit replaces them), both have a priority from their S links (it
// reads none from headers), the priorities differ (it never orders equal ones), and at
// least one of the two has no LSB block. Otherwise nil.
func sysvPriorityOrdered(a, b *node) []string {
	if a.script == nil || b.script == nil || a.u.Shadowed || b.u.Shadowed || !a.rcLinked || !b.rcLinked || a.prio == b.prio {
		return nil
	}
	var bare []string
	for _, n := range []*node{a, b} {
		if n.script.Header.LSB == nil {
			bare = append(bare, n.u.Unit)
		}
	}
	return bare
}

func (p *planner) addExplicitEdges() {
	for _, e := range p.edges {
		if e.dropped {
			continue
		}
		r := e.reason
		if !e.later.ghost {
			r.Fact = "after " + e.earlier.u.Unit
			p.addAfter(e.later, e.earlier, r)
		}
		if !e.earlier.ghost {
			r.Fact = "before " + e.later.u.Unit
			p.addBefore(e.earlier, e.later, r)
		}
	}
}

func (p *planner) addAfter(later, earlier *node, r Reason) {
	if _, ok := later.after[earlier.u.Unit]; !ok {
		later.after[earlier.u.Unit] = r
	} else {
		later.extraWhy = append(later.extraWhy, r)
	}
}

func (p *planner) addBefore(earlier, later *node, r Reason) {
	if _, ok := earlier.before[later.u.Unit]; !ok {
		earlier.before[later.u.Unit] = r
	} else {
		earlier.extraWhy = append(earlier.extraWhy, r)
	}
}

// addChains orders each node after its nearest predecessor in every target it starts in.
func (p *planner) addChains(order []*node) {
	type pair struct{ earlier, later *node }
	var pairs []pair
	targets := map[pair][]string{}
	for _, c := range chainTargets {
		var prev *node
		for _, n := range order {
			if n.levels&c.levels == 0 || !n.ordered() || n.group == groupRCLocal {
				continue
			}
			if prev != nil {
				k := pair{prev, n}
				if _, seen := targets[k]; !seen {
					pairs = append(pairs, k)
				}
				targets[k] = append(targets[k], c.target)
			}
			prev = n
		}
	}
	for _, k := range pairs {
		in := strings.Join(targets[k], ", ")
		later, earlier := k.later, k.earlier
		if later.group == groupAll && earlier.group != groupAll {
			r := *later.allWhy
			r.Fact = "after " + earlier.u.Unit
			r.Why += fmt.Sprintf(": %s is the last other unit in %s", earlier.u.Unit, in)
			p.addAfter(later, earlier, r)
			r.Fact = "before " + later.u.Unit
			p.addBefore(earlier, later, r)
			continue
		}
		at := later.prioWhy
		if at == nil {
			at = later.allWhy
		}
		afterWhy := fmt.Sprintf("%s (%s) is the nearest lower position in %s", earlier.u.Unit, prioText(earlier), in)
		beforeWhy := fmt.Sprintf("%s (%s) is the nearest higher position in %s", later.u.Unit, prioText(later), in)
		if tie := tieText(earlier, later); tie != "" {
			afterWhy = fmt.Sprintf("same priority %d as %s; %s, in %s", earlier.prio, earlier.u.Unit, tie, in)
			beforeWhy = fmt.Sprintf("same priority %d as %s; %s, in %s", later.prio, later.u.Unit, tie, in)
		}
		p.addAfter(later, earlier, Reason{Fact: "after " + earlier.u.Unit, Path: at.Path, Line: at.Line, Why: afterWhy})
		at = earlier.prioWhy
		if at == nil {
			at = earlier.allWhy
		}
		p.addBefore(earlier, later, Reason{Fact: "before " + later.u.Unit, Path: at.Path, Line: at.Line, Why: beforeWhy})
	}
	// A $all unit also comes after the enabled units that have no priority (and so no
	// chain position) and start in a target it starts in: in each target, the nearest
	// $all unit after such a unit is ordered after it, and the $all units after that one
	// follow it in the chain. (Every $all unit after every such unit made n² edges.)
	type allPair struct{ all, m *node }
	done := map[allPair]bool{}
	for _, c := range chainTargets {
		var nextAll *node
		for i := len(order) - 1; i >= 0; i-- {
			m := order[i]
			if m.levels&c.levels == 0 {
				continue
			}
			switch {
			case m.group == groupAll:
				nextAll = m
			case m.group == groupNormal && !m.ordered() && nextAll != nil && !done[allPair{nextAll, m}]:
				done[allPair{nextAll, m}] = true
				r := *nextAll.allWhy
				r.Fact = "after " + m.u.Unit
				p.addAfter(nextAll, m, r)
				r.Fact = "before " + nextAll.u.Unit
				p.addBefore(m, nextAll, r)
			}
		}
	}
}

// tieText says why earlier comes before later at the same priority ("" when the
// priorities differ): rc ran S links of equal priority in the order of their names.
func tieText(earlier, later *node) string {
	if earlier.prio < 0 || earlier.prio != later.prio || earlier.group != later.group {
		return ""
	}
	if earlier.rcName == "" || later.rcName == "" {
		// A native unit with a Priority= rule has no S link to compare.
		return fmt.Sprintf("at equal priority hostkit goes by name, as rc did: %s before %s", earlier.sortName(), later.sortName())
	}
	verb := "rc ran"
	if !earlier.rcLinked || !later.rcLinked {
		verb = "rc would run" // a chkconfig: header without links: what chkconfig --add links
	}
	return fmt.Sprintf("%s %s before %s (name order)", verb, earlier.rcName, later.rcName)
}

func prioText(n *node) string {
	switch {
	case n.group == groupAll:
		return "Required-Start: $all"
	case n.prio >= 0:
		return fmt.Sprintf("priority %d", n.prio)
	}
	return "no priority"
}

// addRCLocalEdges orders rc-local.service after every SysV unit that starts in
// runlevels 2-5, as S99local ran after every other S link.
func (p *planner) addRCLocalEdges(order []*node) {
	rc := p.rc
	if rc == nil {
		return
	}
	for _, n := range order[:rc.pos] {
		if !n.sysv || n.levels&multiUserLevels == 0 {
			continue
		}
		r := Reason{Fact: "after " + n.u.Unit, Path: rc.u.Source, Why: "rc.local runs after every SysV unit, as S99local did"}
		p.addAfter(rc, n, r)
		r.Fact = "before rc-local.service"
		p.addBefore(n, rc, r)
	}
}

func (p *planner) result(order []*node, mode string) *Plan {
	plan := &Plan{Mode: mode, Units: make([]Unit, 0, len(p.byUnit)), Warnings: p.warnings}
	for _, n := range order {
		if n.ghost {
			continue
		}
		u := n.u
		u.Targets = n.levels.Targets()
		if n == p.rc {
			u.Targets = []string{"multi-user.target"} // as systemd's rc-local.service
		}
		u.After = sortedKeys(n.after)
		u.Before = sortedKeys(n.before)
		if len(n.wants) > 0 {
			u.Wants = sortedKeys(n.wants)
		}
		u.Why = []Reason{}
		if n.prioWhy != nil {
			u.Why = append(u.Why, *n.prioWhy)
		}
		u.Why = append(u.Why, p.reasons[n]...)
		for _, list := range []struct {
			m    map[string]Reason
			keys []string
		}{{n.after, u.After}, {n.before, u.Before}, {n.wants, u.Wants}} {
			for _, k := range list.keys {
				u.Why = append(u.Why, list.m[k])
			}
		}
		u.Why = append(u.Why, n.extraWhy...)
		plan.Units = append(plan.Units, u)
	}
	if plan.Warnings == nil {
		plan.Warnings = []Warning{}
	}
	sort.SliceStable(plan.Warnings, func(i, j int) bool {
		a, b := plan.Warnings[i], plan.Warnings[j]
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Message, b.Message)) < 0
	})
	plan.Warnings = capWarnings(slices.Compact(plan.Warnings))
	return plan
}

// capWarnings keeps the first maxWarningsPerFile warnings about each file of ws (sorted
// by path) and says how many more there were, as ParseHeader does for one script: 55,000
// copies of one bad line, or a cycle through thousands of scripts, say nothing new after
// the first few, and the generator logs every warning at boot.
func capWarnings(ws []Warning) []Warning {
	out := ws[:0:0]
	for i := 0; i < len(ws); {
		j := i
		for j < len(ws) && ws[j].Path == ws[i].Path {
			j++
		}
		out = append(out, ws[i:min(j, i+maxWarningsPerFile)]...)
		if n := j - i - maxWarningsPerFile; n > 0 {
			out = append(out, Warning{Path: ws[i].Path, Message: fmt.Sprintf("%d more warnings about this file not shown", n)})
		}
		i = j
	}
	return out
}

func sortedKeys(m map[string]Reason) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptr(v int) *int { return &v }

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return p
}

func linkText(l Link) string { return fmt.Sprintf("S%02d in %s", l.Priority, dirOf(l.Path)) }

func linkDirs(starts map[int]Link) string {
	var dirs []string
	for _, level := range []int{RunlevelS, 1, 2, 3, 4, 5} {
		if l, ok := starts[level]; ok {
			dirs = append(dirs, dirOf(l.Path))
		}
	}
	return strings.Join(dirs, " ")
}

func chkText(c *Chkconfig) string {
	s := fmt.Sprintf("chkconfig: %s", c.Runlevels)
	for _, v := range []int{c.Start, c.Stop} {
		if v >= 0 {
			s += fmt.Sprintf(" %d", v)
		}
	}
	return s
}

// Edge is one ordering of a plan: Later starts after Earlier is up.
type Edge struct {
	Earlier string `json:"earlier"`
	Later   string `json:"later"`
}

// EdgeList returns every ordering of the plan once, whether a unit lists it in After
// (Later's) or Before (Earlier's) or both, sorted by Later then Earlier. The verifier
// checks these, and a writer writes each once.
func (p *Plan) EdgeList() []Edge {
	seen := map[Edge]bool{}
	var out []Edge
	add := func(e Edge) {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for _, u := range p.Units {
		for _, a := range u.After {
			add(Edge{Earlier: a, Later: u.Unit})
		}
		for _, b := range u.Before {
			add(Edge{Earlier: u.Unit, Later: b})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return cmp.Or(cmp.Compare(out[i].Later, out[j].Later), cmp.Compare(out[i].Earlier, out[j].Earlier)) < 0
	})
	return out
}

// Edges returns the number of orderings in the plan, each "A after B" counted once
// although both A's After and B's Before list it.
func (p *Plan) Edges() int { return len(p.EdgeList()) }

// Find returns the plan's unit named unit, or nil when the plan has none.
func (p *Plan) Find(unit string) *Unit {
	for i := range p.Units {
		if p.Units[i].Unit == unit {
			return &p.Units[i]
		}
	}
	return nil
}
