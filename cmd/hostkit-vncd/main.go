// Command hostkit-vncd serves the VNC displays of /etc/hostkit/vnc.conf on the system bus
// as org.hostkit.VNC1 (see hostkit-vncd(8)), and is also what systemd runs inside each
// display's unit (hostkit-vnc@N.service):
//
//	hostkit-vncd [--bus BUS] [--systemd-bus BUS] [--config FILE]   the bus service
//	hostkit-vncd session N            the display's Xvnc and session, as its user
//	hostkit-vncd clean N [--kill]     stale claims on :N removed, holders named or ended (root)
//	hostkit-vncd session-exit N       ExecStopPost=: how the display ended, for LastExit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/version"
)

var defaultConfig = config.Path("vnc")

func main() {
	if err := run(os.Args[1:]); err != nil {
		lifecycle.Fail("hostkit-vncd", err)
	}
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "session":
			return runSession(args[1:])
		case "clean":
			return runClean(args[1:])
		case "session-exit":
			return runSessionExit(args[1:])
		}
	}
	fs := flag.NewFlagSet("hostkit-vncd", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.bus, "bus", "system", bus.FlagUsage)
	fs.StringVar(&o.systemdBus, "systemd-bus", "", "bus where systemd is (default: the same as --bus)")
	fs.StringVar(&o.configPath, "config", defaultConfig, "configuration file (drop-ins in FILE.d/*.conf)")
	fs.StringVar(&o.runtimeBase, "runtime-dir", "/run/hostkit-vnc", "runtime directories of the displays")
	fs.StringVar(&o.tmp, "tmp", "/tmp", "directory of X's sockets (.X11-unix)")
	fs.StringVar(&o.generatorDir, "generator-dir", "/run/systemd/generator", "where systemd runs generators to")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hostkit-vncd [--bus BUS] [--systemd-bus BUS] [--config FILE]\n"+
			"       hostkit-vncd session|clean|session-exit N (run by systemd in hostkit-vnc@N.service)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return lifecycle.UsageError(fmt.Errorf("unknown command %q (try --help)", fs.Arg(0)))
	}
	if *showVersion {
		fmt.Println("hostkit-vncd", version.Version)
		return nil
	}
	if o.systemdBus == "" {
		o.systemdBus = o.bus
	}
	lifecycle.SetupLogging("hostkit-vncd")
	return serve(context.Background(), o)
}

// options are the daemon's flags.
type options struct {
	bus, systemdBus, configPath, runtimeBase, tmp, generatorDir string
}
