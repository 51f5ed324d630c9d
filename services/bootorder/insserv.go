package bootorder

import (
	"fmt"
	"strings"
)

// Facility is one facility definition of insserv.conf(5): a line such as
//
//	$named		+named +dnsmasq +bind9 $network
//
// in /etc/insserv.conf or a file of /etc/insserv.conf.d (where packages add theirs:
// bind9's says "$named bind9"). Debian's insserv numbered the S links by these; hostkit
// orders by them, links or not.
type Facility struct {
	Name string // "$named"
	Path string // as on the target system
	Line int
	// Providers are the scripts (or Provides names) that provide it, and the facilities
	// it includes, as written: "+named" (optional: it may be missing), "bind9" (it must
	// exist), "$network" (every provider of that facility too).
	Providers []string
}

// insservConf is the file of insserv's facility definitions; insservConfDir holds the
// packages' additions.
const (
	insservConf    = "/etc/insserv.conf"
	insservConfDir = "/etc/insserv.conf.d"
)

// loadFacilities reads insserv.conf and the files of insserv.conf.d (in name order,
// skipping what insserv skips: hidden files and package manager leftovers) under fsys,
// appending its warnings to warnings. Lines that are blank or comments ("#") are
// skipped, and so is "<interactive>" (scripts that need a terminal, which systemd does
// not give); a line that starts with neither "$" nor "<" is a warning. Each file is read
// as boot-order.conf is: a regular file of at most 1 MiB.
func loadFacilities(fsys *rootFS, warnings []Warning) ([]Facility, []Warning) {
	warn := func(file string, line int, format string, args ...any) {
		warnings = append(warnings, Warning{Path: file, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	var out []Facility
	for _, cf := range fsys.readConfigFiles(insservConf, insservConfDir, func(name string) bool { return !notScript(name) }) {
		file := cf.path
		if cf.err != nil {
			warn(file, 0, "cannot read: %v; its facilities are left out", cf.err)
			continue
		}
		for n, line := range strings.Split(string(cf.data), "\n") {
			fields := strings.Fields(line)
			switch {
			case len(fields) == 0 || strings.HasPrefix(fields[0], "#"), fields[0] == "<interactive>":
				continue
			case !strings.HasPrefix(fields[0], "$") || !validName(fields[0][1:]):
				warn(file, n+1, "%q is not a facility definition ($name followed by the scripts that provide it); ignored", clip(line))
				continue
			}
			f := Facility{Name: fields[0], Path: file, Line: n + 1}
			for _, p := range fields[1:] {
				if strings.HasPrefix(p, "#") {
					break // a comment after the definition
				}
				if !validName(strings.TrimLeft(p, "+$")) {
					warn(file, n+1, "%s: %q cannot name a script or facility; ignored", f.Name, clip(p))
					continue
				}
				f.Providers = append(f.Providers, p)
			}
			out = append(out, f)
		}
	}
	return out, warnings
}
