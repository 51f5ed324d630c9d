package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/vnc"
)

func init() {
	commands["vnc status"] = command{"[:N] [--json]", vncStatus}
	commands["vnc start"] = command{":N", vncUnitCommand("Start")}
	commands["vnc stop"] = command{":N", vncUnitCommand("Stop")}
	commands["vnc restart"] = command{":N", vncUnitCommand("Restart")}
	commands["vnc clean"] = command{":N [--kill]", vncClean}
	commands["vnc screenshot"] = command{":N -o FILE.png", vncScreenshot}
	commands["vnc reload"] = command{"   (apply /etc/hostkit/vnc.conf now)", vncReload}
	commands["vnc import"] = command{"[--write] [--root DIR]   (from TigerVNC's vncserver.users, ~/.vnc/config, /etc/sysconfig/vncservers)", vncImport}
	localCommands["vnc import"] = true
}

const (
	vncName    = "org.hostkit.VNC1"
	vncPath    = dbus.ObjectPath("/org/hostkit/VNC1")
	vncDisplay = "org.hostkit.VNC1.Display"
)

// parseDisplay reads ":1" or "1"; anything else is a usage error.
func parseDisplay(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, ":"))
	if err != nil || n < 0 || n > vnc.MaxNumber {
		return 0, lifecycle.UsageError(fmt.Errorf("%q is not a display (write :1 for display 1)", s))
	}
	return n, nil
}

func vncDisplayPath(n int) dbus.ObjectPath {
	return dbus.ObjectPath(fmt.Sprintf("%s/display/%d", vncPath, n))
}

// vncDisplayFlags parses ":N [flags]" in any order.
func vncDisplayFlags(name string, args []string, fs *flag.FlagSet) (int, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], ":") || (args[i] != "" && args[i][0] >= '0' && args[i][0] <= '9') {
			rest = append(rest, args[i])
			continue
		}
		if err := parseFlags(fs, args[i:], 1); err != nil {
			return 0, err
		}
		rest = append(rest, fs.Args()...)
		break
	}
	if len(rest) != 1 {
		return 0, lifecycle.UsageError(fmt.Errorf("vnc %s takes one display, e.g. `hostkitctl vnc %s :1`", name, name))
	}
	return parseDisplay(rest[0])
}

func vncUnitCommand(method string) func(string, []string, io.Writer) error {
	name := strings.ToLower(method)
	return func(busSpec string, args []string, stdout io.Writer) error {
		fs := flag.NewFlagSet("hostkitctl vnc "+name, flag.ContinueOnError)
		n, err := vncDisplayFlags(name, args, fs)
		if err != nil {
			return err
		}
		return callInterface(busSpec, vncName, vncDisplayPath(n), vncDisplay, method, true, nil)
	}
}

func vncClean(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl vnc clean", flag.ContinueOnError)
	kill := fs.Bool("kill", false, "end the live processes that hold the display")
	n, err := vncDisplayFlags("clean", args, fs)
	if err != nil {
		return err
	}
	if err := callInterface(busSpec, vncName, vncDisplayPath(n), vncDisplay, "Clean", true, []any{*kill}); err != nil {
		return err
	}
	var stale uint32
	stdout = term.NewWriter(stdout)
	fmt.Fprintf(stdout, "display :%d is clean", n)
	if err := getDisplayProperty(busSpec, n, "StaleCleanups", &stale); err == nil {
		fmt.Fprintf(stdout, " (stale claims removed so far: %d)", stale)
	}
	fmt.Fprintln(stdout)
	return nil
}

func getDisplayProperty(busSpec string, n int, name string, out any) error {
	var v dbus.Variant
	if err := callInterface(busSpec, vncName, vncDisplayPath(n), "org.freedesktop.DBus.Properties", "Get", false,
		[]any{vncDisplay, name}, &v); err != nil {
		return err
	}
	return v.Store(out)
}

func vncScreenshot(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl vnc screenshot", flag.ContinueOnError)
	out := fs.String("o", "", "write the PNG to `FILE` (- for standard output)")
	n, err := vncDisplayFlags("screenshot", args, fs)
	if err != nil {
		return err
	}
	if *out == "" {
		return lifecycle.UsageError(errors.New("vnc screenshot needs -o FILE.png (or -o - for standard output)"))
	}
	var png []byte
	if err := callInterface(busSpec, vncName, vncDisplayPath(n), vncDisplay, "Screenshot", true, nil, &png); err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(png)
		return err
	}
	if err := os.WriteFile(*out, png, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(term.NewWriter(stdout), "wrote %s (%d bytes)\n", *out, len(png))
	return nil
}

func vncReload(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return lifecycle.UsageError(fmt.Errorf("vnc reload takes no arguments"))
	}
	if err := callService(busSpec, vncName, vncPath, "Reload", true, nil); err != nil {
		return err
	}
	return vncStatus(busSpec, nil, stdout)
}

func vncStatus(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl vnc status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print Describe()'s JSON")
	only := -1
	var flags []string
	for _, a := range args {
		if strings.HasPrefix(a, ":") {
			n, err := parseDisplay(a)
			if err != nil {
				return err
			}
			only = n
		} else {
			flags = append(flags, a)
		}
	}
	if err := parseFlags(fs, flags, 0); err != nil {
		return err
	}
	var data string
	if err := callService(busSpec, vncName, vncPath, "Describe", false, nil, &data); err != nil {
		return err
	}
	var d vnc.Description
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return fmt.Errorf("Describe() returned JSON this hostkitctl cannot read: %w", err)
	}
	if *asJSON {
		if only < 0 {
			return writeIndented(stdout, "Describe", data)
		}
		var all struct {
			Displays []json.RawMessage `json:"displays"`
		}
		json.Unmarshal([]byte(data), &all)
		for i, disp := range d.Displays {
			if disp.Number == only {
				return writeIndented(stdout, "Describe", string(all.Displays[i]))
			}
		}
		return fmt.Errorf("display :%d is not in %s", only, d.Config)
	}
	stdout = term.NewWriter(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DISPLAY\tUSER\tLISTEN\tSTATE\tCLIENTS\tXVNC PID\tSINCE\tRESTARTS\tLAST EXIT\tBLANK")
	found := false
	var errs []string
	for _, disp := range d.Displays {
		if only >= 0 && disp.Number != only {
			continue
		}
		found = true
		since := "-"
		if disp.StartedAt > 0 {
			since = time.UnixMicro(int64(disp.StartedAt)).Format("15:04:05")
		}
		pid, last, blank := "-", disp.LastExit, "no"
		if disp.MainPID > 0 {
			pid = strconv.Itoa(int(disp.MainPID))
		}
		if last == "" {
			last = "-"
		}
		if disp.Blank {
			blank = "yes"
		}
		fmt.Fprintf(tw, ":%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", disp.Number, disp.User,
			disp.Listen+":"+strconv.Itoa(int(disp.Port)), disp.State, disp.Clients, pid, since, disp.Restarts, last, blank)
		if disp.LastError != "" {
			errs = append(errs, fmt.Sprintf(":%d: %s", disp.Number, disp.LastError))
		}
	}
	if only >= 0 && !found {
		return fmt.Errorf("display :%d is not in %s", only, d.Config)
	}
	if !found {
		fmt.Fprintf(stdout, "no displays in %s (see vnc.conf(5), or `hostkitctl vnc import`)\n", d.Config)
		return nil
	}
	tw.Flush()
	for _, e := range errs {
		fmt.Fprintln(stdout, e)
	}
	return nil
}

// vncImport converts TigerVNC's configuration locally: it reads files, not the bus.
func vncImport(_ string, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("hostkitctl vnc import", flag.ContinueOnError)
	write := flags.Bool("write", false, "write the displays to /etc/hostkit/vnc.conf.d/50-imported.conf instead of printing them")
	root := flags.String("root", "/", "read the files below `DIR` (a copy of another machine's /etc and /home)")
	if err := parseFlags(flags, args, 0); err != nil {
		return err
	}
	stdout = term.NewWriter(stdout)
	existing, err := vnc.Load(filepath.Join(*root, "etc/hostkit/vnc.conf"))
	if err != nil {
		return fmt.Errorf("the current vnc.conf: %w", err)
	}
	im, err := vnc.Import(*root, existing)
	if err != nil {
		return err
	}
	for _, n := range im.Notes {
		fmt.Fprintln(os.Stderr, "note:", term.Escape(n.String()))
	}
	if len(im.Displays) == 0 {
		return fmt.Errorf("no display to import under %s (read %s and %s)", *root, vnc.UsersFile, vnc.SysconfigFile)
	}
	conf := im.Conf()
	next := term.NewWriter(os.Stderr)
	if *write {
		path := filepath.Join(*root, "etc/hostkit/vnc.conf.d/50-imported.conf")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists: move it away first, or import without --write", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s with %d displays\n", path, len(im.Displays))
		next = stdout
	} else {
		fmt.Fprint(stdout, conf)
	}
	fmt.Fprintln(next, "\nthen, to switch over:")
	for _, c := range im.Disable {
		fmt.Fprintln(next, "  "+c)
	}
	fmt.Fprintln(next, "  hostkitctl vnc reload")
	return nil
}
