package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/hostkit/hostkit/services/hardware"
)

func init() {
	commands["hw report"] = command{"[--json]", hwReport}
	commands["hw serial"] = command{"", hwSerial}
	commands["hw reload"] = command{"", hwReload}
}

const hwName, hwPath = "org.hostkit.Hardware1", "/org/hostkit/Hardware1"

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
	if err := callService(busSpec, hwName, hwPath, "Describe", false, nil, &data); err != nil {
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
	if err := callService(busSpec, hwName, hwPath, "GetHardwareSerial", true, nil, &serial); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, serial)
	return err
}

func hwReload(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("hw reload takes no arguments")
	}
	return callService(busSpec, hwName, hwPath, "Reload", true, nil)
}
