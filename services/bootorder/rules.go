package bootorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/hostkit/hostkit/internal/config"
)

// The syntax of /etc/hostkit/boot-order.conf (boot-order.conf(5)), read with the one
// hostkit configuration parser (systemd's INI syntax), then its drop-ins
// /etc/hostkit/boot-order.conf.d/*.conf in lexical order:
//
//	[Rules]
//	# Order= lists units that start one after the other, left to right: here nginx
//	# starts after sshd is up. A name without a unit suffix is an init script or an LSB
//	# Provides name (ntpd, or ntpd.service); any unit may be named, native or SysV.
//	Order=sshd.service < nginx.service
//	Order=network-online.target < ntpdate < ntpd
//	# Priority= gives a native unit a chkconfig start priority (0-99), so that it takes
//	# its place among the SysV scripts as if it had an S## link, in runlevels 2345 or
//	# in the runlevels given (chkconfig style: 35 is runlevels 3 and 5).
//	Priority=postgresql.service 50
//	Priority=docker.service 60 35
//	# An empty value forgets the Order= (or Priority=) rules read before it, e.g. those
//	# of the main file, in a drop-in.
//	Order=
//
// Both keys repeat. A later Priority= for the same unit replaces an earlier one. The
// priorities of SysV scripts come from their links and headers; Priority= naming one is
// a warning. A rule that cannot be used is a warning naming file and line and is left
// out; a file with a syntax error is left out whole (so that no half-read rule applies).
const (
	rulesSection = "Rules"
	rulesName    = "boot-order"
)

// Rule is one Order= or Priority= line of boot-order.conf.
type Rule struct {
	Path string `json:"path"`
	Line int    `json:"line"`
	// Order is the units of an Order= line, each starting after the one before it; nil
	// for a Priority= line. Names are as written: "sshd", "sshd.service" or "x.target".
	Order []string `json:"order,omitempty"`
	// Unit, Priority and Runlevels are a Priority= line's.
	Unit      string    `json:"unit,omitempty"`
	Priority  int       `json:"priority,omitempty"`
	Runlevels Runlevels `json:"runlevels,omitempty"`
}

// Text returns the rule as written, for reasons and warnings, which also name its file
// and line; an Order= rule of more than four units is shortened to its first two and
// last units and their count, so that a rule of thousands of units does not make every
// reason and warning about it thousands of names long.
func (r Rule) Text() string {
	switch n := len(r.Order); {
	case r.Order == nil:
		return fmt.Sprintf("Priority=%s %d %s", r.Unit, r.Priority, r.Runlevels)
	case n > 4:
		return fmt.Sprintf("Order=%s < %s < ... < %s (%d units)", r.Order[0], r.Order[1], r.Order[n-1], n)
	}
	return "Order=" + strings.Join(r.Order, " < ")
}

// pairText cites the step of an Order= rule from unit i-1 to unit i: the whole rule when
// it has at most four units, else that pair and where it stands in the rule.
func (r Rule) pairText(i int) string {
	if len(r.Order) <= 4 {
		return r.Text()
	}
	return fmt.Sprintf("Order=... %s < %s ... (units %d and %d of %d)", r.Order[i-1], r.Order[i], i, i+1, len(r.Order))
}

// defaultRuleRunlevels are a native unit's runlevels when Priority= names none: the
// multi-user runlevels, where native services are wanted.
const defaultRuleRunlevels = Runlevels(1<<2 | 1<<3 | 1<<4 | 1<<5)

// loadRules reads boot-order.conf and its drop-ins under fsys and returns the rules,
// appending its warnings to warnings.
func loadRules(fsys *rootFS, warnings []Warning) ([]Rule, []Warning) {
	main := config.Path(rulesName)
	var rules []Rule
	warn := func(file string, line int, format string, args ...any) {
		warnings = append(warnings, Warning{Path: file, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	for _, f := range fsys.readConfigFiles(main, main+".d", func(name string) bool { return strings.HasSuffix(name, ".conf") }) {
		file, data := f.path, f.data
		if f.err != nil {
			warn(file, 0, "cannot read: %v; its rules are left out", f.err)
			continue
		}
		assignments, err := config.Parse(file, data)
		var cerr *config.Error
		if errors.As(err, &cerr) {
			warn(cerr.File, cerr.Line, "%v; the rules of this file are left out", cerr.Err)
			continue
		}
		if err != nil {
			warn(file, 0, "%v; the rules of this file are left out", err)
			continue
		}
		for _, a := range assignments {
			if a.Section == "Daemon" {
				continue // the daemon's settings (hostkit.conf(5)); hostkit-bootorder checks them
			}
			if a.Section != rulesSection {
				warn(a.File, a.Line, "unknown section [%s] (known: [%s] [Daemon])", a.Section, rulesSection)
				continue
			}
			switch a.Key {
			case "Order":
				if a.Value == "" {
					rules = dropRules(rules, true)
					continue
				}
				r, err := parseOrder(a.Value)
				if err != nil {
					warn(a.File, a.Line, "Order=%s: %v; rule left out", clip(a.Value), err)
					continue
				}
				r.Path, r.Line = a.File, a.Line
				rules = append(rules, r)
			case "Priority":
				if a.Value == "" {
					rules = dropRules(rules, false)
					continue
				}
				r, err := parsePriority(a.Value)
				if err != nil {
					warn(a.File, a.Line, "Priority=%s: %v; rule left out", clip(a.Value), err)
					continue
				}
				r.Path, r.Line = a.File, a.Line
				rules = append(rules, r)
			default:
				warn(a.File, a.Line, "unknown key %s= in [%s] (known: Order= Priority=)", a.Key, rulesSection)
			}
		}
	}
	return rules, warnings
}

// dropRules removes the Order= rules (order true) or the Priority= rules read so far.
func dropRules(rules []Rule, order bool) []Rule {
	kept := rules[:0]
	for _, r := range rules {
		if (r.Order != nil) != order {
			kept = append(kept, r)
		}
	}
	return kept
}

func parseOrder(v string) (Rule, error) {
	parts := strings.Split(v, "<")
	if len(parts) < 2 {
		return Rule{}, errors.New(`want two or more units separated by "<", e.g. Order=sshd.service < nginx.service`)
	}
	r := Rule{Order: []string{}}
	for _, p := range parts {
		name := strings.TrimSpace(p)
		if name == "" || strings.ContainsAny(name, " \t") {
			return Rule{}, fmt.Errorf(`want one unit between each "<", got %q`, clip(name))
		}
		if !ruleName(name) {
			return Rule{}, fmt.Errorf("%q is not a unit or script name", clip(name))
		}
		r.Order = append(r.Order, name)
	}
	return r, nil
}

func parsePriority(v string) (Rule, error) {
	f := strings.Fields(v)
	if len(f) < 2 || len(f) > 3 {
		return Rule{}, errors.New("want UNIT PRIORITY [RUNLEVELS], e.g. Priority=postgresql.service 50")
	}
	if !ruleName(f[0]) {
		return Rule{}, fmt.Errorf("%q is not a unit name", clip(f[0]))
	}
	prio, err := strconv.Atoi(f[1])
	if err != nil || prio < 0 || prio > 99 {
		return Rule{}, fmt.Errorf("priority %q is not a number 0-99", clip(f[1]))
	}
	r := Rule{Unit: f[0], Priority: prio, Runlevels: defaultRuleRunlevels}
	if len(f) == 3 {
		levels, ok := parseRunlevels(f[2])
		if !ok || levels == 0 {
			return Rule{}, fmt.Errorf("runlevels %q are not digits 0-6, e.g. 2345", clip(f[2]))
		}
		if levels&^(1<<0|1<<6) == 0 {
			// Parsed, they would drop out of every target and the rule do nothing.
			return Rule{}, errors.New("runlevels 0 and 6 are halt and reboot, in which no unit starts; give runlevels 1-5, e.g. 2345")
		}
		r.Runlevels = levels
	}
	return r, nil
}

// ruleName reports whether name can name a unit in a rule: a unit name, or a script or
// Provides name to which ".service" is added.
func ruleName(name string) bool { return isUnitName(name) || validName(name) }

// configFile is one file of a configuration read inside the root: its target path, and
// its bytes or why they could not be read.
type configFile struct {
	path string
	data []byte
	err  error // without the host path
}

// readConfigFiles reads the file main and then the files of dir whose names keep accepts,
// in name order, all resolved inside the root and read as readRulesFile reads them. A
// missing main file is left out; any other file that cannot be read is returned with
// its error.
func (r *rootFS) readConfigFiles(main, dir string, keep func(name string) bool) []configFile {
	files := []string{main}
	if host, _, err := r.resolve(dir); err == nil {
		if entries, err := os.ReadDir(host); err == nil {
			for _, e := range entries { // sorted by name
				if !e.IsDir() && keep(e.Name()) {
					files = append(files, path.Join(dir, e.Name()))
				}
			}
		}
	}
	var out []configFile
	for _, file := range files {
		host, _, err := r.resolve(file)
		var data []byte
		if err == nil {
			data, err = readRulesFile(host)
		}
		if errors.Is(err, fs.ErrNotExist) && file == main {
			continue
		}
		if err != nil {
			err = unwrapPath(err)
		}
		out = append(out, configFile{path: file, data: data, err: err})
	}
	return out
}

// readRulesFile reads host, which must be a regular file of at most config.MaxFileSize
// bytes, as every hostkit configuration file; like the scripts, a FIFO or device is
// never waited on, and a final symbolic link (the root's links are resolved already) is
// not followed.
func readRulesFile(host string) ([]byte, error) {
	f, err := config.OpenFile(host, syscall.O_NOFOLLOW, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return config.ReadAtMost(f, config.MaxFileSize)
}
