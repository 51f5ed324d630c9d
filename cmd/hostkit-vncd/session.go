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
//	ExecStartPre=+hostkit-vncd prepare N    as root: stale claims on :N removed, holders named
//	ExecStart=hostkit-vncd session N        as the user: Xvnc and the session
//	ExecStopPost=hostkit-vncd session-exit N  as the user: how it ended, for LastExit

// displayArgs parses "NAME N [flags]" for the display commands.
func displayArgs(name string, args []string, flags func(fs *flag.FlagSet)) (int, string, error) {
	fs := flag.NewFlagSet("hostkit-vncd "+name, flag.ContinueOnError)
	configPath := fs.String("config", defaultConfig, "configuration file (drop-ins in FILE.d/*.conf)")
	if flags != nil {
		flags(fs)
	}
	var n int
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 0 || v > vnc.MaxNumber {
			return 0, "", fmt.Errorf("%s: %q is not a display number", name, args[0])
		}
		n, args = v, args[1:]
	} else {
		return 0, "", fmt.Errorf("usage: hostkit-vncd %s N [flags] (N: the display number)", name)
	}
	if err := fs.Parse(args); err != nil {
		return 0, "", err
	}
	if fs.NArg() > 0 {
		return 0, "", fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return n, *configPath, nil
}

// runSession is `hostkit-vncd session N`: the display's main process.
func runSession(args []string) error {
	var runtimeDir, xvnc string
	n, configPath, err := displayArgs("session", args, func(fs *flag.FlagSet) {
		fs.StringVar(&runtimeDir, "runtime-dir", "", "the display's runtime directory (default $RUNTIME_DIRECTORY, else "+vnc.RuntimeBase+"/N)")
		fs.StringVar(&xvnc, "xvnc", "Xvnc", "the Xvnc binary")
	})
	if err != nil {
		return err
	}
	lifecycle.SetupLogging("hostkit-vncd")
	log := slog.Default().With("display", ":"+strconv.Itoa(n))
	if runtimeDir == "" {
		runtimeDir = os.Getenv("RUNTIME_DIRECTORY")
	}
	if runtimeDir == "" {
		runtimeDir = vnc.RuntimeDir(n)
	}
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
	var runtimeDir string
	n, _, err := displayArgs("session-exit", args, func(fs *flag.FlagSet) {
		fs.StringVar(&runtimeDir, "runtime-dir", "", "the display's runtime directory")
	})
	if err != nil {
		return err
	}
	if runtimeDir == "" {
		runtimeDir = os.Getenv("RUNTIME_DIRECTORY")
	}
	if runtimeDir == "" {
		runtimeDir = vnc.RuntimeDir(n)
	}
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
