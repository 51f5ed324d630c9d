// Command hostkitctl queries and controls the hostkit services over D-Bus, the way
// hostnamectl speaks to systemd-hostnamed (see hostkitctl(1)).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/internal/version"
)

// A command is one `hostkitctl GROUP VERB`; run gets the remaining arguments. Its text
// output goes through term.NewWriter; a mistake in its arguments is an error marked
// lifecycle.UsageError (exit status 64).
type command struct {
	usage string
	run   func(busSpec string, args []string, stdout io.Writer) error
}

// commands, keyed "group verb"; each service adds its own in its own file.
var commands = map[string]command{}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hostkitctl:", term.Escape(err.Error()))
		os.Exit(lifecycle.ExitCode(err))
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl", flag.ContinueOnError)
	busSpec := fs.String("bus", "system", bus.FlagUsage)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, "hostkitctl", version.Version)
		return nil
	}
	if fs.NArg() < 2 {
		usage(fs)
		return lifecycle.UsageError(errors.New("missing command"))
	}
	key := fs.Arg(0) + " " + fs.Arg(1)
	cmd, ok := commands[key]
	if !ok {
		usage(fs)
		return lifecycle.UsageError(fmt.Errorf("unknown command %q", key))
	}
	err := cmd.run(*busSpec, fs.Args()[2:], stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command's flag set printed its usage
	}
	return err
}

// parseFlags parses a command's flags and allows no further arguments than maxArgs; a
// mistake is a usage error. --help gives flag.ErrHelp, which run turns into success.
func parseFlags(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > maxArgs {
		return lifecycle.UsageError(fmt.Errorf("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), "hostkitctl "), fs.Arg(maxArgs)))
	}
	return nil
}

// callService calls method on the object path of the service dest (whose interface has
// the same name, as every hostkit interface does). A method under polkit (underPolkit)
// allows interactive authorization and starts a password agent on the terminal.
func callService(busSpec, dest string, path dbus.ObjectPath, method string, underPolkit bool, args []any, out ...any) error {
	return callInterface(busSpec, dest, path, dest, method, underPolkit, args, out...)
}

// callInterface is callService for an object whose interface is not named as the service
// (the per-item objects of a service, e.g. org.hostkit.VNC1.Display).
func callInterface(busSpec, dest string, path dbus.ObjectPath, iface, method string, underPolkit bool, args []any, out ...any) error {
	conn, err := bus.Connect(busSpec)
	if err != nil {
		return err
	}
	defer conn.Close()
	var flags dbus.Flags
	if underPolkit {
		defer startPolkitAgent()()
		flags = dbus.FlagAllowInteractiveAuthorization
	}
	call := conn.Object(dest, path).Call(iface+"."+method, flags, args...)
	if call.Err != nil {
		return fmt.Errorf("%s.%s: %w", iface, method, call.Err)
	}
	return call.Store(out...)
}

func usage(fs *flag.FlagSet) {
	var lines []string
	for key, c := range commands {
		lines = append(lines, "  hostkitctl [--bus BUS] "+key+" "+c.usage)
	}
	sort.Strings(lines)
	fmt.Fprintf(fs.Output(), "usage:\n%s\n", strings.Join(lines, "\n"))
	fs.PrintDefaults()
}
