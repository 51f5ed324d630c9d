// Command hostkit-bootorder serves the boot order plan and its verification on the system
// bus as org.hostkit.BootOrder1 (see hostkit-bootorder(8)); `hostkit-bootorder plan` plans
// offline for a root directory, and `hostkit-bootorder verify` checks the current boot
// once, as hostkit-bootorder-verify.service does after every boot.
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

func main() {
	if err := run(os.Args[1:]); err != nil {
		lifecycle.Fail("hostkit-bootorder", err)
	}
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "plan":
			return runPlan(args[1:], os.Stdout)
		case "verify":
			return runVerify(args[1:], os.Stdout)
		}
	}
	fs := flag.NewFlagSet("hostkit-bootorder", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.bus, "bus", "system", bus.FlagUsage)
	fs.StringVar(&o.configPath, "config", config.Path("boot-order"), "configuration file (drop-ins in FILE.d/*.conf)")
	o.addPlanFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hostkit-bootorder [--bus BUS] [--config FILE] [--plan FILE] [--systemd-bus BUS] [--state-dir DIR]\n"+
			"       hostkit-bootorder plan --root DIR [--json] [--mode drop-ins|wrappers]\n"+
			"       hostkit-bootorder verify [--plan FILE] [--systemd-bus BUS] [--state-dir DIR] [--json]\n")
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
		fmt.Println("hostkit-bootorder", version.Version)
		return nil
	}
	lifecycle.SetupLogging("hostkit-bootorder")
	return serve(context.Background(), o)
}

// options are the daemon's flags; verify shares the plan and systemd ones.
type options struct {
	bus        string
	configPath string
	planFile   string
	systemdBus string
	stateDir   string
}

// addPlanFlags adds the flags the daemon and `verify` share.
func (o *options) addPlanFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.planFile, "plan", defaultPlanFile,
		"plan JSON to serve and verify; when the default is missing, plan now from /")
	fs.StringVar(&o.systemdBus, "systemd-bus", "system", "bus on which to ask systemd for the units' timestamps")
	fs.StringVar(&o.stateDir, "state-dir", defaultStateDir, "directory keeping the last verification of this boot")
}
