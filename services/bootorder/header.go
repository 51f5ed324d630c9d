package bootorder

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Header is what an init script says about itself in its comments: the Red Hat style
// `# chkconfig:`, `# description:` and `# pidfile:` lines, the LSB block between
// `### BEGIN INIT INFO` and `### END INIT INFO`, and whether its case statement has a
// reload verb.
type Header struct {
	Chkconfig *Chkconfig // nil when the script has no usable chkconfig line
	LSB       *LSB       // nil when the script has no LSB block

	// Description is the chkconfig-style description, backslash continuations joined.
	Description     string
	DescriptionLine int
	// PIDFile is the absolute path of the `# pidfile:` line.
	PIDFile     string
	PIDFileLine int
	// Reload is true when a case arm handles "reload" (`reload)`, `'reload')`,
	// `start|reload)`), the sign that `script reload` does something other than fail.
	Reload     bool
	ReloadLine int
}

// Chkconfig is a `# chkconfig: RUNLEVELS START STOP` line.
type Chkconfig struct {
	Line      int
	Runlevels Runlevels // the runlevels `chkconfig --add` enables; 0 for "-"
	Start     int       // start priority 0-99; -1 when missing or unusable
	Stop      int       // stop priority 0-99; -1 when missing or unusable
}

// LSB is an LSB comment block (see the LSB Core specification, "Comment Conventions for
// Init Scripts"). Only the keys that order starting are kept; the stop keys have no
// meaning under systemd, which stops in reverse start order.
type LSB struct {
	Line int // the ### BEGIN INIT INFO line
	// End is the ### END INIT INFO line; 0 when the block has none and was taken to end
	// at its first line that is not a comment.
	End int
	// EndNote says how an END line that is not exactly "### END INIT INFO" was read
	// ("### END INIT INFO#", as syslog-ng's has it, ends the block as insserv reads it);
	// "" for an exact one.
	EndNote string

	Provides      Names
	RequiredStart Names
	ShouldStart   Names
	StartBefore   Names // X-Start-Before
	// StartAfter is X-Start-After: ordering only (After=), as Should-Start, which is how
	// systemd-sysv-generator reads it.
	StartAfter Names

	DefaultStart     Runlevels
	DefaultStartLine int // 0 when the block has no Default-Start

	ShortDescription string
	Description      string
}

// Names is one LSB key's list of script names and $facilities, with its line.
type Names struct {
	Line  int
	Names []string
}

// Runlevels is a set of SysV runlevels 0-6, bit N for runlevel N, and Debian's boot
// runlevel S (rcS.d), bit RunlevelS.
type Runlevels uint8

// RunlevelS is the bit of Debian's boot runlevel S, whose scripts (linked in /etc/rcS.d,
// or Default-Start: S) ran once at boot before those of the runlevel entered.
const RunlevelS = 7

// Has reports whether runlevel n (0-6, or RunlevelS) is in the set.
func (r Runlevels) Has(n int) bool { return (n >= 0 && n <= 6 || n == RunlevelS) && r&(1<<n) != 0 }

// String returns the runlevels as chkconfig writes them ("2345"), with S last ("S" for
// boot only), or "-" for none.
func (r Runlevels) String() string {
	var b strings.Builder
	for n := 0; n <= 6; n++ {
		if r.Has(n) {
			b.WriteByte(byte('0' + n))
		}
	}
	if r.Has(RunlevelS) {
		b.WriteByte('S')
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// Targets returns the systemd targets standing for the runlevels, as systemd-sysv-generator
// maps them: 1 -> rescue.target, 2/3/4 -> multi-user.target, 5 -> graphical.target, and
// S -> sysinit.target, as it mapped rcS.d while it read it; 0 and 6 (halt and reboot)
// have none. The result is sorted and never nil.
func (r Runlevels) Targets() []string {
	out := []string{}
	if r.Has(5) {
		out = append(out, "graphical.target")
	}
	if r.Has(2) || r.Has(3) || r.Has(4) {
		out = append(out, "multi-user.target")
	}
	if r.Has(1) {
		out = append(out, "rescue.target")
	}
	if r.Has(RunlevelS) {
		out = append(out, "sysinit.target")
	}
	return out
}

// maxWarningsPerFile bounds what one broken file can add to a plan: a file of 60,000
// repeated chkconfig lines says nothing new after the first few warnings.
const maxWarningsPerFile = 20

type headerParser struct {
	path     string
	h        Header
	warnings []Warning
	dropped  int
}

func (p *headerParser) warn(line int, format string, args ...any) {
	if len(p.warnings) >= maxWarningsPerFile {
		p.dropped++
		return
	}
	p.warnings = append(p.warnings, Warning{Path: p.path, Line: line, Message: fmt.Sprintf(format, args...)})
}

// Parser states: where the previous line left us.
const (
	stateNormal      = iota
	stateDescription // in a chkconfig description continued with a backslash
	stateLSB         // inside ### BEGIN INIT INFO
	stateLSBDesc     // inside an LSB Description: that may continue on indented lines
	stateLSBIgnored  // inside a second LSB block, which is ignored
)

// ParseHeader parses the header comments of the init script at path (the path is only
// used in warnings). Every problem is a warning naming path and line, and the header
// keeps what could be used: a partial chkconfig line keeps its runlevels, an out-of-range
// priority is clamped to 0-99, an LSB block without END ends at its first line that is
// not a comment, names that cannot be unit names are dropped, and text that is not UTF-8
// has the bad bytes replaced. It never fails; data of any size and content is accepted
// (Scan passes at most the first 64 KiB).
func ParseHeader(path string, data []byte) (Header, []Warning) {
	p := &headerParser{path: path}
	state := stateNormal
	sawNUL := false
	for n := 1; len(data) > 0; n++ {
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		if !sawNUL && bytes.IndexByte(raw, 0) >= 0 {
			sawNUL = true
			p.warn(n, "binary data (a NUL byte): this does not look like a shell script")
		}
		line := strings.TrimRight(string(raw), "\r")
		t := strings.TrimSpace(line)

		if !strings.HasPrefix(t, "#") {
			switch state {
			case stateLSB, stateLSBDesc:
				p.warn(p.h.LSB.Line, "LSB block (### BEGIN INIT INFO) has no ### END INIT INFO before line %d; taking it to end there", n)
				state = stateNormal
			case stateDescription, stateLSBIgnored:
				state = stateNormal
			}
			if !p.h.Reload && isReloadArm(t) {
				p.h.Reload, p.h.ReloadLine = true, n
			}
			continue
		}

		switch {
		case t == "### BEGIN INIT INFO":
			if state == stateLSB || state == stateLSBDesc {
				p.warn(n, "### BEGIN INIT INFO inside the LSB block begun at line %d; ignored", p.h.LSB.Line)
				continue
			}
			if p.h.LSB != nil {
				p.warn(n, "second LSB block (the first begins at line %d); ignored", p.h.LSB.Line)
				state = stateLSBIgnored
				continue
			}
			p.h.LSB = &LSB{Line: n}
			state = stateLSB
			continue
		case isEndLine(t):
			switch state {
			case stateLSB, stateLSBDesc:
				p.h.LSB.End = n
				if t != "### END INIT INFO" {
					p.h.LSB.EndNote = fmt.Sprintf("%q ends the LSB block, as insserv reads it (it looks only at the start of the line)", clip(t))
				}
			case stateLSBIgnored:
			default:
				p.warn(n, "### END INIT INFO without ### BEGIN INIT INFO; ignored")
			}
			state = stateNormal
			continue
		}

		body := strings.TrimSpace(strings.TrimLeft(t, "#"))
		if _, value, ok := cutKey(body, "chkconfig:"); ok && state != stateLSBIgnored {
			p.chkconfig(n, value)
			switch state {
			case stateDescription:
				state = stateNormal
			case stateLSBDesc:
				state = stateLSB
			}
			continue
		}

		switch state {
		case stateDescription:
			more := strings.HasSuffix(body, "\\")
			p.h.Description = joinText(p.h.Description, p.text(n, "description", strings.TrimSuffix(body, "\\")))
			if !more {
				state = stateNormal
			}
		case stateNormal:
			if _, value, ok := cutKey(body, "description:"); ok {
				if p.h.DescriptionLine != 0 {
					p.warn(n, "second description: line (the first is line %d); ignored", p.h.DescriptionLine)
					continue
				}
				p.h.DescriptionLine = n
				p.h.Description = p.text(n, "description", strings.TrimSuffix(value, "\\"))
				if strings.HasSuffix(value, "\\") {
					state = stateDescription
				}
			} else if _, value, ok := cutKey(body, "pidfile:"); ok {
				p.pidfile(n, value)
			}
		case stateLSB, stateLSBDesc:
			// A Description: continues on lines indented by a tab or two spaces after
			// the '#', as systemd-sysv-generator reads it.
			if state == stateLSBDesc && (strings.HasPrefix(t, "#\t") || strings.HasPrefix(t, "#  ")) {
				p.h.LSB.Description = joinText(p.h.LSB.Description, p.text(n, "Description", body))
				continue
			}
			state = stateLSB
			if p.lsbKey(n, body) {
				state = stateLSBDesc
			}
		}
	}
	if state == stateLSB || state == stateLSBDesc {
		p.warn(p.h.LSB.Line, "LSB block (### BEGIN INIT INFO) has no ### END INIT INFO; taking it to end at the end of the header")
	}
	if p.dropped > 0 {
		p.warnings = append(p.warnings, Warning{Path: path, Line: 0,
			Message: fmt.Sprintf("%d more warnings about this file not shown", p.dropped)})
	}
	return p.h, p.warnings
}

// isEndLine reports whether t, a trimmed comment line, ends an LSB block: insserv and
// systemd-sysv-generator take any line starting with "### END INIT INFO" as the end
// (syslog-ng's reads "### END INIT INFO#").
func isEndLine(t string) bool { return strings.HasPrefix(t, "### END INIT INFO") }

// cutKey reports whether body starts with key, compared without case, and returns the
// trimmed rest.
func cutKey(body, key string) (string, string, bool) {
	if len(body) < len(key) || !strings.EqualFold(body[:len(key)], key) {
		return "", "", false
	}
	return body[:len(key)], strings.TrimSpace(body[len(key):]), true
}

func joinText(a, b string) string {
	b = strings.TrimSpace(b)
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// text returns s as clean UTF-8 without control characters, warning when it had to
// replace something: the text ends up in unit files and in JSON.
func (p *headerParser) text(n int, field, s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\t') || r == 0x7f {
			clean = false
			break
		}
	}
	s = strings.TrimSpace(s)
	if clean {
		return s
	}
	p.warn(n, "%s has bytes that are not UTF-8 text; replaced", field)
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// chkconfig parses "RUNLEVELS START STOP", keeping what is usable: chkconfig itself
// refuses a partial line, but the runlevels and start priority of a line missing its stop
// priority still say what the author meant.
func (p *headerParser) chkconfig(n int, value string) {
	if p.h.Chkconfig != nil {
		p.warn(n, "second chkconfig: line (the first is line %d); ignored", p.h.Chkconfig.Line)
		return
	}
	fields := strings.Fields(value)
	if len(fields) == 0 {
		p.warn(n, "empty chkconfig: line; want \"# chkconfig: RUNLEVELS START STOP\", e.g. \"# chkconfig: 2345 55 25\"")
		return
	}
	levels, ok := parseRunlevels(fields[0])
	if !ok {
		p.warn(n, "chkconfig: runlevels %q are not \"-\" or digits 0-6; line ignored", clip(fields[0]))
		return
	}
	c := &Chkconfig{Line: n, Runlevels: levels, Start: -1, Stop: -1}
	p.h.Chkconfig = c
	c.Start = p.priority(n, "start", fields, 1)
	c.Stop = p.priority(n, "stop", fields, 2)
	if len(fields) > 3 {
		p.warn(n, "chkconfig: line has %d fields after RUNLEVELS START STOP; ignored", len(fields)-3)
	}
}

func (p *headerParser) priority(n int, which string, fields []string, i int) int {
	if i >= len(fields) {
		p.warn(n, "partial chkconfig: line: no %s priority (want \"# chkconfig: RUNLEVELS START STOP\")", which)
		return -1
	}
	v, err := strconv.Atoi(fields[i])
	if err != nil {
		p.warn(n, "chkconfig: %s priority %q is not a number; ignored", which, clip(fields[i]))
		return -1
	}
	if v < 0 || v > 99 {
		clamped := min(max(v, 0), 99)
		p.warn(n, "chkconfig: %s priority %d is outside 0-99; using %d", which, v, clamped)
		return clamped
	}
	return v
}

func parseRunlevels(s string) (Runlevels, bool) {
	if s == "-" {
		return 0, true
	}
	var r Runlevels
	for _, c := range []byte(s) {
		if c < '0' || c > '6' {
			return 0, false
		}
		r |= 1 << (c - '0')
	}
	return r, true
}

func (p *headerParser) pidfile(n int, value string) {
	if p.h.PIDFileLine != 0 {
		p.warn(n, "second pidfile: line (the first is line %d); ignored", p.h.PIDFileLine)
		return
	}
	fields := strings.Fields(value)
	if len(fields) != 1 || !strings.HasPrefix(fields[0], "/") || !utf8.ValidString(fields[0]) {
		p.warn(n, "pidfile: %q is not one absolute path; ignored", clip(value))
		return
	}
	p.h.PIDFile, p.h.PIDFileLine = fields[0], n
}

// lsbKey records one "Key: value" line of an LSB block; it returns true when the key was
// Description, whose value may continue on the next lines.
func (p *headerParser) lsbKey(n int, body string) bool {
	l := p.h.LSB
	key, value, ok := strings.Cut(body, ":")
	if !ok {
		return false // a comment inside the block
	}
	value = strings.TrimSpace(value)
	names := func(dst *Names) {
		if dst.Line != 0 {
			p.warn(n, "second %s line in the LSB block (the first is line %d); ignored", key, dst.Line)
			return
		}
		dst.Line = n
		dst.Names = p.names(n, key, value)
	}
	switch strings.ToLower(strings.TrimSpace(key)) {
	case "provides":
		names(&l.Provides)
	case "required-start":
		names(&l.RequiredStart)
	case "should-start":
		names(&l.ShouldStart)
	case "x-start-before":
		names(&l.StartBefore)
	case "x-start-after":
		names(&l.StartAfter)
	case "default-start":
		if l.DefaultStartLine != 0 {
			p.warn(n, "second Default-Start line (the first is line %d); ignored", l.DefaultStartLine)
			return false
		}
		l.DefaultStartLine = n
		for _, f := range strings.Fields(value) {
			switch {
			case len(f) == 1 && f[0] >= '0' && f[0] <= '6':
				l.DefaultStart |= 1 << (f[0] - '0')
			case f == "S" || f == "s":
				l.DefaultStart |= 1 << RunlevelS
			default:
				p.warn(n, "Default-Start: %q is not a runlevel 0-6 or S; ignored", clip(f))
			}
		}
	case "short-description":
		l.ShortDescription = p.text(n, "Short-Description", value)
	case "description":
		l.Description = p.text(n, "Description", value)
		return true
	}
	return false
}

// names splits an LSB list, dropping (with a warning) what cannot name a unit or facility.
func (p *headerParser) names(n int, key, value string) []string {
	out := []string{}
	for _, f := range strings.Fields(value) {
		name := f
		if strings.HasPrefix(f, "$") {
			name = f[1:]
		}
		if !validName(name) {
			p.warn(n, "%s: %q cannot name a unit or facility; ignored", key, clip(f))
			continue
		}
		out = append(out, f)
	}
	return out
}

// validName reports whether name is a script, Provides or facility name that can stand
// for the unit name+".service": a plain unit name without "@" (hostkit instantiates no
// templates). See isUnitName for the rules.
func validName(name string) bool {
	return strings.IndexByte(name, '@') < 0 && isUnitName(name+".service")
}

// unitSuffixes are the unit types hostkit recognizes in unit directories and rules and
// writes into generated units.
var unitSuffixes = []string{".service", ".socket", ".target", ".mount", ".automount",
	".swap", ".path", ".timer", ".slice", ".scope", ".device"}

// isUnitName reports whether s is a unit name systemd loads and hostkit may read or
// write: the one validator for unit files found in unit directories, names in rules and
// every name Generate writes (a file name, or a name on an After=, Before= or Wants=
// line, where anything else could split or end the line). It is systemd's
// unit_name_is_valid() for plain names and template instances: at most 255 bytes, a known
// type suffix, before it ASCII letters, digits and ":-_.\", and "@" only as the
// separator of a template instance ("getty@tty1.service": a non-empty prefix before the
// first "@" and a non-empty instance after it). Two things systemd's check allows are
// refused: a bare template ("getty@.service"), which no ordering can name and nothing
// starts, and a leading "." (".foo.service"), a hidden file that systemd skips when it
// reads its unit directories, as Scan skips hidden scripts.
func isUnitName(s string) bool {
	if len(s) > 255 {
		return false
	}
	var prefix string
	for _, suf := range unitSuffixes {
		if p, ok := strings.CutSuffix(s, suf); ok {
			prefix = p
			break
		}
	}
	if prefix == "" || prefix[0] == '.' {
		return false
	}
	at := strings.IndexByte(prefix, '@')
	if at == 0 || at == len(prefix)-1 {
		return false // "@x.service" has no prefix; "x@.service" is a template
	}
	for i := 0; i < len(prefix); i++ {
		switch c := prefix[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':' || c == '-' || c == '_' || c == '.' || c == '\\':
		case c == '@': // the separator, or part of the instance, as systemd allows
		default:
			return false
		}
	}
	return true
}

// isReloadArm reports whether t, a trimmed line that is not a comment, is a shell case
// arm whose patterns include "reload": `reload)`, `'reload')`, `(reload)`,
// `start|reload)`, `reload|force-reload) do_reload ;;`.
func isReloadArm(t string) bool {
	i := strings.IndexByte(t, ')')
	if i <= 0 {
		return false
	}
	pattern := strings.TrimPrefix(strings.TrimSpace(t[:i]), "(")
	for _, alt := range strings.Split(pattern, "|") {
		alt = strings.TrimSpace(alt)
		if alt == "" || strings.ContainsAny(alt, " \t") {
			return false // not a case pattern: e.g. `if (reload x)` or `echo $(a b)`
		}
		if strings.Trim(alt, `"'`) == "reload" {
			return true
		}
	}
	return false
}

// clip shortens s for a warning: a junk line can be 64 KiB long.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
