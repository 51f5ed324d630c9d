package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/vnc"
)

// The commands systemd runs in hostkit-vnc@N.service (see units/hostkit-vnc@.service):
//
//	ExecStartPre=+hostkit-vncd clean N --before-start  as root: stale claims removed, holders named
//	ExecStart=hostkit-vncd session N                    as the user: Xvnc and the session
//	ExecStopPost=+hostkit-vncd session-exit N           as root: LastExit, the login session ended

// displayCommand is what every display command takes: "NAME N [flags]".
type displayCommand struct {
	n          int
	configPath string
	runtimeDir string // --runtime-dir, else $RUNTIME_DIRECTORY (systemd's), else /run/hostkit-vnc/N
}

// parseDisplayCommand parses the arguments of the display command name; flags adds the
// command's own flags.
func parseDisplayCommand(name string, args []string, flags func(fs *flag.FlagSet)) (displayCommand, error) {
	var dc displayCommand
	fs := flag.NewFlagSet("hostkit-vncd "+name, flag.ContinueOnError)
	fs.StringVar(&dc.configPath, "config", defaultConfig, "configuration file (drop-ins in FILE.d/*.conf)")
	fs.StringVar(&dc.runtimeDir, "runtime-dir", "", "the display's runtime directory (default $RUNTIME_DIRECTORY, else "+vnc.RuntimeBase+"/N)")
	if flags != nil {
		flags(fs)
	}
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return dc, lifecycle.UsageError(fmt.Errorf("usage: hostkit-vncd %s N [flags] (N: the display number)", name))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 || n > vnc.MaxNumber {
		return dc, lifecycle.UsageError(fmt.Errorf("%s: %q is not a display number", name, args[0]))
	}
	dc.n = n
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return dc, err
		}
		return dc, lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return dc, lifecycle.UsageError(fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0)))
	}
	if dc.runtimeDir == "" {
		dc.runtimeDir = os.Getenv("RUNTIME_DIRECTORY")
	}
	if dc.runtimeDir == "" {
		dc.runtimeDir = vnc.RuntimeDir(n)
	}
	return dc, nil
}

// runSession is `hostkit-vncd session N`: the display's main process.
func runSession(args []string) error {
	var xvnc string
	dc, err := parseDisplayCommand("session", args, func(fs *flag.FlagSet) {
		fs.StringVar(&xvnc, "xvnc", "Xvnc", "the Xvnc binary")
	})
	if err != nil {
		return err
	}
	n, configPath, runtimeDir := dc.n, dc.configPath, dc.runtimeDir
	lifecycle.SetupLogging("hostkit-vncd")
	log := slog.Default().With("display", ":"+strconv.Itoa(n))
	// Caught before anything starts: a stop during the start ends it cleanly.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer cancel()

	sc := vnc.SessionConfig{RuntimeDir: runtimeDir, Xvnc: xvnc, Env: os.Environ(), Log: log,
		Listener: os.NewFile(0, "listening socket"), Notify: lifecycle.Notify}
	out := func() vnc.Outcome {
		c, err := vnc.Load(configPath)
		if err != nil {
			return vnc.Outcome{Code: vnc.ExitConfig, Message: err.Error()}
		}
		d := c.Display(n)
		if d == nil {
			return vnc.Outcome{Code: vnc.ExitConfig, Message: fmt.Sprintf("display :%d is not in %s (any more): run `hostkitctl vnc reload`", n, configPath)}
		}
		if err := c.ProblemOf(n); err != nil {
			return vnc.Outcome{Code: vnc.ExitConfig, Message: err.Error()}
		}
		a, err := vnc.LookupAccount(d.User)
		if err != nil {
			return vnc.Outcome{Code: vnc.ExitConfig, Message: err.Error()}
		}
		if a.UID != os.Getuid() {
			return vnc.Outcome{Code: vnc.ExitConfig, Message: fmt.Sprintf(
				"display :%d is configured for %s (uid %d) but runs as uid %d: the configuration changed, run `hostkitctl vnc reload`",
				n, d.User, a.UID, os.Getuid())}
		}
		sc.Display, sc.Account = d, a
		return vnc.RunSession(ctx, sc)
	}()
	if sc.Display == nil { // refused before RunSession could record it
		log.Error(out.Message)
		_ = vnc.RecordError(runtimeDir, out.Message)
		lifecycle.Notify("STATUS=Failed: " + out.Message)
	}
	if err := vnc.RecordOutcome(runtimeDir, out); err != nil {
		log.Warn("cannot record how the display ends", "err", err)
	}
	// The display's login session ends with it, all of its processes (see
	// endLoginSession). ExecStopPost=+ does it as well; but systemd may fail to start
	// that (219/CGROUP, seen when every process of a unit has moved to a session's
	// scope), and a user may end their own session. The SIGTERM logind then sends this
	// process too is caught by ctx's handler: it ends as decided.
	if s, ok := vnc.ReadLoginSession(runtimeDir); ok {
		if err := terminateLoginSession(s); err != nil {
			log.Warn("cannot end the login session", "session", s.ID, "err", err)
		}
	}
	if out.Signal != 0 {
		// Xvnc was killed: end the same way, so that systemd records the signal and
		// restarts the display (Restart=on-failure).
		signal.Reset(out.Signal)
		syscall.Kill(os.Getpid(), out.Signal)
		select {}
	}
	os.Exit(out.Code)
	return nil
}

// runSessionExit is `hostkit-vncd session-exit N`, ExecStopPost=+ of the display (as
// root): it keeps how the display's process ended ($EXIT_CODE, $EXIT_STATUS) as LastExit,
// and ends the display's login session, so that nothing of it is left (see
// endLoginSession).
func runSessionExit(args []string) error {
	dc, err := parseDisplayCommand("session-exit", args, nil)
	if err != nil {
		return err
	}
	n, runtimeDir := dc.n, dc.runtimeDir
	if os.Getenv("SERVICE_RESULT") == "" {
		return errors.New("session-exit is run by systemd as ExecStopPost= of hostkit-vnc@N.service")
	}
	lifecycle.SetupLogging("hostkit-vncd")
	code, status := os.Getenv("EXIT_CODE"), os.Getenv("EXIT_STATUS")
	if err := vnc.RecordExit(runtimeDir, code, status); err != nil {
		return fmt.Errorf("display :%d: recording its exit: %w", n, err)
	}
	if s, ok := vnc.ReadLoginSession(runtimeDir); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := endLoginSession(ctx, s); err != nil {
			return fmt.Errorf("display :%d: %w", n, err)
		}
		slog.Info("ended the display's login session", "display", fmt.Sprintf(":%d", n), "session", s.ID, "scope", s.Scope)
		os.Remove(filepath.Join(runtimeDir, vnc.LoginSessionFile))
	}
	return nil
}
