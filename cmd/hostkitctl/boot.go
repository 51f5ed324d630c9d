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
	"github.com/hostkit/hostkit/services/bootorder"
)

func init() {
	commands["boot plan"] = command{"[--json]", bootPlan}
	commands["boot verify"] = command{"[--json]   (exit status 1 when the order was violated)", bootVerify}
	commands["boot explain"] = command{"UNIT", bootExplain}
}

const bootName, bootPath = "org.hostkit.BootOrder1", "/org/hostkit/BootOrder1"

// writeIndented writes the JSON a method returned, indented, through term.NewJSONWriter.
func writeIndented(stdout io.Writer, method, data string) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(data), "", "  "); err != nil {
		return fmt.Errorf("%s() returned invalid JSON: %w", method, err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(term.NewJSONWriter(stdout))
	return err
}

func bootPlan(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl boot plan", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the plan as JSON, as Plan() returns it")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	var data string
	if err := callService(busSpec, bootName, bootPath, "Plan", false, nil, &data); err != nil {
		return err
	}
	if *asJSON {
		return writeIndented(stdout, "Plan", data)
	}
	var p bootorder.Plan
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return fmt.Errorf("Plan() returned a plan this hostkitctl cannot read: %w", err)
	}
	return bootorder.WritePlanText(term.NewWriter(stdout), &p)
}

// errViolated makes `boot verify` exit 1 after printing its result: like
// `systemd-analyze verify`, which exits non-zero when it finds problems, so that scripts
// and tests can check the boot with the exit status alone.
type errViolated struct{ n int }

func (e errViolated) Error() string {
	return fmt.Sprintf("the boot order was violated %d times in this boot (journalctl MESSAGE_ID=71a5be5178a84f7889742b94bb9fbfb4 lists them)", e.n)
}

func bootVerify(busSpec string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkitctl boot verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the verification as JSON, as Verify() returns it")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	var data string
	if err := callService(busSpec, bootName, bootPath, "Verify", false, nil, &data); err != nil {
		return err
	}
	var v bootorder.Verification
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return fmt.Errorf("Verify() returned a verification this hostkitctl cannot read: %w", err)
	}
	var err error
	if *asJSON {
		err = writeIndented(stdout, "Verify", data)
	} else {
		err = bootorder.WriteVerificationText(term.NewWriter(stdout), &v)
	}
	if err != nil {
		return err
	}
	if v.Violations > 0 {
		return errViolated{v.Violations}
	}
	return nil
}

func bootExplain(busSpec string, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return lifecycle.UsageError(errors.New("boot explain takes one unit, e.g. `hostkitctl boot explain nginx.service`"))
	}
	var text string
	if err := callService(busSpec, bootName, bootPath, "Explain", false, []any{args[0]}, &text); err != nil {
		return err
	}
	_, err := io.WriteString(term.NewWriter(stdout), text)
	return err
}
