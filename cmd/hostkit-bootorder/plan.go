package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/bootorder"
)

// runPlan implements `hostkit-bootorder plan --root DIR [--json] [--mode drop-ins|wrappers]`:
// it plans the boot order of the system under DIR offline and prints it as a table (UNIT
// PRIORITY TARGETS AFTER, in start order) followed by the warnings as "path:line: message",
// or with --json as the plan's JSON. Paths are as on the target system. Without --mode
// the mode is the one the generator would choose for DIR. Warnings about the input are
// part of the output, not an error: the result is nil whenever DIR could be read. A root
// that is not a readable directory is an error; a bad flag or a bad mode is an error
// marked lifecycle.UsageError; --help prints usage and returns nil. The text goes
// through term.NewWriter: names from DIR may hold control characters.
func runPlan(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkit-bootorder plan", flag.ContinueOnError)
	root := fs.String("root", "", "plan for the system under `DIR` (required; / for this system)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	mode := fs.String("mode", "", "`MODE` to plan for: "+bootorder.ModeDropIns+" or "+bootorder.ModeWrappers+" (default: what DIR's systemd needs)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	switch {
	case fs.NArg() > 0:
		return lifecycle.UsageError(fmt.Errorf("plan: unexpected argument %q", fs.Arg(0)))
	case *root == "":
		return lifecycle.UsageError(errors.New("plan: --root DIR is required (use --root / for this system)"))
	}
	switch *mode {
	case "":
		*mode = bootorder.DetectMode(*root)
	case bootorder.ModeDropIns, bootorder.ModeWrappers:
	default:
		return lifecycle.UsageError(fmt.Errorf("plan: --mode %q: want %s or %s", *mode, bootorder.ModeDropIns, bootorder.ModeWrappers))
	}

	tree, err := bootorder.Scan(*root)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	p := bootorder.PlanOrder(tree, *mode)
	if *asJSON {
		enc := json.NewEncoder(term.NewJSONWriter(stdout))
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	return bootorder.WritePlanText(term.NewWriter(stdout), p)
}
