package testcontainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure one container.
type Options struct {
	// Name goes into the container's machine name and host name (made unique with a
	// random suffix); letters, digits and '-' survive, anything else becomes '-'.
	// Empty means "hostkit".
	Name string
	// Setup, when set, runs on the host against the container's fresh root (its path is
	// the argument) before the container boots: the place to drop in files or mask units.
	// Writes go to the container's own layer, never to the cached base root.
	Setup func(root string) error
	// Logf receives progress (base build, boot, shutdown) and, unless QuietExec is set,
	// every command run inside with its output. Nil discards it.
	Logf func(format string, args ...any)
	// QuietExec stops Exec and ExecAs from logging commands and their output through
	// Logf, for callers such as the demo that print them their own way.
	QuietExec bool
	// BootTimeout bounds the wait for the container to reach running or degraded;
	// zero means 60 seconds.
	BootTimeout time.Duration
	// ExecTimeout bounds every command run with Exec and ExecAs; zero means 2 minutes.
	ExecTimeout time.Duration
	// HostLink gives the container a network link to the host, and to nothing else: a
	// veth pair in a /30 of its own, the container's end (ContainerIface) at
	// Container.Address and the host's at Container.HostAddress, set up again at each
	// boot. Without it the container has only its loopback.
	HostLink bool
}

// Container is a booted throwaway Debian system. Close it when done; Close powers it off
// and removes its files.
type Container struct {
	// Name is the machine name, which is also the container's host name.
	Name string
	// Root is the host path of the container's root directory: writes below it show up
	// inside, except under the file systems the container mounts itself (/run, /tmp, ...).
	Root string
	// Leader is the host PID of the container's systemd (PID 1 inside); after Close it
	// names a process that no longer exists.
	Leader int
	// BootTime is how long Boot took from starting systemd-nspawn until systemd in the
	// container reported running or degraded (preparing the root is not included).
	BootTime time.Duration
	// Address and HostAddress are the two ends of Options.HostLink (empty without it):
	// the host reaches the container's services at Address, the container the host's at
	// HostAddress.
	Address, HostAddress string

	link    *hostLink
	dir     string // Root's parent: root/, upper/ and work/ or a copy in root/, owner, base, console.log
	overlay bool   // Root is an overlay mount over the base root, not a copy
	opts    Options
	logf    func(string, ...any)
	cmd     *exec.Cmd
	done    chan struct{} // closed when systemd-nspawn has exited
	waitErr error         // systemd-nspawn's exit, valid once done is closed
	console *os.File

	mu      sync.Mutex
	leader  int                    // Leader while the container runs, 0 once Close began
	running map[*exec.Cmd]struct{} // nsenter processes of Exec calls in flight

	closeOnce sync.Once
	closeErr  error
}

// Boot boots a new container; it is BootContext with a background context.
func Boot(opts Options) (*Container, error) {
	return BootContext(context.Background(), opts)
}

// BootContext builds the base root if needed (see BaseContext), makes the container's root
// an overlay mount with the base root as its read-only lower layer and a fresh directory
// as its upper layer (so preparing it takes milliseconds and nothing of the base root is
// ever changed), runs opts.Setup on it, starts
//
//	systemd-nspawn --register=no --keep-unit -q -b -D COPY --machine=NAME --private-network
//
// finds the container's systemd and waits until `systemctl is-system-running --wait`
// inside answers running or degraded. Degraded is accepted, with the failed units logged,
// because a unit the test does not care about may fail in a container; a test that cares
// asserts on its own units.
//
// Where the overlay cannot be mounted (the cache on a file system that cannot be an
// overlay's upper layer, a kernel without overlayfs) the root is a copy of the base root,
// made with `cp -a --reflink=auto` in seconds, and the log says why.
//
// The container's directory in CacheDir()/containers names the base root it uses, so
// that no other process prunes that root while the container runs (see pruneRoots).
//
// On any failure, including ctx being cancelled, everything started so far is stopped
// and removed, and the error says which step failed with the tail of the console output.
// Containers left by a process that died without closing them are removed first.
func BootContext(ctx context.Context, opts Options) (c *Container, err error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.BootTimeout == 0 {
		opts.BootTimeout = 60 * time.Second
	}
	if opts.ExecTimeout == 0 {
		opts.ExecTimeout = 2 * time.Minute
	}
	// The container's directory is made, and names its base root, under the cache's
	// lock: from then on no other process prunes that root.
	var dir string
	base, err := acquireBase(ctx, opts.Logf, func(base string) error {
		containers := filepath.Join(CacheDir(), "containers")
		if err := os.MkdirAll(containers, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", containers, err)
		}
		pruneStale(containers, opts.Logf)
		d, err := os.MkdirTemp(containers, machineName(opts.Name)+"-")
		if err != nil {
			return fmt.Errorf("create container directory in %s: %w", containers, err)
		}
		dir = d
		if err := writeOwner(dir, 0); err != nil {
			return err
		}
		key := filepath.Base(filepath.Dir(base))
		if err := os.WriteFile(filepath.Join(dir, "base"), []byte(key+"\n"), 0o644); err != nil {
			return fmt.Errorf("record the base root of container %s: %w", dir, err)
		}
		return nil
	})
	if err != nil {
		if dir != "" {
			_ = removeAll(dir)
		}
		return nil, err
	}
	name := machineName(filepath.Base(dir)) // the random suffix makes the name unique
	c = &Container{Name: name, Root: filepath.Join(dir, "root"), dir: dir, opts: opts, logf: opts.Logf}
	defer func() {
		if err != nil {
			if cerr := c.Close(); cerr != nil {
				opts.Logf("cleaning up after failed boot: %v", cerr)
			}
			c = nil
		}
	}()

	prepared := time.Now()
	if err := c.prepareRoot(ctx, base); err != nil {
		return c, err
	}
	how := "copy of"
	if c.overlay {
		how = "overlay over"
	}
	opts.Logf("container %s: root ready in %s (%s %s)", name, time.Since(prepared).Round(time.Millisecond), how, base)
	if opts.Setup != nil {
		if err := opts.Setup(c.Root); err != nil {
			return c, fmt.Errorf("container %s: setup of %s: %w", name, c.Root, err)
		}
	}

	if opts.HostLink {
		if c.link, err = newHostLink(); err != nil {
			return c, fmt.Errorf("container %s: %w", name, err)
		}
		c.Address, c.HostAddress = c.link.containerAddr().String(), c.link.hostAddr().String()
	}
	bootStart := time.Now()
	if err := c.start(); err != nil {
		return c, err
	}
	bootCtx, cancel := context.WithTimeout(ctx, opts.BootTimeout)
	defer cancel()
	if err := c.findLeader(bootCtx); err != nil {
		return c, fmt.Errorf("container %s: find its systemd: %w%s", name, err, c.consoleTail())
	}
	if err := c.configureLink(); err != nil {
		return c, err
	}
	state, err := c.waitRunning(bootCtx)
	if err != nil {
		return c, fmt.Errorf("container %s: wait for boot (last state %q): %w%s", name, state, err, c.consoleTail())
	}
	c.BootTime = time.Since(bootStart)
	opts.Logf("container %s: booted to %q in %s (systemd is PID %d on the host, root %s)",
		name, state, c.BootTime.Round(time.Millisecond), c.Leader, c.Root)
	if state == "degraded" {
		failed, _ := c.exec(ctx, nil, nil, "systemctl", "--failed", "--no-legend", "--plain")
		opts.Logf("container %s: degraded; failed units:\n%s", name, strings.TrimSpace(failed))
	}
	return c, nil
}

// prepareRoot makes c.Root: an overlay mount over base (see mountOverlay) or, when that
// fails, a copy of base, saying so through the log.
func (c *Container) prepareRoot(ctx context.Context, base string) error {
	err := mountOverlay(base, c.dir)
	if err == nil {
		c.overlay = true
		return nil
	}
	c.logf("container %s: cannot mount an overlay over the test root (%v); copying the root instead, which takes seconds", c.Name, err)
	for _, d := range []string{"root", "upper", "work"} {
		if err := os.Remove(filepath.Join(c.dir, d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %s: clear the way for a copy of the root: %w", c.Name, err)
		}
	}
	cp := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", base, c.Root)
	cp.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if out, err := cp.CombinedOutput(); err != nil {
		return fmt.Errorf("copy test root %s to %s: %w: %s", base, c.Root, err, bytes.TrimSpace(out))
	}
	return nil
}

// mountOverlay mounts an overlay file system on dir/root with lower as its read-only
// lower layer and the new, empty directories dir/upper and dir/work as its writable
// layer and overlayfs's work directory. It is a variable so that a test can make it fail.
var mountOverlay = func(lower, dir string) error {
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, p := range []string{lower, upper, work} {
		if strings.ContainsAny(p, ",:\\") {
			return fmt.Errorf("%s has a character overlay mount options cannot carry (, : or \\)", p)
		}
	}
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount -t overlay -o %s overlay %s: %w", opts, merged, err)
	}
	return nil
}

// start launches systemd-nspawn in its own process group (so a Ctrl-C meant for the test
// reaches the test, which then shuts the container down in order) with its console output
// going to console.log.
func (c *Container) start() error {
	console, err := os.Create(filepath.Join(c.dir, "console.log"))
	if err != nil {
		return fmt.Errorf("create console log: %w", err)
	}
	c.console = console
	// --private-network: the container has only its own loopback, so nothing in it can
	// reach or bind the host's network, and units with PrivateNetwork=yes set up their
	// loopback as on a real machine (that needs CAP_NET_ADMIN, which nspawn grants only
	// in a network namespace of the container's own).
	args := []string{"--register=no", "--keep-unit", "-q", "-b", "-D", c.Root,
		"--machine=" + c.Name, "--console=read-only", "--private-network"}
	if c.link != nil {
		args = append(args, c.link.nspawnArg())
	}
	c.cmd = exec.Command("systemd-nspawn", args...)
	c.cmd.Stdout, c.cmd.Stderr = console, console
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If this process dies without Close, nspawn gets SIGTERM and shuts the
		// container down; its stale files are removed by the next Boot.
		Pdeathsig: syscall.SIGTERM,
	}
	c.logf("container %s: $ systemd-nspawn %s", c.Name, strings.Join(args, " "))
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start systemd-nspawn (apt-get install systemd-container): %w", err)
	}
	c.done = make(chan struct{})
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	return writeOwner(c.dir, c.cmd.Process.Pid)
}

// configureLink addresses the two ends of Options.HostLink, if any.
func (c *Container) configureLink() error {
	if c.link == nil {
		return nil
	}
	if err := c.link.configure(c.Leader); err != nil {
		return fmt.Errorf("container %s: host link: %w", c.Name, err)
	}
	c.logf("container %s: reachable from the host at %s (host side %s on %s)", c.Name, c.Address, c.HostAddress, c.link.hostIface)
	return nil
}

// findLeader waits for the process systemd-nspawn starts as the container's init to have
// exec'd systemd, and records its PID.
func (c *Container) findLeader(ctx context.Context) error {
	nspawn := c.cmd.Process.Pid
	for {
		for _, pid := range childrenOf(nspawn) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "systemd" {
				c.Leader = pid
				c.mu.Lock()
				c.leader = pid
				c.mu.Unlock()
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("systemd-nspawn exited: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no systemd below systemd-nspawn (PID %d): %w", nspawn, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitRunning polls `systemctl is-system-running --wait` inside until it answers running
// or degraded, and fails at once on maintenance or stopping.
func (c *Container) waitRunning(ctx context.Context) (string, error) {
	state := ""
	for {
		out, err := c.exec(ctx, nil, nil, "systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		switch state {
		case "running", "degraded":
			return state, nil
		case "maintenance", "stopping":
			return state, fmt.Errorf("system is %s: %v", state, err)
		}
		// Anything else ("offline" before systemd listens on its private socket, an
		// error before the container's /run exists) is retried until the deadline.
		select {
		case <-c.done:
			return state, fmt.Errorf("systemd-nspawn exited: %v", c.waitErr)
		case <-ctx.Done():
			return state, fmt.Errorf("not running or degraded in time (%v): %w", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// killExec kills an Exec's nsenter and the command it started inside.
func killExec(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	for _, kid := range childrenOf(cmd.Process.Pid) {
		_ = syscall.Kill(kid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// ExecError is returned by Exec and ExecAs when a command inside fails to start, exits
// non-zero or times out.
type ExecError struct {
	Container string
	Args      []string
	ExitCode  int // -1 when the command did not exit normally
	Stdout    string
	Stderr    string
	Err       error
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("in container %s: %s: %v", e.Container, shellQuote(e.Args), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "\nstderr:\n" + s
	}
	if s := strings.TrimSpace(e.Stdout); s != "" {
		msg += "\nstdout:\n" + s
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

// containerEnv is the environment commands get inside: a root login's, without colours
// or pagers so that output is plain text.
var containerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"TERM=dumb",
	"SYSTEMD_PAGER=",
	"SYSTEMD_COLORS=0",
	"PAGER=cat",
	"DEBIAN_FRONTEND=noninteractive",
}

// Exec runs args inside the container as root, in all of its namespaces (nsenter -a) with
// a root login's environment, and returns its stdout. When the command fails (non-zero
// exit, not found, or longer than Options.ExecTimeout) the error is an *ExecError with
// the command, exit status, stdout and stderr. Unless Options.QuietExec is set, the
// command and its output are logged.
func (c *Container) Exec(args ...string) (string, error) {
	return c.execLogged(nil, "", args)
}

// ExecAs runs args inside the container as user, with that user's login environment
// (HOME, USER, LOGNAME, SHELL, PATH) and supplementary groups, through runuser(1). The
// process has no logind session, as for a command run from cron or over ssh without a
// PAM session; it reaches the system bus like any local process. Results and errors are
// as for Exec.
func (c *Container) ExecAs(user string, args ...string) (string, error) {
	if user == "" || user == "root" {
		return c.Exec(args...)
	}
	home := "/home/" + user
	prefix := []string{"runuser", "-u", user, "--", "env", "-i",
		"HOME=" + home, "USER=" + user, "LOGNAME=" + user, "SHELL=/bin/bash",
		"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "TERM=dumb", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	return c.execLogged(prefix, user, args)
}

func (c *Container) execLogged(prefix []string, user string, args []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ExecTimeout)
	defer cancel()
	who := "#"
	if user != "" {
		who = user + "$"
	}
	out, err := c.exec(ctx, nil, prefix, args...)
	if !c.opts.QuietExec {
		c.logf("[%s] %s %s", c.Name, who, shellQuote(args))
		if s := strings.TrimRight(out, "\n"); s != "" {
			c.logf("%s", s)
		}
		var ee *ExecError
		if errors.As(err, &ee) {
			if s := strings.TrimRight(ee.Stderr, "\n"); s != "" {
				c.logf("%s", s)
			}
			c.logf("(%v)", ee.Err)
		}
	}
	return out, err
}

// exec runs prefix+args in the container's namespaces and root, with stdin (nil: none).
func (c *Container) exec(ctx context.Context, stdin []byte, prefix []string, args ...string) (string, error) {
	full := append(append([]string{}, prefix...), args...)
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	if leader == 0 {
		return "", &ExecError{Container: c.Name, Args: args, ExitCode: -1, Err: errors.New("container is not running")}
	}
	nsArgs := append([]string{"-t", strconv.Itoa(leader), "-a", "--root", "--wd", "--"}, full...)
	cmd := exec.CommandContext(ctx, "nsenter", nsArgs...)
	cmd.Env = containerEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout, the command inside (nsenter's child, in the container's PID
	// namespace) goes too, not only nsenter.
	cmd.Cancel = func() error {
		killExec(cmd)
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Start()
	if err == nil {
		c.mu.Lock()
		if c.running == nil {
			c.running = map[*exec.Cmd]struct{}{}
		}
		c.running[cmd] = struct{}{}
		c.mu.Unlock()
		err = cmd.Wait()
		c.mu.Lock()
		delete(c.running, cmd)
		c.mu.Unlock()
	}
	if err == nil {
		return stdout.String(), nil
	}
	ee := &ExecError{Container: c.Name, Args: args, ExitCode: -1, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		ee.ExitCode = exitErr.ExitCode()
	}
	if ctx.Err() != nil {
		ee.Err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return stdout.String(), ee
}

// WriteFile writes data to containerPath inside the container with the given mode, owned
// by root, creating missing parent directories (mode 0755). It writes through the
// container's own mounts, so paths under /run or /tmp work too, and replaces the file
// atomically.
func (c *Container) WriteFile(containerPath string, data []byte, mode os.FileMode) error {
	if !strings.HasPrefix(containerPath, "/") {
		return fmt.Errorf("container %s: write %q: path must be absolute", c.Name, containerPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ExecTimeout)
	defer cancel()
	script := `set -e; mkdir -p -- "$(dirname -- "$1")"; t="$1.hostkit-test.$$"; cat > "$t"; chmod "$2" "$t"; mv -f -- "$t" "$1"`
	if _, err := c.exec(ctx, data, nil, "sh", "-c", script, "sh", containerPath, fmt.Sprintf("%04o", mode.Perm())); err != nil {
		return fmt.Errorf("write %s in container %s: %w", containerPath, c.Name, err)
	}
	if !c.opts.QuietExec {
		c.logf("[%s] wrote %s (%d bytes, mode %04o)", c.Name, containerPath, len(data), mode.Perm())
	}
	return nil
}

// CopyIn copies the regular file hostPath to containerPath inside the container, keeping
// its permission bits; see WriteFile.
func (c *Container) CopyIn(hostPath, containerPath string) error {
	info, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("copy %s into container %s: %w", hostPath, c.Name, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("copy %s into container %s: not a regular file", hostPath, c.Name)
	}
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("copy %s into container %s: %w", hostPath, c.Name, err)
	}
	return c.WriteFile(containerPath, data, info.Mode().Perm())
}

// InstallDeb copies the package at hostPath into the container and installs it with
// `dpkg -i`. The container has no network, so every dependency must be in the base root
// (see BasePackages); when dpkg fails the error carries its output.
func (c *Container) InstallDeb(hostPath string) error {
	target := "/var/cache/hostkit-test/" + filepath.Base(hostPath)
	if err := c.CopyIn(hostPath, target); err != nil {
		return err
	}
	if _, err := c.Exec("dpkg", "-i", target); err != nil {
		return fmt.Errorf("install %s (a missing dependency must be added to testcontainer.BasePackages): %w",
			filepath.Base(hostPath), err)
	}
	return nil
}

// Close powers the container off (SIGTERM to systemd-nspawn, which asks systemd for an
// orderly shutdown), waits up to 20 seconds, then kills whatever is left: nspawn and the
// container's whole PID namespace; a container whose boot never completed is killed at
// once. Then it unmounts the container's root (or removes its copy) and removes the
// container's directory with the overlay's upper layer. It is safe to
// call more than once and on a container whose boot failed half way; later calls return
// the first call's result.
func (c *Container) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Container) close() error {
	var errs []error
	// Commands still running inside go first: systemd-shutdown waits for every process
	// of the container to be reaped, and nsenter stops itself when its child is stopped
	// (as the shutdown's SIGSTOP broadcast does), so it would never reap it.
	c.mu.Lock()
	c.leader = 0
	for cmd := range c.running {
		killExec(cmd)
	}
	c.mu.Unlock()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c.mu.Lock()
		n := len(c.running)
		for cmd := range c.running {
			killExec(cmd) // one that was forking a moment ago has its child now
		}
		c.mu.Unlock()
		if n == 0 {
			break
		}
	}
	if c.cmd != nil && c.cmd.Process != nil {
		if c.BootTime > 0 {
			errs = append(errs, c.powerOff())
		} else {
			// A container that never finished booting may not handle the shutdown
			// signal yet (PID 1 ignores signals it has no handler for): kill it.
			c.kill()
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("systemd-nspawn (PID %d) of container %s did not exit after SIGKILL", c.cmd.Process.Pid, c.Name))
			}
		}
		if c.Leader > 0 && processAlive(c.Leader) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.Leader)); strings.TrimSpace(string(comm)) == "systemd" {
				_ = syscall.Kill(c.Leader, syscall.SIGKILL)
				errs = append(errs, fmt.Errorf("container %s: its systemd (PID %d) outlived systemd-nspawn; killed it", c.Name, c.Leader))
			}
		}
	}
	if c.console != nil {
		c.console.Close()
	}
	if c.overlay {
		// systemd-nspawn has exited: nothing should hold the root any more. If something
		// does, removeAll below detaches it lazily instead.
		if err := syscall.Unmount(c.Root, 0); err != nil {
			c.logf("container %s: unmount %s: %v; detaching it", c.Name, c.Root, err)
		}
	}
	if c.dir != "" {
		if err := removeAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove files of container %s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// powerOff asks for an orderly shutdown (systemd-nspawn turns SIGTERM into SIGRTMIN+3 for
// the container's systemd) and kills the container when that takes over 20 seconds.
func (c *Container) powerOff() error {
	start := time.Now()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		took := time.Since(start)
		c.logf("container %s: powered off in %s", c.Name, took.Round(time.Millisecond))
		if took > 5*time.Second {
			c.logf("container %s: shutdown was slow;%s", c.Name, c.consoleTail())
		}
		return nil
	case <-time.After(20 * time.Second):
	}
	c.kill()
	select {
	case <-c.done:
		return fmt.Errorf("container %s did not power off within 20s; killed it", c.Name)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("systemd-nspawn (PID %d) of container %s did not exit after SIGKILL", c.cmd.Process.Pid, c.Name)
	}
}

// kill sends SIGKILL to the container's init (which takes its whole PID namespace with
// it) and to systemd-nspawn.
func (c *Container) kill() {
	pids := childrenOf(c.cmd.Process.Pid)
	if c.Leader > 0 && !slices.Contains(pids, c.Leader) {
		pids = append(pids, c.Leader)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = c.cmd.Process.Kill()
}

// consoleTail returns the last lines systemd-nspawn and the container's console printed,
// formatted to be appended to an error.
func (c *Container) consoleTail() string {
	data, err := os.ReadFile(filepath.Join(c.dir, "console.log"))
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return "\nconsole output:\n" + strings.Join(lines, "\n")
}

// childrenOf returns the PIDs whose parent is pid, from /proc/PID/task/*/children.
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// machineName makes s usable as a machine and host name: letters, digits and '-', at most
// 50 characters, never empty.
func machineName(s string) string {
	s = strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-")
	if s == "" {
		s = "hostkit"
	}
	if len(s) > 50 {
		s = strings.TrimRight(s[:50], "-")
	}
	return s
}

// shellQuote renders args as a user would type them in a shell.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// ShellQuote renders args as a user would type them in a shell, quoting where needed.
func ShellQuote(args ...string) string { return shellQuote(args) }

// owner records which process booted a container and which systemd-nspawn runs it, so
// that a later Boot can tell a container whose owner died from one still in use.
type owner struct {
	pid, nspawn int
	start       string // the owner's start time from /proc/PID/stat, against PID reuse
}

func writeOwner(dir string, nspawn int) error {
	self := os.Getpid()
	content := fmt.Sprintf("%d %s %d\n", self, startTime(self), nspawn)
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(content), 0o644); err != nil {
		return fmt.Errorf("record owner of container %s: %w", dir, err)
	}
	return nil
}

func readOwner(dir string) (owner, bool) {
	data, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		return owner{}, false
	}
	var o owner
	if _, err := fmt.Sscanf(string(data), "%d %s %d", &o.pid, &o.start, &o.nspawn); err != nil {
		return owner{}, false
	}
	return o, true
}

// startTime returns field 22 of /proc/PID/stat, or "" when the process is gone.
func startTime(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// pruneStale removes the files of containers whose owning process has exited (a test
// binary killed by a timeout never runs its cleanups), stopping their systemd-nspawn if it
// is still there and unmounting their root. Containers of live processes are left alone.
func pruneStale(containers string, logf func(string, ...any)) {
	entries, err := os.ReadDir(containers)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(containers, e.Name())
		o, ok := readOwner(dir)
		if ok && processAlive(o.pid) && startTime(o.pid) == o.start {
			continue
		}
		if !ok {
			// Written right after the directory is made; a directory without it that is
			// less than a minute old may belong to a Boot that is just starting.
			if info, err := os.Stat(dir); err != nil || time.Since(info.ModTime()) < time.Minute {
				continue
			}
		}
		if o.nspawn > 0 && processAlive(o.nspawn) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", o.nspawn)); strings.TrimSpace(string(comm)) == "systemd-nspawn" {
				logf("stopping stale container %s (systemd-nspawn PID %d)", e.Name(), o.nspawn)
				for _, kid := range childrenOf(o.nspawn) {
					_ = syscall.Kill(kid, syscall.SIGKILL)
				}
				_ = syscall.Kill(o.nspawn, syscall.SIGKILL)
				time.Sleep(500 * time.Millisecond)
			}
		}
		logf("removing stale container files %s", dir)
		if err := removeAll(dir); err != nil {
			logf("could not remove stale container files: %v", err)
		}
	}
}
