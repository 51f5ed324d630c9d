package bootorder

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// DropInName is the file name of every drop-in Generate writes, in <unit>.d/ of the
// normal generator directory. The 50- prefix leaves room for an admin's drop-ins to sort
// before or after it.
const DropInName = "50-hostkit-bootorder.conf"

// ErrUnitSkipped is wrapped by each part of Generate's error that reports a unit, edge
// or value left out because systemd would reject or misread it (a name that is not a
// unit name, a path with spaces or control characters). Everything else was written;
// the generator logs these and carries on.
var ErrUnitSkipped = errors.New("left out of the generated units")

// Stats says what Generate wrote.
type Stats struct {
	Files int   // unit files, drop-ins and .wants symlinks
	Bytes int64 // bytes in the unit files and drop-ins
	// Edges counts the unit names written on After= and Before= lines: each is one
	// ordering edge systemd loads. Wants= is not counted.
	Edges int
}

// Generate writes p for systemd into a generator's output directories (see
// systemd.generator(7)); it is what hostkit-bootorder-generator runs at every boot and
// daemon-reload. Output is sorted, so the same plan always gives the same bytes.
//
// ModeDropIns (systemd-sysv-generator writes the units): for every unit with ordering,
// normalDir/<unit>.d/50-hostkit-bootorder.conf with After=, Before= and Wants= lines and
// a comment per edge saying why. The drop-ins add to what systemd-sysv-generator writes
// into the late directory, and apply as well to the native unit that shadows a script.
//
// ModeWrappers (no systemd-sysv-generator): a complete service in lateDir for every SysV
// script that no native unit shadows, wanted by its Targets through lateDir/<target>.wants
// symlinks, and an rc-local.service for rc.local wanted by multi-user.target. The late
// directory is the lowest-priority one, so real units in /etc and /usr win, as they do
// over systemd-sysv-generator's. Ordering of units hostkit does not write in full
// (native and shadowed units) goes into drop-ins in normalDir as in ModeDropIns.
//
// A script of runlevel S (a SysV unit the plan's Targets put in sysinit.target, not
// shadowed) gets DefaultDependencies=no and Conflicts=shutdown.target in its unit or
// drop-in, as it starts before basic.target, and in both modes a
// lateDir/sysinit.target.wants link (in drop-ins mode to the unit systemd-sysv-generator
// writes there, which does not read rcS.d).
//
// The edges written are exactly the plan's, whatever the mode: Generate adds none of its
// own. rc-local.service's (after the SysV units of runlevels 2-5, as S99local ran last)
// are always in a drop-in, because on systemd before 260 a packaged rc-local.service
// replaces the late one and a drop-in applies to whichever loads.
//
// Each edge of the plan is written once: as After= on the later unit when the plan has
// it, otherwise as Before= on the earlier one. An edge listed on both of its units (A
// before B, B after A) is the same edge.
//
// The error wraps ErrUnitSkipped (one part per problem, naming the unit and its source)
// when parts were left out and everything else was written. Any other error means a
// directory or file could not be written, names it, and ends the generation; the
// directories may then hold part of the output. An unknown p.Mode is an error before
// anything is written.
func Generate(p *Plan, normalDir, lateDir string) (Stats, error) {
	if p.Mode != ModeDropIns && p.Mode != ModeWrappers {
		return Stats{}, fmt.Errorf("plan mode %q: want %q or %q", p.Mode, ModeDropIns, ModeWrappers)
	}
	g := newGeneration(p)
	w := &genWriter{}
	for _, name := range g.order {
		c := g.carriers[name]
		if c.full {
			g.writeFull(w, c, lateDir)
		} else if c.early {
			// systemd-sysv-generator wrote the unit into lateDir but does not read
			// rcS.d, so nothing enables it: enable it beside its unit.
			w.link(filepath.Join(lateDir, "sysinit.target.wants", c.u.Unit), "../"+c.u.Unit)
		}
		g.writeDropIn(w, c, normalDir)
	}
	if err := w.flush(normalDir, lateDir); err != nil {
		return w.stats, err
	}
	return w.stats, errors.Join(g.skipped...)
}

// genCarrier is one unit of the plan and the lines that will be written for it.
type genCarrier struct {
	u *Unit
	// full: a complete unit goes into the late directory (ModeWrappers, not shadowed).
	full bool
	// dropInOrdering: the ordering goes into a drop-in even though the unit is written
	// in full (rc-local.service, which a packaged unit may replace).
	dropInOrdering bool
	// early: a script of runlevel S (wanted by sysinit.target), which starts before
	// basic.target and so without systemd's default dependencies.
	early bool
	// after, before and wants map a unit name to the reason written beside it ("" when
	// the plan records none).
	after, before, wants map[string]string
}

// inDropIn says whether the ordering lines of c go into a drop-in.
func (c *genCarrier) inDropIn() bool { return !c.full || c.dropInOrdering }

// generation is one run of Generate: the plan's units by name, each with the lines it
// will carry, and the parts left out.
type generation struct {
	p        *Plan
	carriers map[string]*genCarrier
	order    []string // carrier names, sorted
	facts    map[string]map[string]Reason
	skipped  []error
}

// newGeneration validates p's units, decides which are written in full, and hands each
// edge and Wants= of the plan to the unit whose file will carry it.
func newGeneration(p *Plan) *generation {
	g := &generation{p: p, carriers: map[string]*genCarrier{}, facts: map[string]map[string]Reason{}}
	for i := range p.Units {
		u := &p.Units[i]
		if !isUnitName(u.Unit) {
			g.skip(u, "%q is not a valid unit name", u.Unit)
			continue
		}
		if _, dup := g.carriers[u.Unit]; dup {
			g.skip(u, "listed twice in the plan; the first one is written")
			continue
		}
		c := &genCarrier{u: u, after: map[string]string{}, before: map[string]string{}, wants: map[string]string{},
			early: u.Kind == KindSysV && !u.Shadowed && slices.Contains(u.Targets, "sysinit.target")}
		if p.Mode == ModeWrappers && !u.Shadowed && (u.Kind == KindSysV || u.Kind == KindRCLocal) {
			switch {
			case !strings.HasSuffix(u.Unit, ".service"):
				g.skip(u, "a %s script must become a .service unit", u.Kind)
				continue
			case !genValidPath(u.Source):
				g.skip(u, "source path %q cannot be written as ExecStart= (it must be absolute and clean, without spaces, quotes, backslashes or control characters)", u.Source)
				continue
			}
			c.full = true
			c.dropInOrdering = u.Kind == KindRCLocal
		}
		g.carriers[u.Unit] = c
		g.order = append(g.order, u.Unit)
	}
	sort.Strings(g.order)

	for _, name := range g.order {
		c := g.carriers[name]
		for _, a := range c.u.After {
			g.addEdge(c.u, a, name)
		}
		for _, b := range c.u.Before {
			g.addEdge(c.u, name, b)
		}
		for _, w := range c.u.Wants {
			if !isUnitName(w) {
				g.skip(c.u, "Wants=%q: not a valid unit name", w)
				continue
			}
			c.wants[w] = g.why(c.u, "wants "+w)
		}
	}
	// rc-local.service gets the edges the plan gives it and no others: the planner
	// decides which SysV units it follows (those that start in runlevels 2-5), and the
	// units written must order exactly what the plan says and Verify checks.
	return g
}

// addEdge records that first starts before second; from is the unit whose plan entry
// named the edge, for error messages.
func (g *generation) addEdge(from *Unit, first, second string) {
	for _, n := range []string{first, second} {
		if !isUnitName(n) {
			g.skip(from, "ordering with %q: not a valid unit name", n)
			return
		}
	}
	if first == second {
		g.skip(from, "ordered after itself")
		return
	}
	if c, ok := g.carriers[second]; ok {
		if _, seen := c.after[first]; !seen || c.after[first] == "" {
			c.after[first] = g.edgeWhy(first, second)
		}
		return
	}
	c := g.carriers[first] // from is first or second, and second is not in the plan
	if _, seen := c.before[second]; !seen || c.before[second] == "" {
		c.before[second] = g.edgeWhy(first, second)
	}
}

// edgeWhy finds the reason the plan records for "first before second", on either unit.
// The note goes beside the line on second (After=) when second is in the plan, else
// beside the Before= line on first; a reason borrowed from the other unit says whose.
func (g *generation) edgeWhy(first, second string) string {
	fc, firstIn := g.carriers[first]
	sc, secondIn := g.carriers[second]
	if !secondIn {
		return g.why(fc.u, "before "+second)
	}
	if why := g.why(sc.u, "after "+first); why != "" {
		return why
	}
	if firstIn {
		if why := g.why(fc.u, "before "+second); why != "" {
			return "per " + first + ", " + why
		}
	}
	return ""
}

// why renders the reason u records for fact, or "" when it records none.
func (g *generation) why(u *Unit, fact string) string {
	facts, ok := g.facts[u.Unit]
	if !ok {
		facts = map[string]Reason{}
		for _, r := range u.Why {
			if _, dup := facts[r.Fact]; !dup {
				facts[r.Fact] = r
			}
		}
		g.facts[u.Unit] = facts
	}
	r, ok := facts[fact]
	if !ok {
		return ""
	}
	// Rendered as Explain and Verify render reasons; made safe for a comment line.
	return genOneLine(formatReason(r), 160)
}

// skip records that part of u is left out, naming u and its source.
func (g *generation) skip(u *Unit, format string, args ...any) {
	where := u.Unit
	if u.Source != "" {
		where += " (" + genOneLine(u.Source, 200) + ")"
	}
	g.skipped = append(g.skipped, fmt.Errorf("%s: %s: %w", where, fmt.Sprintf(format, args...), ErrUnitSkipped))
}

// writeDropIn writes c's ordering and wants as a drop-in, when c has any that belongs
// in one.
func (g *generation) writeDropIn(w *genWriter, c *genCarrier, normalDir string) {
	var body bytes.Buffer
	if c.early && !c.full {
		body.WriteString(earlySettings)
	}
	if c.inDropIn() {
		w.list(&body, "After", c.after)
		w.list(&body, "Before", c.before)
	}
	if !c.full {
		w.list(&body, "Wants", c.wants)
	}
	if body.Len() == 0 {
		return
	}
	var b bytes.Buffer
	b.WriteString("# Generated by hostkit-bootorder-generator; see hostkit-bootorder(8).\n")
	fmt.Fprintf(&b, "# Ordering hostkit adds to %s", c.u.Unit)
	if c.u.Source != "" {
		fmt.Fprintf(&b, " (from %s)", genOneLine(c.u.Source, 200))
	}
	b.WriteString(".\n")
	genNotes(&b, c, c.inDropIn(), !c.full)
	b.WriteString("\n[Unit]\n")
	b.Write(body.Bytes())
	w.file(filepath.Join(normalDir, c.u.Unit+".d", DropInName), b.Bytes())
}

// writeFull writes the complete unit for a SysV script or rc.local into lateDir and the
// .wants symlinks that enable it, one per target of the plan (rc-local.service's is
// multi-user.target, which the planner gives it).
func (g *generation) writeFull(w *genWriter, c *genCarrier, lateDir string) {
	u := c.u
	src := genValue(u.Source)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated by hostkit-bootorder-generator from %s; see hostkit-bootorder(8).\n", u.Source)
	if u.Kind == KindRCLocal {
		b.WriteString("# Its ordering (after the SysV units, as the plan says) is in " + u.Unit + ".d/" + DropInName + ",\n" +
			"# which applies as well when a packaged " + u.Unit + " replaces this one.\n")
		genNotes(&b, c, false, true)
		b.WriteString("\n[Unit]\n")
		fmt.Fprintf(&b, "Description=%s Compatibility\n", src)
		fmt.Fprintf(&b, "Documentation=file:%s\n", src)
		fmt.Fprintf(&b, "SourcePath=%s\n", src)
		fmt.Fprintf(&b, "ConditionFileIsExecutable=%s\n", src)
		w.list(&b, "Wants", c.wants)
		b.WriteString("\n[Service]\nType=forking\n")
		fmt.Fprintf(&b, "ExecStart=%s start\n", src)
		b.WriteString("TimeoutSec=0\nRemainAfterExit=yes\nGuessMainPID=no\n")
	} else {
		genNotes(&b, c, true, true)
		b.WriteString("\n[Unit]\n")
		if c.early {
			b.WriteString(earlySettings)
		}
		fmt.Fprintf(&b, "Documentation=file:%s\n", src)
		fmt.Fprintf(&b, "SourcePath=%s\n", src)
		fmt.Fprintf(&b, "Description=%s\n", genDescription(u))
		w.list(&b, "After", c.after)
		w.list(&b, "Before", c.before)
		w.list(&b, "Wants", c.wants)
		// The settings systemd-sysv-generator used, so that a script behaves the same
		// whichever of the two wrapped it: LSB exit codes 5 (not installed) and 6 (not
		// configured) are not failures, and the service stays "active" after the script
		// returns because a SysV service has no main process systemd can track reliably.
		b.WriteString("\n[Service]\nType=forking\nRestart=no\nTimeoutSec=5min\nIgnoreSIGPIPE=no\n" +
			"KillMode=process\nGuessMainPID=no\nRemainAfterExit=yes\nSuccessExitStatus=5 6\n")
		if pid := genPIDFile(u.PIDFile); pid != "" {
			fmt.Fprintf(&b, "PIDFile=%s\n", genValue(pid))
		} else if u.PIDFile != "" {
			g.skip(u, "PIDFile %q: not an absolute clean path without spaces or control characters", u.PIDFile)
		}
		fmt.Fprintf(&b, "ExecStart=%s start\n", src)
		fmt.Fprintf(&b, "ExecStop=%s stop\n", src)
		if u.Reload {
			fmt.Fprintf(&b, "ExecReload=%s reload\n", src)
		}
	}
	w.file(filepath.Join(lateDir, u.Unit), b.Bytes())
	for _, t := range slices.Compact(slices.Sorted(slices.Values(u.Targets))) {
		if !isUnitName(t) {
			g.skip(u, "target %q: not a valid unit name", t)
			continue
		}
		// Relative, as systemd's generators write them, so the link stays valid when
		// the directory is looked at under another root.
		w.link(filepath.Join(lateDir, t+".wants", u.Unit), "../"+u.Unit)
	}
}

// earlySettings are the [Unit] settings of a script of runlevel S, which the plan orders
// after sysinit.target and before basic.target and shutdown.target: systemd's default
// dependencies (after basic.target) would contradict that, and the stop at shutdown
// they give is kept by hand.
const earlySettings = "DefaultDependencies=no\nConflicts=shutdown.target\n"

// genNotes writes one comment line per distinct reason for c's ordering (when edges)
// and wants (when wants), naming the units it concerns. Edges that share a reason
// (rc.local's ordering after every script) share a line, so the comments stay as short
// as the lines they explain.
func genNotes(b *bytes.Buffer, c *genCarrier, edges, wants bool) {
	groups := []struct {
		verb  string
		names map[string]string
		on    bool
	}{{"after", c.after, edges}, {"before", c.before, edges}, {"wants", c.wants, wants}}
	for _, grp := range groups {
		if !grp.on {
			continue
		}
		var whys []string
		byWhy := map[string][]string{}
		for _, name := range slices.Sorted(maps.Keys(grp.names)) {
			why := grp.names[name]
			if why == "" {
				continue
			}
			if _, ok := byWhy[why]; !ok {
				whys = append(whys, why)
			}
			byWhy[why] = append(byWhy[why], name)
		}
		for _, why := range whys {
			names := byWhy[why]
			list := strings.Join(names, " ")
			if len(names) > 3 {
				list = fmt.Sprintf("%s and %d more", strings.Join(names[:3], " "), len(names)-3)
			}
			fmt.Fprintf(b, "# %s %s: %s\n", grp.verb, list, why)
		}
	}
}

// genDescription is the script's own description, or "SYSV: name" as
// systemd-sysv-generator writes for a script without one.
func genDescription(u *Unit) string {
	if d := genOneLine(u.Description, 200); d != "" {
		return genValue(d)
	}
	return "SYSV: " + strings.TrimSuffix(u.Unit, ".service")
}

// genPIDFile returns p as PIDFile= should carry it: /var/run/ becomes /run/, which is
// what systemd would otherwise do itself with a notice at every daemon-reload; "" when
// p is empty or not usable.
func genPIDFile(p string) string {
	if !genValidPath(p) {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "/var/run/"); ok {
		return "/run/" + rest
	}
	return p
}

// genWriter collects the files and links of a generation, counts them, and writes them
// all at the end. Generation is mostly file system calls (a thousand scripts make a
// thousand units and two thousand links), so they are spread over a few goroutines:
// on tmpfs, where /run is, that is what a generator's time goes to.
type genWriter struct {
	stats Stats
	ops   []genOp
}

// genOp is one file or symlink to write.
type genOp struct {
	path   string
	data   []byte // of a file
	target string // of a symlink
	isLink bool
	mkdir  bool // create the directory of path first: it holds only this file
}

// list writes key=names for the sorted keys of names, several names to a line but no
// line much longer than 200 bytes (systemd reads lines of any sane length; short ones
// keep the units readable and diffable). After= and Before= names count as edges.
func (w *genWriter) list(b *bytes.Buffer, key string, names map[string]string) {
	if len(names) == 0 {
		return
	}
	line := 0
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if line > 0 && line+1+len(n) > 200 {
			b.WriteByte('\n')
			line = 0
		}
		if line == 0 {
			b.WriteString(key)
			b.WriteByte('=')
			line = len(key) + 1
		} else {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(n)
		line += len(n)
		if key == "After" || key == "Before" {
			w.stats.Edges++
		}
	}
	b.WriteByte('\n')
}

// file queues a file to write.
func (w *genWriter) file(path string, data []byte) {
	w.ops = append(w.ops, genOp{path: path, data: data})
	w.stats.Files++
	w.stats.Bytes += int64(len(data))
}

// link queues a symlink to make.
func (w *genWriter) link(path, target string) {
	w.ops = append(w.ops, genOp{path: path, target: target, isLink: true})
	w.stats.Files++
}

// flush writes everything collected. Directories that hold several files, and the
// parents of the rest, are made first, in order; a directory that holds one file (the
// <unit>.d of a drop-in) is made by whoever writes that file. The error is the first,
// in the order the files were collected, so that it does not depend on scheduling; it
// names the path.
func (w *genWriter) flush(roots ...string) error {
	perDir := map[string]int{}
	for _, op := range w.ops {
		perDir[filepath.Dir(op.path)]++
	}
	isRoot := map[string]bool{}
	for _, r := range roots {
		isRoot[filepath.Clean(r)] = true
	}
	var first []string
	for _, dir := range slices.Sorted(maps.Keys(perDir)) {
		if perDir[dir] == 1 && isRoot[filepath.Dir(dir)] {
			first = append(first, filepath.Dir(dir))
			continue
		}
		first = append(first, dir)
	}
	for _, dir := range slices.Compact(first) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create generator output directory: %w", err)
		}
	}
	for i := range w.ops {
		dir := filepath.Dir(w.ops[i].path)
		w.ops[i].mkdir = perDir[dir] == 1 && isRoot[filepath.Dir(dir)]
	}

	// Writes are independent; parallel re-raises a worker's panic here, where the
	// generator logs it. After a failure the rest are skipped: the run fails anyway.
	errs := make([]error, len(w.ops))
	var failed atomic.Bool
	parallel(len(w.ops), func(i int) {
		if failed.Load() {
			return
		}
		if errs[i] = w.ops[i].write(); errs[i] != nil {
			failed.Store(true)
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// write makes one file or link. A link replaces whatever a previous run into the same
// directory left (systemd gives generators empty directories; people running the
// generator by hand may not). Files are written with plain system calls, without the
// os.File machinery, which costs a quarter more per file; O_NOFOLLOW keeps a symlink
// left in the directory from redirecting the write.
func (op *genOp) write() error {
	if op.mkdir {
		if err := unix.Mkdir(filepath.Dir(op.path), 0o755); err != nil && err != unix.EEXIST {
			return fmt.Errorf("create generator output directory: %w", &fs.PathError{Op: "mkdir", Path: filepath.Dir(op.path), Err: err})
		}
	}
	if op.isLink {
		err := os.Symlink(op.target, op.path)
		if errors.Is(err, fs.ErrExist) {
			if err = os.Remove(op.path); err == nil {
				err = os.Symlink(op.target, op.path)
			}
		}
		if err != nil {
			return fmt.Errorf("enable unit: %w", err)
		}
		return nil
	}
	fd, err := unix.Open(op.path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	for err == unix.EINTR {
		fd, err = unix.Open(op.path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write unit: %w", &fs.PathError{Op: "open", Path: op.path, Err: err})
	}
	for data := op.data; len(data) > 0; {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("write unit: %w", &fs.PathError{Op: "write", Path: op.path, Err: err})
		}
		data = data[n:]
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("write unit: %w", &fs.PathError{Op: "close", Path: op.path, Err: err})
	}
	return nil
}

// genValidPath reports whether p can be written unquoted as the command of ExecStart=
// and as SourcePath= and Documentation=file:: absolute, clean, valid UTF-8, without
// white space, quotes, backslashes or control characters.
func genValidPath(p string) bool {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || len(p) >= 4096 || !utf8.ValidString(p) {
		return false
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '\\' || r == 0x85 || r == 0xa0 {
			return false
		}
	}
	return true
}

// genCleanLine reports whether genOneLine would return s unchanged: printable ASCII,
// no double, leading or trailing space, no trailing backslash, at most max bytes.
func genCleanLine(s string, max int) bool {
	if len(s) > max || s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || s[len(s)-1] == '\\' {
		return s == ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || c == ' ' && s[i+1] == ' ' {
			return false
		}
	}
	return true
}

// genValue escapes s for a unit file value: '%' starts a specifier in most settings.
func genValue(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// genOneLine makes text from a script safe for one line of a unit file: control
// characters become spaces (a newline would start a new setting), runs of space shrink
// to one, a trailing backslash (a line continuation) goes, and at most max bytes remain.
func genOneLine(s string, max int) string {
	if genCleanLine(s, max) {
		return s // the common case, without allocating
	}
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == ' ' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > max {
		cut := max - 3
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "..."
	}
	return strings.TrimRight(out, "\\ ")
}
