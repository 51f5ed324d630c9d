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
	commands["hw advise"] = command{"--add NxSIZE [--type TYPE] [--speed MT/s] [--form-factor DIMM|SODIMM] [--ecc|--no-ecc] [--registered|--unbuffered|--lrdimm] [--rank N] [--from-dump FILE] [--json]", hwAdvise}
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

// hwAdvise asks the memory upgrade advisor, with the words of `hostkit-hwd advise`:
// through the service's Advise(), or, with --from-dump, on a dump read here without
// a bus. It prints the advice (JSON with --json) and exits with its status: 0 fits,
// 1 fits with warnings, 2 does not fit, 3 cannot tell (also when there is no answer:
// no service, an unreadable dump), 64 for a wrong command line.
func hwAdvise(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl hw advise", flag.ContinueOnError)
	req := hardware.RequestFlags(fs)
	dump := fs.String("from-dump", "", "advise on the tables in `FILE` written by dmidecode --dump-bin, without the service")
	asJSON := fs.Bool("json", false, "print the advice as JSON, as Advise() returns it")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := req.Check(); err != nil {
		return lifecycle.UsageError(fmt.Errorf("hw advise: %w", err))
	}
	var advice *hardware.Advice
	if *dump != "" {
		r, err := hardware.ReadDump(*dump)
		if err != nil {
			return &lifecycle.ExitStatus{Code: 3, Err: err}
		}
		advice = hardware.Advise(r, req)
	} else {
		var data string
		if err := callService(busSpec, hwName, hwPath, "Advise", false, []any{req.String()}, &data); err != nil {
			return &lifecycle.ExitStatus{Code: 3, Err: err}
		}
		advice = &hardware.Advice{}
		if err := json.Unmarshal([]byte(data), advice); err != nil {
			return &lifecycle.ExitStatus{Code: 3, Err: fmt.Errorf("Advise() returned advice this hostkitctl cannot read: %w", err)}
		}
	}
	var err error
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(advice)
	} else {
		err = hardware.WriteAdvice(term.NewWriter(stdout), advice)
	}
	if err != nil {
		return err
	}
	if code := advice.ExitStatus(); code != 0 {
		return &lifecycle.ExitStatus{Code: code}
	}
	return nil
}
