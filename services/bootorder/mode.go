package bootorder

import (
	"io/fs"
	"os"
	"path"
)

// ModeEnv names the environment variable that overrides DetectMode: "drop-ins" or
// "wrappers" (ModeDropIns, ModeWrappers). Any other value is ignored; the generator warns
// about it. It is for tests, benchmarks and for forcing wrapper units on a system that
// still has systemd-sysv-generator (set it in the manager's environment, e.g. with
// DefaultEnvironment= in system.conf, since generators inherit it).
const ModeEnv = "HOSTKIT_BOOTORDER_MODE"

// sysvGeneratorName is the generator that wraps SysV scripts up to systemd 259.
const sysvGeneratorName = "systemd-sysv-generator"

// sysvGeneratorDirs are the directories systemd looks for system generators in, highest
// priority first. A file in an earlier directory replaces one of the same name in a later
// one, which is how a generator is masked (see systemd.generator(7)).
var sysvGeneratorDirs = []string{
	"/run/systemd/system-generators",
	"/etc/systemd/system-generators",
	"/usr/local/lib/systemd/system-generators",
	"/usr/lib/systemd/system-generators",
	"/lib/systemd/system-generators",
}

// DetectMode says how the plan for the system under root is written: ModeDropIns when
// systemd-sysv-generator will run at boot (it exists in /usr/lib or /lib and is not
// masked), so that hostkit only adds ordering to the units it writes; ModeWrappers when
// it will not (systemd 260 and later have none, or an admin masked it with a symlink to
// /dev/null or an empty file of the same name in /etc, /run or /usr/local/lib), so that
// hostkit writes the units itself. $HOSTKIT_BOOTORDER_MODE (ModeEnv) overrides the
// detection when it holds a valid mode.
//
// The rules are systemd's own for choosing among generators of one name: the entry in
// the highest-priority directory wins, files that are not executable are ignored, and
// an empty file or a link to /dev/null is a mask. An executable of that name in /etc or
// /run replaces the real one and is taken to do its job (drop-ins).
func DetectMode(root string) string {
	switch m := os.Getenv(ModeEnv); m {
	case ModeDropIns, ModeWrappers:
		return m
	}
	fsys := newRootFS(root)
	for _, dir := range sysvGeneratorDirs {
		switch sysvGeneratorEntry(fsys, path.Join(dir, sysvGeneratorName)) {
		case entryMask:
			return ModeWrappers
		case entryRuns:
			return ModeDropIns
		}
	}
	return ModeWrappers
}

type sysvGeneratorState int

const (
	entryNone sysvGeneratorState = iota // absent, or ignored by systemd (not executable)
	entryMask                           // empty or /dev/null: masks lower-priority ones
	entryRuns                           // an executable that systemd runs
)

// sysvGeneratorEntry classifies one candidate, p a path on the target system. Every
// symbolic link on the way is resolved inside the root, as Scan resolves them (on a
// usrmerged system /lib is a link to /usr/lib: followed on the host, it would make the
// host's generator decide). A link to /dev/null is recognised by its target rather than
// by following it, as /dev is not part of a root tree.
func sysvGeneratorEntry(fsys *rootFS, p string) sysvGeneratorState {
	_, dir, err := fsys.resolve(path.Dir(p))
	if err != nil {
		return entryNone
	}
	if res := fsys.lstatCached(path.Join(dir, path.Base(p))); res.err == nil && res.mode&fs.ModeSymlink != 0 && path.Clean(res.target) == "/dev/null" {
		return entryMask
	}
	host, _, err := fsys.resolve(p)
	if err != nil {
		return entryNone
	}
	fi, err := os.Lstat(host) // every link is resolved: this is the file itself
	if err != nil {
		return entryNone
	}
	switch {
	case fi.Mode()&fs.ModeCharDevice != 0:
		return entryMask
	case !fi.Mode().IsRegular():
		return entryNone
	case fi.Size() == 0:
		return entryMask
	case fi.Mode().Perm()&0o111 == 0:
		return entryNone
	}
	return entryRuns
}
