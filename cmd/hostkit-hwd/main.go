// Command hostkit-hwd serves the hardware report on the system bus as org.hostkit.Hardware1
// (see hostkit-hwd(8)); `hostkit-hwd report` prints it without a bus.
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
		lifecycle.Fail("hostkit-hwd", err)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "report" {
		return runReport(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "advise" {
		return runAdvise(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "smart-helper" {
		return runSmartHelper(args[1:])
	}
	fs := flag.NewFlagSet("hostkit-hwd", flag.ContinueOnError)
	busSpec := fs.String("bus", "system", bus.FlagUsage)
	configPath := fs.String("config", config.Path("hwd"), "configuration file (drop-ins in FILE.d/*.conf)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hostkit-hwd [--bus BUS] [--config FILE]\n       hostkit-hwd report [--from-dump FILE | --sysfs DIR] [--json]\n"+
			"       hostkit-hwd advise [--from-dump FILE | --sysfs DIR] --add NxSIZE [--type TYPE] [--speed MT/s] [--form-factor DIMM|SODIMM]\n"+
			"                          [--ecc|--no-ecc] [--registered|--unbuffered|--lrdimm] [--rank N] [--json]\n")
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
		fmt.Println("hostkit-hwd", version.Version)
		return nil
	}
	lifecycle.SetupLogging("hostkit-hwd")
	return serve(context.Background(), *busSpec, *configPath)
}
