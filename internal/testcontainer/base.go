// Package testcontainer boots throwaway Debian systems with systemd as PID 1 under
// systemd-nspawn, for the hostkit system tests and the demo.
//
// A container is an overlay over a cached minimal Debian root (see Base) booted with
//
//	systemd-nspawn --register=no --keep-unit -q -b -D ROOT
//
// Commands run inside with nsenter(1) in all of the container's namespaces, so they meet
// systemd, the system bus and polkit exactly as a user logged into that machine would.
// Everything here needs root on the host, debootstrap and systemd-container; the functions
// fail with an error saying what to install rather than skipping.
package testcontainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CacheEnv names the environment variable that overrides DefaultCacheDir.
const CacheEnv = "HOSTKIT_TEST_ROOT_CACHE"

// DefaultCacheDir holds the cached base roots (roots/), the lock, and the files of running
// containers (containers/: the writable layer over a root, or a copy of it).
const DefaultCacheDir = "/var/cache/hostkit/test-root"

// Suite and Variant say what debootstrap builds the base root from; Mirror says where
// from.
const (
	Suite   = "bookworm"
	Variant = "minbase"
)

// TestUser is the unprivileged account created in the base root, with TestUID as its
// uid and gid. Tests run commands as this user to see what polkit denies.
const (
	TestUser = "tester"
	TestUID  = 1000
)

// BasePackages are installed into the base root on top of debootstrap's minbase:
// systemd as init, the system bus, polkit for the authorization checks hostkit makes,
// pam_systemd so that logins get logind sessions, procps (kill, for ExecReload=) and jq
// for the demo's pipelines; Xvnc, vncpasswd and xterm for hostkit-vncd's displays.
// Every package the hostkit .deb depends on must be here, because containers have no
// network access to apt; changing the list rebuilds the cached root.
var BasePackages = []string{
	"systemd",
	"systemd-sysv",
	"dbus",
	"polkitd",
	"procps",
	"libpam-systemd",
	"jq",
	"tigervnc-standalone-server",
	"tigervnc-tools",
	"xterm",
	// sshd for hostkitctl -H (key authentication; started at boot), rpm for the
	// install, upgrade and erase of the .rpm against a real systemd.
	"openssh-server",
	"rpm",
	// hostkit-hwd's SMART helper runs smartctl; nc -U talks to its socket in the
	// system test; make bench compares the report with dmidecode, lshw and inxi.
	"smartmontools",
	"netcat-openbsd",
	"dmidecode",
	"lshw",
	"inxi",
}

// baseFormat is bumped whenever the customisation done after debootstrap changes, so
// that cached roots made by an older harness are rebuilt.
const baseFormat = 1

// stamp returns what a complete base root built from mirror records about itself.
func stamp(mirror string) string {
	return fmt.Sprintf("hostkit test root format %d\nsuite=%s\nvariant=%s\nmirror=%s\ninclude=%s\nuser=%s:%d\n",
		baseFormat, Suite, Variant, mirror, strings.Join(BasePackages, ","), TestUser, TestUID)
}

// sameRoot reports whether a cached root's stamp is one this harness would write, from
// whichever mirror: the same packages from another mirror make the same root, so a
// changed mirror does not rebuild it.
func sameRoot(stampText string) bool {
	return withoutMirror(stampText) == withoutMirror(stamp(""))
}

func withoutMirror(stampText string) string {
	var keep []string
	for _, line := range strings.SplitAfter(stampText, "\n") {
		if !strings.HasPrefix(line, "mirror=") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// CacheDir returns the directory Base caches the root in: $HOSTKIT_TEST_ROOT_CACHE when
// set, DefaultCacheDir otherwise.
func CacheDir() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return DefaultCacheDir
}

// ErrNotRoot is returned (wrapped) when the harness runs without root privileges.
var ErrNotRoot = errors.New("must run as root: systemd-nspawn, nsenter and debootstrap need it (run the tests with sudo or as root)")

// requiredTools maps each host command the harness runs to the Debian package that has it.
var requiredTools = []struct{ cmd, pkg string }{
	{"debootstrap", "debootstrap"},
	{"systemd-nspawn", "systemd-container"},
	{"nsenter", "util-linux"},
	{"cp", "coreutils"},
	{"chroot", "coreutils"},
}

// CheckHost returns nil when the host can build and boot containers: the process is root
// and every command the harness runs is on PATH. Otherwise the error says what is missing
// and how to install it (`make deps` installs all of it on Debian).
func CheckHost() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	var missing []string
	for _, t := range requiredTools {
		if _, err := exec.LookPath(t.cmd); err != nil {
			missing = append(missing, fmt.Sprintf("%s not found: apt-get install %s", t.cmd, t.pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("host is missing tools the container harness needs (or run `make deps`): %s", strings.Join(missing, "; "))
	}
	return nil
}

// Base returns the path of the cached minimal Debian root, building it on first use.
// It is BaseContext with a background context.
func Base(logf func(format string, args ...any)) (string, error) {
	return BaseContext(context.Background(), logf)
}

// BaseContext returns the path of the cached minimal Debian root: bookworm minbase plus
// BasePackages, with the user TestUser created and no machine id or hostname of its own,
// so every container made from it boots as a new machine named after the container.
//
// Roots of different package lists (branches with other BasePackages, say) live side by
// side in CacheDir()/roots/KEY/root, KEY being a hash of what the root is made of (its
// stamp without the mirror; see rootKey). A root whose stamp is complete is returned as
// it is. Otherwise it is built with debootstrap from Mirror() (about a minute; an error
// when no mirror is found says how to name one) in CacheDir()/roots/build-* and renamed
// into place only when complete, stamp included, so an interrupted build never leaves a
// half root behind. An exclusive flock on CacheDir()/lock keeps two processes from
// building at once; the second waits and then uses the first one's root. Then roots of
// other package lists are pruned (see pruneRoots). Progress is reported through logf,
// which may be nil. Cancelling ctx stops a build and removes it.
func BaseContext(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	return acquireBase(ctx, logf, nil)
}

// KeepUnusedRoots is how long a cached root of another package list is kept after a
// container was last made from it: long enough that branches tested by turns on one
// machine do not rebuild each other's roots, short enough that old ones go.
const KeepUnusedRoots = 72 * time.Hour

// acquireBase is BaseContext; use, when not nil, runs with the root's path while the
// lock is still held, before the pruning, so that a container it registers (see Boot) keeps
// its root from being pruned by another process.
func acquireBase(ctx context.Context, logf func(string, ...any), use func(root string) error) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := CheckHost(); err != nil {
		return "", err
	}
	dir := CacheDir()
	if err := os.MkdirAll(filepath.Join(dir, "roots"), 0o755); err != nil {
		return "", fmt.Errorf("create test root cache %s (set %s to use another directory): %w", dir, CacheEnv, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, "lock"), logf)
	if err != nil {
		return "", err
	}
	defer unlock()

	root, err := ensureBase(ctx, dir, logf)
	if err != nil {
		return "", err
	}
	if use != nil {
		if err := use(root); err != nil {
			return "", err
		}
	}
	pruneRoots(dir, rootKey(), KeepUnusedRoots, logf)
	return root, nil
}

// rootKey names the directory below CacheDir()/roots of the root this harness builds.
func rootKey() string {
	sum := sha256.Sum256([]byte(withoutMirror(stamp(""))))
	return hex.EncodeToString(sum[:8])
}

// ensureBase returns cacheDir/roots/KEY/root, building it when it is missing or
// incomplete, and marks it used now (the modification time of its directory). The
// caller holds the lock.
func ensureBase(ctx context.Context, cacheDir string, logf func(string, ...any)) (string, error) {
	keyDir := filepath.Join(cacheDir, "roots", rootKey())
	root := filepath.Join(keyDir, "root")
	stampPath := filepath.Join(keyDir, "stamp")
	if got, err := os.ReadFile(stampPath); err == nil && sameRoot(string(got)) {
		if _, err := os.Stat(filepath.Join(root, "usr/lib/systemd/systemd")); err == nil {
			now := time.Now()
			if err := os.Chtimes(keyDir, now, now); err != nil {
				return "", fmt.Errorf("mark test root %s used: %w", root, err)
			}
			return root, nil
		}
		logf("test root %s is incomplete; rebuilding it", root)
	}

	mirror, err := Mirror()
	if err != nil {
		return "", fmt.Errorf("build test root %s: %w", root, err)
	}
	start := time.Now()
	build, err := os.MkdirTemp(filepath.Join(cacheDir, "roots"), "build-")
	if err != nil {
		return "", fmt.Errorf("create build directory in %s: %w", cacheDir, err)
	}
	defer func() {
		if err := removeAll(build); err != nil { // nothing left when the rename below happened
			logf("%v", err)
		}
	}()
	buildRoot := filepath.Join(build, "root")

	logf("building test root with debootstrap %s %s (+%s) from %s into %s; this takes about a minute",
		Variant, Suite, strings.Join(BasePackages, ","), mirror, buildRoot)
	if err := runLogged(ctx, logf, "debootstrap", "--variant="+Variant, "--include="+strings.Join(BasePackages, ","),
		Suite, buildRoot, mirror); err != nil {
		return "", fmt.Errorf("build test root with debootstrap (check that %s is reachable, or set %s to another mirror; the log is above): %w",
			mirror, MirrorEnv, err)
	}
	if err := customize(ctx, buildRoot, logf); err != nil {
		return "", fmt.Errorf("customize test root %s: %w", buildRoot, err)
	}
	if err := os.WriteFile(filepath.Join(build, "stamp"), []byte(stamp(mirror)), 0o644); err != nil {
		return "", fmt.Errorf("write stamp in %s: %w", build, err)
	}
	// An incomplete root of this key is of no use to any container: replace it whole.
	if err := removeAll(keyDir); err != nil {
		return "", err
	}
	if err := os.Rename(build, keyDir); err != nil {
		return "", fmt.Errorf("move new test root into place at %s: %w", keyDir, err)
	}
	logf("test root ready at %s, built in %s", root, time.Since(start).Round(100*time.Millisecond))
	return root, nil
}

// pruneRoots removes, below cacheDir/roots, builds interrupted by a crash and the roots
// other than keep that no container uses (see rootsInUse) and that were last used more
// than unused ago. Failures are logged, not returned: a root left behind costs only disk.
// The caller holds the lock, so no build is under way and no container is being made.
func pruneRoots(cacheDir, keep string, unused time.Duration, logf func(string, ...any)) {
	rootsDir := filepath.Join(cacheDir, "roots")
	entries, err := os.ReadDir(rootsDir)
	if err != nil {
		logf("prune test roots: %v", err)
		return
	}
	inUse := rootsInUse(cacheDir)
	for _, e := range entries {
		path := filepath.Join(rootsDir, e.Name())
		switch {
		case e.Name() == keep:
			continue
		case strings.HasPrefix(e.Name(), "build-"):
			logf("removing interrupted build %s", path)
		case inUse[e.Name()]:
			continue
		default:
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < unused {
				continue
			}
			logf("removing test root %s: another package list's, unused since %s", path, info.ModTime().Format(time.DateTime))
		}
		if err := removeAll(path); err != nil {
			logf("prune test roots: %v", err)
		}
	}
}

// rootsInUse returns the keys of the roots below cacheDir/roots that containers use:
// those named in the base file of a directory in cacheDir/containers (written by Boot
// under the lock, and removed with the container), and, should one be mounted without
// such a file, those an overlay mount has as its lower directory.
func rootsInUse(cacheDir string) map[string]bool {
	used := map[string]bool{}
	bases, _ := filepath.Glob(filepath.Join(cacheDir, "containers", "*", "base"))
	for _, b := range bases {
		if key, err := os.ReadFile(b); err == nil {
			used[strings.TrimSpace(string(key))] = true
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	prefix := "lowerdir=" + filepath.Join(cacheDir, "roots") + "/"
	for _, line := range strings.Split(string(mounts), "\n") {
		if i := strings.Index(line, prefix); i >= 0 {
			key, _, _ := strings.Cut(line[i+len(prefix):], "/")
			used[key] = true
		}
	}
	return used
}

// customize turns a fresh debootstrap root into the base every container copies.
func customize(ctx context.Context, root string, logf func(string, ...any)) error {
	chroot := func(args ...string) error {
		return runLogged(ctx, logf, "chroot", append([]string{root}, args...)...)
	}
	if err := chroot("useradd", "--create-home", "--uid", fmt.Sprint(TestUID), "--user-group",
		"--shell", "/bin/bash", TestUser); err != nil {
		return fmt.Errorf("create user %s: %w", TestUser, err)
	}
	if err := chroot("apt-get", "clean"); err != nil {
		return fmt.Errorf("clean apt cache: %w", err)
	}
	// An empty machine-id makes systemd generate a transient one at each boot, so copies
	// are distinct machines; without /etc/hostname the container's name is its hostname.
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil {
		return fmt.Errorf("empty machine-id: %w", err)
	}
	for _, p := range []string{"etc/hostname", "var/lib/dbus/machine-id"} {
		if err := os.Remove(filepath.Join(root, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	// Nobody answers a prompt in a test: systemd-firstboot would otherwise ask for a
	// locale and root password on first boot (the empty machine-id makes every boot first).
	if err := os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/system/systemd-firstboot.service")); err != nil {
		return fmt.Errorf("mask systemd-firstboot.service: %w", err)
	}
	return nil
}

// removeAll removes dir after detaching whatever is still mounted below it (debootstrap
// mounts /proc and /sys into its target; a build killed midway leaves them), so that
// the removal never reaches into the host's /proc or /sys.
func removeAll(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mount table before removing %s: %w", dir, err)
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4]+"/", dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- { // innermost last in mountinfo: unmount it first
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("unmount %s before removing %s (unmount it by hand): %w", mounts[i], dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting (and saying so through logf) while
// another process holds it. The returned function releases the lock.
func lockFile(ctx context.Context, path string, logf func(string, ...any)) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	release := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return release, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			logf("waiting for another process building a test root or starting a container (lock %s)", path)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// runLogged runs a host command, passing each line of its combined output to logf, and
// returns an error with the command and the last lines of output when it fails.
func runLogged(ctx context.Context, logf func(string, ...any), name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C goes to us, we stop the child
	// On cancellation the whole group gets SIGTERM, so debootstrap can run its exit
	// handlers (unmounting /proc and /sys in the target); SIGKILL follows after 10 s.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	w := &lineWriter{logf: logf, prefix: filepath.Base(name) + ": "}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	w.flush()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, w.tail())
	}
	return nil
}

// lineWriter passes complete lines to logf and keeps the last few for error messages.
type lineWriter struct {
	logf    func(string, ...any)
	prefix  string
	partial []byte
	last    []string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
}

func (w *lineWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	w.logf("%s%s", w.prefix, s)
	w.last = append(w.last, s)
	if len(w.last) > 20 {
		w.last = w.last[1:]
	}
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
}

func (w *lineWriter) tail() string { return strings.Join(w.last, "\n") }

// WithoutOpenSSH removes from a container root, before it boots (an Options.Setup), the
// traces of the openssh-server the base root carries for the hostkitctl -H tests: the
// sshd.service alias, the enabled ssh.service, /etc/init.d/ssh (which provides sshd) and
// its rc links. A story about an sshd init script of its own (issue 3's nginx and sshd)
// boots this machine, on which Debian's ssh would stand in for that script.
func WithoutOpenSSH(root string) error {
	paths, _ := filepath.Glob(filepath.Join(root, "etc/rc?.d/[SK][0-9][0-9]ssh"))
	paths = append(paths, filepath.Join(root, "etc/init.d/ssh"), filepath.Join(root, "etc/systemd/system/sshd.service"),
		filepath.Join(root, "etc/systemd/system/multi-user.target.wants/ssh.service"))
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}
