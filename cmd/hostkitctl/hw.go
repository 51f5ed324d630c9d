package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	"github.com/hostkit/hostkit/services/hardware"
)

func init() {
	commands["hw report"] = command{"[--json]", hwReport}
	commands["hw serial"] = command{"", hwSerial}
	commands["hw reload"] = command{"", hwReload}
}

const hwName, hwPath = "org.hostkit.Hardware1", "/org/hostkit/Hardware1"

// hwCall calls a method of org.hostkit.Hardware1. For a method under polkit it allows
// interactive authorization and starts a password agent on the terminal.
func hwCall(busSpec, method string, polkit bool, out ...any) error {
	conn, err := bus.Connect(busSpec)
	if err != nil {
		return err
	}
	defer conn.Close()
	var flags dbus.Flags
	if polkit {
		defer startPolkitAgent()()
		flags = dbus.FlagAllowInteractiveAuthorization
	}
	call := conn.Object(hwName, hwPath).Call(hwName+"."+method, flags)
	if call.Err != nil {
		return fmt.Errorf("%s.%s: %w", hwName, method, call.Err)
	}
	return call.Store(out...)
}

func hwReport(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl hw report", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON, as Describe() returns it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("hw report: unexpected argument %q", fs.Arg(0))
	}
	var data string
	if err := hwCall(busSpec, "Describe", false, &data); err != nil {
		return err
	}
	if *asJSON {
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(data), "", "  "); err != nil {
			return fmt.Errorf("Describe() returned invalid JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := buf.WriteTo(stdout)
		return err
	}
	var r hardware.Report
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return fmt.Errorf("Describe() returned a report this hostkitctl cannot read: %w", err)
	}
	return hardware.WriteText(stdout, &r)
}

func hwSerial(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("hw serial takes no arguments")
	}
	var serial string
	if err := hwCall(busSpec, "GetHardwareSerial", true, &serial); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, serial)
	return err
}

func hwReload(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("hw reload takes no arguments")
	}
	return hwCall(busSpec, "Reload", true)
}
