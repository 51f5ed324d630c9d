package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/bootorder"
)

// violationMessageID is the MESSAGE_ID= of the journal entry logged for each violation,
// so that `journalctl MESSAGE_ID=71a5be5178a84f7889742b94bb9fbfb4` lists them all.
const violationMessageID = "71a5be5178a84f7889742b94bb9fbfb4"

// runVerify is `hostkit-bootorder verify`: verify the current boot once, log every
// violation to the journal and print a summary (or the JSON with --json). Violations are
// the result, not a failure: the exit status is 0 with them, 1 only when the plan cannot
// be read or systemd cannot be asked.
func runVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkit-bootorder verify", flag.ContinueOnError)
	var o options
	o.addPlanFlags(fs)
	asJSON := fs.Bool("json", false, "print the verification as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return lifecycle.UsageError(fmt.Errorf("verify: unexpected argument %q", fs.Arg(0)))
	}
	lifecycle.SetupLogging("hostkit-bootorder")
	p, source, err := loadPlan(o.planFile)
	if err != nil {
		return err
	}
	conn, done, err := systemdConn(nil, "", o.systemdBus)
	if err != nil {
		return fmt.Errorf("cannot verify the boot order: %w", err)
	}
	defer done()
	v, err := verifyNow(context.Background(), conn, o.systemdBus, p)
	if err != nil {
		return err
	}
	slog.Info("verifying the boot order", "plan_source", source)
	logVerification(v)
	if err := saveVerification(o.stateDir, v); err != nil {
		slog.Warn("verification not kept for hostkit-bootorder", "err", err)
	}
	if *asJSON {
		enc := json.NewEncoder(term.NewJSONWriter(stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return bootorder.WriteVerificationText(term.NewWriter(stdout), v)
}

// logVerification logs each violation as its own journal entry, with UNIT= (the unit that
// started too early), AFTER= (the unit it should have waited for) and
// OBJECT_SYSTEMD_UNIT=, which makes the entry show in `journalctl -u UNIT` when logged as
// root; then one summary entry.
func logVerification(v *bootorder.Verification) {
	for _, e := range v.Edges {
		if e.Status != bootorder.EdgeViolated {
			continue
		}
		attrs := []any{
			"message_id", violationMessageID,
			"unit", e.Then,
			"after", e.First,
			"object_systemd_unit", e.Then,
			"detail", e.Detail,
			"timestamps_from", e.Source,
			"boot_id", v.BootID,
		}
		if e.Why != "" {
			attrs = append(attrs, "planned_because", e.Why)
		}
		slog.Warn(fmt.Sprintf("boot order violated: %s began starting before %s was up", e.Then, e.First), attrs...)
	}
	for _, n := range v.Notes {
		slog.Info("boot order verification note: "+n, "boot_id", v.BootID)
	}
	level := slog.LevelInfo
	if v.Violations > 0 {
		level = slog.LevelWarn
	}
	slog.Log(context.Background(), level, "boot order verified: "+v.Summary(),
		"checked", v.Checked, "violations", v.Violations, "not_run", len(v.NotRun), "boot_id", v.BootID)
}
