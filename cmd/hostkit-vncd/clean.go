package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/vnc"
)

// cleanReport is what `hostkit-vncd clean N` did, as JSON with --report.
type cleanReport struct {
	Display  int           `json:"display"`
	Removed  []string      `json:"removed"`
	Ended    []vnc.Holder  `json:"ended"`
	HeldBy   string        `json:"held_by"`
	Findings []vnc.Finding `json:"findings"`
}

// runClean is `hostkit-vncd clean N [--kill] [--before-start] [--report FILE]`, run as
// root: by systemd before each start of the display (ExecStartPre=+ ... --before-start),
// and for `hostkitctl vnc clean` (a transient unit started by hostkit-vncd). It removes
// the display's stale lock and socket files and, with --kill, ends the live processes
// that hold the display. A display still held is an error, except before a start, where
// it is written to the runtime directory for the session to refuse with: a failing
// ExecStartPre= would be restarted until the start limit, which RestartPreventExitStatus=
// cannot stop.
func runClean(args []string) error {
	var kill, beforeStart bool
	var report string
	holder := 1
	dc, err := parseDisplayCommand("clean", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&kill, "kill", false, "end the live processes that hold the display (SIGTERM, then SIGKILL)")
		fs.BoolVar(&beforeStart, "before-start", false, "run as ExecStartPre= of the display: record a holder instead of failing")
		fs.StringVar(&report, "report", "", "write what was done as JSON to `FILE`")
		fs.IntVar(&holder, "socket-holder", 1, "the `PID` that holds the display's listening socket for it: systemd, or whoever runs the display outside it")
	})
	if err != nil {
		return err
	}
	n, runtimeDir := dc.n, dc.runtimeDir
	lifecycle.SetupLogging("hostkit-vncd")
	log := slog.Default().With("display", ":"+strconv.Itoa(n))
	if err := os.MkdirAll(runtimeDir, 0o755); err != nil {
		return err
	}
	// The display's login session, if one is noted: its processes are the display's
	// own while it runs; before a start they are what a previous run left, ended first.
	scope := ""
	if s, ok := vnc.ReadLoginSession(runtimeDir); ok {
		if beforeStart {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := endLoginSession(ctx, s)
			cancel()
			if err != nil {
				log.Warn("ending what the previous session left", "session", s.ID, "err", err)
			} else {
				log.Warn("ended what the previous session left", "session", s.ID, "scope", s.Scope)
				os.Remove(filepath.Join(runtimeDir, vnc.LoginSessionFile))
			}
		} else {
			scope = s.Scope
		}
	}
	host := vnc.SystemHost(n, holder, scope)
	if systemd, err := sd.NewConnection(func() (*dbus.Conn, error) { return bus.Connect("system") }); err == nil {
		defer systemd.Close()
		host.UnitByPID = func(pid int) string { return serviceOfMainPID(systemd, pid) }
	}
	diag, err := vnc.Diagnose(n, host)
	if err != nil {
		return err
	}
	removed, ended, err := vnc.Clean(diag, host, kill, 3*time.Second)
	for _, h := range ended {
		log.Warn("ended a process holding the display", "pid", h.PID, "command", h.Command, "user", h.User, "unit", h.Unit)
	}
	for _, r := range removed {
		log.Warn("removed stale "+r, "what", r)
	}
	if len(removed) > 0 {
		if err := vnc.AddStaleCleanups(runtimeDir, len(removed)); err != nil {
			log.Warn("cannot count the cleanup", "err", err)
		}
	}
	if err != nil {
		return err
	}
	if kill && len(ended) > 0 {
		if diag, err = vnc.Diagnose(n, host); err != nil {
			return err
		}
	}
	held := diag.HeldError()
	rep := cleanReport{Display: n, Removed: removed, Ended: ended, Findings: diag.Findings}
	if held != nil {
		rep.HeldBy = held.Error()
	}
	if report != "" {
		data, _ := json.Marshal(rep)
		if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
			return err
		}
		if err := vnc.WriteRuntimeFile(filepath.Dir(report), filepath.Base(report), append(data, '\n')); err != nil {
			return err
		}
	}
	heldFile := filepath.Join(runtimeDir, vnc.HeldFile)
	if beforeStart {
		if held != nil {
			log.Error(held.Error())
			return vnc.WriteRuntimeFile(runtimeDir, vnc.HeldFile, []byte(held.Error()+"\n"))
		}
		if err := os.Remove(heldFile); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if held != nil {
		return fmt.Errorf("%v; end it with --kill", held)
	}
	os.Remove(heldFile)
	if len(removed) == 0 && len(ended) == 0 {
		fmt.Printf("display :%d: nothing stale, nobody holds it\n", n)
	} else {
		fmt.Printf("display :%d: %s\n", n, strings.Join(append(removed, endedText(ended)...), "; "))
	}
	return nil
}

func endedText(hs []vnc.Holder) []string {
	var out []string
	for _, h := range hs {
		out = append(out, "ended "+h.String())
	}
	return out
}

// serviceOfMainPID returns the service whose main process is pid. A login session's
// leader is one (vncsession, as MainPID of tigervncserver@:1.service), but pam_systemd
// moved it into the session's scope, and GetUnitByPID answers with the scope.
func serviceOfMainPID(systemd *sd.Conn, pid int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	units, err := systemd.ListUnitsByPatternsContext(ctx, []string{"active", "activating", "deactivating", "reloading"}, []string{"*.service"})
	if err != nil {
		return ""
	}
	for _, u := range units {
		p, err := systemd.GetServicePropertyContext(ctx, u.Name, "MainPID")
		if err == nil {
			if main, ok := p.Value.Value().(uint32); ok && int(main) == pid {
				return u.Name
			}
		}
	}
	return ""
}
