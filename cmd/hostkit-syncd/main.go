// Command hostkit-syncd keeps directories in step between hosts: it sends the trees of its
// [Job]s to other hosts and receives into its [Module]s, over TLS with pinned keys, and
// serves its state on the system bus as org.hostkit.Sync1 (see hostkit-syncd(8)).
// `hostkit-syncd id` prints this host's fingerprint; `--bus none` runs without a bus.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/version"
	hksync "github.com/hostkit/hostkit/services/sync"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		lifecycle.Fail("hostkit-syncd", err)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "id" {
		return runID(args[1:], stdout)
	}
	fs := flag.NewFlagSet("hostkit-syncd", flag.ContinueOnError)
	busSpec := fs.String("bus", "system", bus.FlagUsage+`, or "none": no bus at all, logs only`)
	configPath := fs.String("config", config.Path("sync"), "configuration file (drop-ins in FILE.d/*.conf)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: hostkit-syncd [--bus BUS|none] [--config FILE]\n       hostkit-syncd id [--config FILE]\n")
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
		fmt.Fprintln(stdout, "hostkit-syncd", version.Version)
		return nil
	}
	lifecycle.SetupLogging("hostkit-syncd")
	return serve(context.Background(), *busSpec, *configPath)
}

// runID implements `hostkit-syncd id [--config FILE]`: it prints this host's fingerprint,
// making the key in StateDirectory= when there is none.
func runID(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkit-syncd id", flag.ContinueOnError)
	configPath := fs.String("config", config.Path("sync"), "configuration file (drop-ins in FILE.d/*.conf)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return lifecycle.UsageError(fmt.Errorf("id: unexpected argument %q", fs.Arg(0)))
	}
	c, err := hksync.Load(*configPath)
	if err != nil {
		return err
	}
	id, err := hksync.LoadIdentity(c.StateDirectory)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, id.Fingerprint)
	return err
}
