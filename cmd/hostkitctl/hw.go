package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
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
	if err := parseFlags(fs, args, 0); err != nil {
		return err
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
	return hardware.WriteText(term.NewWriter(stdout), &r)
}

func hwSerial(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return lifecycle.UsageError(errors.New("hw serial takes no arguments"))
	}
	var serial string
	if err := callService(busSpec, hwName, hwPath, "GetHardwareSerial", true, nil, &serial); err != nil {
		return err
	}
	_, err := fmt.Fprintln(term.NewWriter(stdout), serial)
	return err
}

func hwReload(busSpec string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return lifecycle.UsageError(errors.New("hw reload takes no arguments"))
	}
	return callService(busSpec, hwName, hwPath, "Reload", true, nil)
}
