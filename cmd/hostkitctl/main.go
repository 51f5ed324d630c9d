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
	"time"

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

// commands, keyed "group verb" (or one word, as "status"); each service adds its own in
// its own file.
var commands = map[string]command{}

// localCommands are the commands that read this machine's files instead of a bus; they
// cannot run with -H.
var localCommands = map[string]bool{}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if !lifecycle.Quiet(err) {
			fmt.Fprintln(os.Stderr, "hostkitctl:", term.Escape(err.Error()))
		}
		os.Exit(lifecycle.ExitCode(err))
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == completeCommand {
		return complete(args[1:], stdout)
	}
	fs := flag.NewFlagSet("hostkitctl", flag.ContinueOnError)
	busSpec := fs.String("bus", "system", bus.FlagUsage)
	var hosts hostList
	fs.Var(&hosts, "H", "run on `[USER@]HOST[:PORT]` over ssh and systemd-stdio-bridge; repeat it, or give @FILE with a host a line")
	fs.Var(&hosts, "host", "the same as -H")
	timeout := fs.Duration("timeout", 30*time.Second, "with -H: how long one host may take")
	parallel := fs.Int("parallel", 32, "with -H: how many hosts at most are asked at once")
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
	key, cmd, rest, err := lookupCommand(fs.Args())
	if err != nil {
		usage(fs)
		return err
	}
	if len(hosts.hosts) > 0 {
		busSet := false
		fs.Visit(func(f *flag.Flag) { busSet = busSet || f.Name == "bus" })
		if busSet {
			return lifecycle.UsageError(errors.New("-H and --bus exclude each other: -H uses the system bus of each host"))
		}
		if localCommands[key] {
			return lifecycle.UsageError(fmt.Errorf("%s reads this machine's files, not a bus: it cannot run with -H (copy the files and use its --root)", key))
		}
		err = runHosts(&hosts, cmd, rest, stdout, *timeout, *parallel)
	} else {
		err = cmd.run(*busSpec, rest, stdout)
		closeConnections(*busSpec)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command's flag set printed its usage
	}
	return err
}

// lookupCommand finds the command that args name: "GROUP VERB" or a command of one word
// (status); no arguments at all is `status`.
func lookupCommand(args []string) (string, command, []string, error) {
	if len(args) == 0 {
		return "status", commands["status"], nil, nil
	}
	if c, ok := commands[args[0]]; ok {
		return args[0], c, args[1:], nil
	}
	if len(args) < 2 {
		return "", command{}, nil, lifecycle.UsageError(fmt.Errorf("unknown command %q", args[0]))
	}
	key := args[0] + " " + args[1]
	c, ok := commands[key]
	if !ok {
		return "", command{}, nil, lifecycle.UsageError(fmt.Errorf("unknown command %q", key))
	}
	return key, c, args[2:], nil
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
	conn, err := connect(busSpec)
	if err != nil {
		return err
	}
	var flags dbus.Flags
	if underPolkit {
		// A local agent answers for local callers only; on another host (-H) polkit
		// decides there, as for any caller without an agent.
		if !isRemote(busSpec) {
			defer startPolkitAgent()()
		}
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
		lines = append(lines, "  hostkitctl [--bus BUS | -H HOST...] "+key+" "+c.usage)
	}
	sort.Strings(lines)
	fmt.Fprintf(fs.Output(), "usage:\n%s\n", strings.Join(lines, "\n"))
	fs.PrintDefaults()
}
