package bootorder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Tree is the init-script world of one system as Scan found it.
type Tree struct {
	// Scripts are the executable init scripts, sorted by Name.
	Scripts []Script
	// RCLocal is the executable rc.local, or nil.
	RCLocal *Script
	// NativeUnits maps the name of every unit file in systemd's unit directories to its
	// path, the first directory in systemd's precedence winning.
	NativeUnits map[string]string
	// Masked holds the names in NativeUnits that are masked (a symlink to /dev/null).
	Masked map[string]bool
	// RCLinks says that rc1.d to rc5.d hold at least one S or K link (to any script, also
	// S99local and links to no script): the system enables its scripts there, so a
	// script without links is not started at boot.
	RCLinks bool
	// Rules are the rules of /etc/hostkit/boot-order.conf and its drop-ins, in file order.
	Rules []Rule
	// Facilities are the facility definitions of /etc/insserv.conf and
	// /etc/insserv.conf.d/*, in file order.
	Facilities []Facility
	Warnings   []Warning
}

// Script is one init script (or rc.local).
type Script struct {
	Name       string // "nginx": the file name without a Debian ".sh" suffix
	Unit       string // "nginx.service", as systemd-sysv-generator names it
	Path       string // as on the target system, e.g. /etc/init.d/nginx
	Header     Header
	Links      []Link // its S and K links in rc1.d to rc5.d, in runlevel order
	Executable bool
}

// Link is one S or K link in an rcN.d directory.
type Link struct {
	Path     string // as on the target system, e.g. /etc/rc3.d/S55nginx
	Runlevel int    // 1-5, or RunlevelS for /etc/rcS.d
	Start    bool   // S (start in this runlevel) rather than K (stop, i.e. disabled)
	Priority int    // the two digits after S or K
}

// Where Scan looks, as on the target system. The lists are in systemd's precedence order.
var (
	initDirs     = []string{"/etc/init.d", "/etc/rc.d/init.d"}
	rcLocalPaths = []string{"/etc/rc.local", "/etc/rc.d/rc.local"}
	unitDirs     = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}
)

// maxHeaderBytes is how much of a script Scan reads: headers are at the top, and a
// generator must stay fast whatever sits in /etc/init.d.
const maxHeaderBytes = 64 << 10

// maxSymlinks is how many symbolic links one path may pass through, as Linux allows.
const maxSymlinks = 40

var errSymlinkLoop = errors.New("symbolic link loop (or more than 40 links in a row)")

// rootFS reads paths of the target system under a root directory, resolving symbolic
// links as the target system would (an absolute link target starts again at root, and
// ".." stops at root), so that nothing outside root is read.
type rootFS struct {
	root string
	// lstat remembers what one Scan saw, so that the directories shared by thousands of
	// paths (/etc, /etc/rc3.d) are looked at once.
	lstat map[string]lstatResult
}

type lstatResult struct {
	mode   fs.FileMode // type bits only
	target string      // of a symbolic link, read on first use
	read   bool        // target has been read
	err    error
}

func newRootFS(root string) *rootFS { return &rootFS{root: root, lstat: map[string]lstatResult{}} }

func (r *rootFS) lstatCached(p string) lstatResult {
	res, ok := r.lstat[p]
	if !ok {
		fi, err := os.Lstat(r.host(p))
		res = lstatResult{err: err}
		if err == nil {
			res.mode = fi.Mode().Type()
		}
	}
	if res.err == nil && res.mode&fs.ModeSymlink != 0 && !res.read {
		res.target, res.err = os.Readlink(r.host(p))
		res.read = true
	}
	r.lstat[p] = res
	return res
}

// seed records the types of the entries of dir (a resolved target path) as ReadDir gave
// them, so that resolving the thousands of paths through rcN.d and init.d costs one
// readlink per link and no lstat at all.
func (r *rootFS) seed(dir string, entries []os.DirEntry) {
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if _, ok := r.lstat[p]; !ok {
			r.lstat[p] = lstatResult{mode: e.Type()}
		}
	}
}

// resolve returns the host path of target path p with every symbolic link followed, and
// the target path it resolves to.
func (r *rootFS) resolve(p string) (host, resolved string, err error) {
	rest := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, comp)
		res := r.lstatCached(next)
		if res.err != nil {
			return "", "", res.err
		}
		if res.mode&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", "", errSymlinkLoop
		}
		target := res.target
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return r.host(cur), cur, nil
}

func (r *rootFS) host(p string) string { return filepath.Join(r.root, filepath.FromSlash(p)) }

// Scan reads the init-script world under root, a directory standing for "/": the
// scripts in /etc/init.d and /etc/rc.d/init.d, the S and K links in /etc/rc[1-5].d and
// /etc/rc.d/rc[1-5].d, /etc/rc.local or /etc/rc.d/rc.local, the names of the unit
// files in systemd's unit directories (to find scripts a native unit shadows), and
// /etc/hostkit/boot-order.conf with its drop-ins, and the facilities /etc/insserv.conf and
// /etc/insserv.conf.d/* define. Paths in the result are as on the target system. Every problem in what it
// reads is a warning in the Tree, naming file and line; only a root that is not a
// readable directory is an error.
//
// Scan skips quietly what is not a script by name (hidden files, editor and package
// manager leftovers such as foo~, foo.rpmsave, foo.dpkg-old, README) and files that are
// not executable and carry no header (such as Red Hat's "functions"); it skips with a
// warning a non-executable file that has a header (systemd-sysv-generator skips it too,
// and it looks like a script that lost its x bit), symbolic link loops, and names that
// cannot be unit names.
func Scan(root string) (*Tree, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("reading the root directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("root %s is not a directory", root)
	}
	if _, err := os.ReadDir(root); err != nil {
		return nil, fmt.Errorf("reading the root directory: %w", err)
	}
	s := &scanner{fs: newRootFS(root), t: &Tree{NativeUnits: map[string]string{}, Masked: map[string]bool{}}}
	s.scanUnits()
	s.scanScripts()
	s.scanLinks()
	s.scanRCLocal()
	s.t.Rules, s.t.Warnings = loadRules(s.fs, s.t.Warnings)
	s.t.Facilities, s.t.Warnings = loadFacilities(s.fs, s.t.Warnings)
	return s.t, nil
}

type scanner struct {
	fs *rootFS
	t  *Tree
	// byName maps script names to their index in t.Scripts.
	byName map[string]int
	// hostPaths maps a script's resolved host path to its index, to tell where a link
	// really points.
	hostPaths map[string]int
	// files holds the scripts read ahead by prefetchScripts, by host path.
	files map[string]scriptFile
}

func (s *scanner) warn(p string, line int, format string, args ...any) {
	s.t.Warnings = append(s.t.Warnings, Warning{Path: p, Line: line, Message: fmt.Sprintf(format, args...)})
}

// readDir lists the directory at target path dir. A missing directory gives nothing; a
// directory that cannot be read gives a warning. It returns the resolved host path, so
// that callers can skip a directory that another name (e.g. /etc/init.d ->
// rc.d/init.d) already gave.
func (s *scanner) readDir(dir string) (host, resolved string, entries []os.DirEntry) {
	host, resolved, err := s.fs.resolve(dir)
	if err == nil {
		if entries, err = os.ReadDir(host); err == nil {
			s.fs.seed(resolved, entries)
			return host, resolved, entries // sorted by name
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return "", "", nil
	}
	s.warn(dir, 0, "cannot read: %v", unwrapPath(err))
	return "", "", nil
}

// unwrapPath drops the host path from a *fs.PathError: warnings name target paths.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *scanner) scanUnits() {
	seen := map[string]bool{}
	for _, dir := range unitDirs {
		host, resolved, entries := s.readDir(dir)
		if host == "" || seen[host] {
			continue
		}
		seen[host] = true
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !isUnitName(name) {
				continue
			}
			if _, ok := s.t.NativeUnits[name]; ok {
				continue // a directory earlier in systemd's order has it
			}
			s.t.NativeUnits[name] = path.Join(dir, name)
			if s.masked(path.Join(resolved, name)) {
				s.t.Masked[name] = true
			}
		}
	}
}

// masked reports whether the unit file at p, a target path whose directory is resolved
// (as readDir returns it), is masked: a symbolic link to /dev/null. The link is read
// through the root, never through a host path, whose directories could be links that
// lead out of it.
func (s *scanner) masked(p string) bool {
	res := s.fs.lstatCached(p)
	return res.err == nil && res.mode&fs.ModeSymlink != 0 && path.Clean(res.target) == "/dev/null"
}

// notScript reports whether name is, by its name alone, not an init script: chkconfig and
// systemd skip hidden files and what editors and package managers leave behind.
func notScript(name string) bool {
	switch name {
	case "README", "skeleton", "functions", "rc", "rcS":
		// Documentation, Debian's template and Red Hat's shell library; rc and rcS
		// are SysV init itself.
		return true
	}
	if name == "" || name[0] == '.' || strings.HasSuffix(name, "~") || strings.HasPrefix(name, "README.") {
		return true
	}
	for _, suffix := range []string{".rpmsave", ".rpmorig", ".rpmnew", ".swp", ".cfsaved", ".bak", ".orig", ".old", ".new",
		".ucf-old", ".ucf-new", ".ucf-dist"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return strings.Contains(name, ".dpkg-")
}

// scriptName is the unit name stem of an init script or link name: Debian's ".sh"
// scripts are known to systemd without the suffix.
func scriptName(file string) string {
	if base, ok := strings.CutSuffix(file, ".sh"); ok && base != "" {
		return base
	}
	return file
}

func (s *scanner) scanScripts() {
	s.byName = map[string]int{}
	s.hostPaths = map[string]int{}
	s.files = map[string]scriptFile{}
	seenDirs := map[string]string{}
	for _, dir := range initDirs {
		host, resolved, entries := s.readDir(dir)
		if host == "" {
			continue
		}
		if _, ok := seenDirs[host]; ok {
			continue // e.g. /etc/init.d is a link to rc.d/init.d
		}
		seenDirs[host] = dir
		s.fs.prefetchScripts(resolved, entries, s.files)
		for _, e := range entries {
			if notScript(e.Name()) {
				continue
			}
			s.scanScript(path.Join(dir, e.Name()))
		}
	}
	// Two directories were merged: keep Scripts sorted by name (the indexes move).
	sort.SliceStable(s.t.Scripts, func(i, j int) bool { return s.t.Scripts[i].Name < s.t.Scripts[j].Name })
	for i, sc := range s.t.Scripts {
		s.byName[sc.Name] = i
		host, _, _ := s.fs.resolve(sc.Path)
		s.hostPaths[host] = i
	}
}

// readScript returns the header bytes of the regular file at target path p and whether
// it is executable; ok is false (after a warning where one is due) when p is not a
// readable regular file.
func (s *scanner) readScript(p string) (data []byte, executable, truncated, ok bool) {
	host, _, err := s.fs.resolve(p)
	if err != nil {
		switch {
		case errors.Is(err, errSymlinkLoop):
			s.warn(p, 0, "symbolic link loop; skipped")
		case errors.Is(err, fs.ErrNotExist):
			s.warn(p, 0, "symbolic link to a missing file; skipped")
		default:
			s.warn(p, 0, "cannot read: %v; skipped", unwrapPath(err))
		}
		return nil, false, false, false
	}
	sf, ok := s.files[host]
	if !ok {
		sf = readScriptFile(host) // reached through a link, so not read ahead
	}
	switch {
	case sf.openErr != nil:
		if pe := (*fs.PathError)(nil); errors.As(sf.openErr, &pe) && pe.Op == "stat" {
			return nil, false, false, false // opened but not stat-able: not a script
		}
		s.warn(p, 0, "cannot read: %v; skipped", unwrapPath(sf.openErr))
		return nil, false, false, false
	case !sf.regular:
		return nil, false, false, false // a directory, device or socket: not a script
	case sf.readErr != nil:
		s.warn(p, 0, "cannot read: %v; skipped", unwrapPath(sf.readErr))
		return nil, false, false, false
	}
	return sf.data, sf.mode&0o111 != 0, sf.truncated, true
}

func (s *scanner) scanScript(p string) {
	data, executable, truncated, ok := s.readScript(p)
	if !ok {
		return
	}
	file := path.Base(p)
	h, warnings := ParseHeader(p, data)
	if !executable {
		if h.Chkconfig != nil || h.LSB != nil {
			s.warn(p, 0, "not executable: systemd-sysv-generator skips it, and so does hostkit (chmod +x to run it at boot)")
		}
		return
	}
	name := scriptName(file)
	if !validName(name) {
		s.warn(p, 0, "the name %q cannot be a unit name (letters, digits and \":-_.\\\" only); skipped", clip(file))
		return
	}
	if i, ok := s.byName[name]; ok {
		s.warn(p, 0, "%s is already the script for %s.service; skipped", s.t.Scripts[i].Path, name)
		return
	}
	if truncated {
		s.warn(p, 0, "larger than 64 KiB: its header was read from the first 64 KiB only")
	}
	s.t.Warnings = append(s.t.Warnings, warnings...)
	s.byName[name] = len(s.t.Scripts)
	s.t.Scripts = append(s.t.Scripts, Script{Name: name, Unit: name + ".service", Path: p, Header: h, Executable: true})
}

// scanLinks reads rc1.d to rc5.d and Debian's rcS.d (the boot runlevel, Link.Runlevel
// RunlevelS). Runlevels 0 and 6 (halt, reboot) have no start ordering to keep. As systemd-sysv-generator does, a link counts for the script its
// name names (S55nginx for nginx), whatever it points to; rc ran the link's target, so a
// link pointing elsewhere is a warning.
func (s *scanner) scanLinks() {
	for _, level := range []int{1, 2, 3, 4, 5, RunlevelS} {
		seen := map[string]bool{}
		for _, base := range []string{"/etc", "/etc/rc.d"} {
			dir := fmt.Sprintf("%s/rc%d.d", base, level)
			if level == RunlevelS {
				if base != "/etc" {
					continue // Debian's alone; Red Hat's rc.sysinit has no links
				}
				dir = "/etc/rcS.d"
			}
			host, resolved, entries := s.readDir(dir)
			if host == "" || seen[host] {
				continue
			}
			seen[host] = true
			s.fs.prefetchLinks(resolved, entries)
			for _, e := range entries {
				s.scanLink(dir, level, e.Name())
			}
		}
	}
}

func (s *scanner) scanLink(dir string, level int, file string) {
	if len(file) < 4 || (file[0] != 'S' && file[0] != 'K') || file[1] < '0' || file[1] > '9' || file[2] < '0' || file[2] > '9' {
		return // README and the like: rc runs only S?? and K?? entries
	}
	if notScript(file) {
		return
	}
	s.t.RCLinks = true
	p := path.Join(dir, file)
	start := file[0] == 'S'
	prio := int(file[1]-'0')*10 + int(file[2]-'0')
	name := scriptName(file[3:])
	host, _, err := s.fs.resolve(p)
	if err != nil {
		if start {
			switch {
			case errors.Is(err, errSymlinkLoop):
				s.warn(p, 0, "symbolic link loop: rc could not run it; ignored")
			case errors.Is(err, fs.ErrNotExist):
				s.warn(p, 0, "points to a missing file: rc could not run it; ignored")
			default:
				s.warn(p, 0, "cannot read: %v; ignored", unwrapPath(err))
			}
		}
		return
	}
	i, ok := s.byName[name]
	if !ok {
		if start && name == "local" {
			return // Red Hat's S99local runs rc.local, which Scan reads on its own
		}
		if start {
			hint := ""
			if name[0] >= '0' && name[0] <= '9' {
				hint = fmt.Sprintf(" (priorities are two digits: this is S%s followed by %q)", file[1:3], name)
			}
			s.warn(p, 0, "no init script %q in %s%s: nothing for systemd to start; ignored", name, strings.Join(initDirs, " or "), hint)
		}
		return
	}
	sc := &s.t.Scripts[i]
	if j, ok := s.hostPaths[host]; !ok {
		s.warn(p, 0, "is not a link to an init script (rc ran this file itself); systemd goes by the name and starts %s", sc.Unit)
	} else if j != i {
		s.warn(p, 0, "points to %s, not to %s: systemd goes by the link's name and starts %s", s.t.Scripts[j].Path, sc.Path, sc.Unit)
	}
	sc.Links = append(sc.Links, Link{Path: p, Runlevel: level, Start: start, Priority: prio})
}

func (s *scanner) scanRCLocal() {
	var found *Script
	var foundHost string
	for _, p := range rcLocalPaths {
		host, _, err := s.fs.resolve(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			s.warn(p, 0, "cannot read: %v; ignored", unwrapPath(err))
			continue
		}
		fi, err := os.Stat(host)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if found != nil {
			if host != foundHost {
				s.warn(p, 0, "%s is used, as systemd does; this file is not run", found.Path)
			}
			continue
		}
		if fi.Mode()&0o111 == 0 {
			s.warn(p, 0, "not executable: systemd does not run it (chmod +x to run it last at boot, as S99local did)")
			return
		}
		found, foundHost = &Script{Name: "rc-local", Unit: "rc-local.service", Path: p, Executable: true}, host
	}
	s.t.RCLocal = found
}
