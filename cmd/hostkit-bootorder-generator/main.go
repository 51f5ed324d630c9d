// Command hostkit-bootorder-generator is the systemd generator of hostkit-bootorder (see
// hostkit-bootorder-generator(8) and systemd.generator(7)). systemd runs it early at
// boot and at every daemon-reload, before it loads units, as
//
//	hostkit-bootorder-generator NORMAL-DIR EARLY-DIR LATE-DIR
//
// It reads the init scripts, rcN.d links, rc.local and /etc/hostkit/boot-order.conf,
// plans the boot order and writes it: drop-ins into NORMAL-DIR where
// systemd-sysv-generator wraps the scripts, complete units into LATE-DIR where it does
// not. The plan goes to NORMAL-DIR/hostkit-bootorder.plan.json, where hostkit-bootorder
// reads what was planned for this boot.
//
// A generator must be fast and may not use D-Bus, and bad input must never stop a boot:
// every problem is a warning on stderr (which systemd sends to the journal), prefixed
// with the program name and naming the file, and the generator exits 0. It exits 1 only
// when it cannot write its output directory, or on a bug (a panic, whose stack it logs),
// and 64 (EX_USAGE) when not given one or three directories.
//
// Environment: HOSTKIT_BOOTORDER_ROOT reads the system under another root directory
// (tests, benchmarks; paths in the output stay as on the target). HOSTKIT_BOOTORDER_MODE
// = drop-ins | wrappers overrides the detection of systemd-sysv-generator.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/bootorder"
)

const prog = "hostkit-bootorder-generator"

// RootEnv names the environment variable that sets the root directory to read.
const RootEnv = "HOSTKIT_BOOTORDER_ROOT"

// PlanFile is the name of the saved plan in the normal generator directory.
const PlanFile = "hostkit-bootorder.plan.json"

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) (code int) {
	warn := func(format string, a ...any) {
		// One line per warning, so that each is one journal entry, escaped as all
		// hostkit text is (a script's name may hold control characters).
		fmt.Fprintf(stderr, "%s: %s\n", prog, term.Escape(fmt.Sprintf(format, a...)))
	}
	defer func() {
		if r := recover(); r != nil {
			warn("bug: %v; boot continues without hostkit's ordering, please report this with the stack below", r)
			stderr.Write(debug.Stack())
			code = 1
		}
	}()

	// As systemd's own generators: three directories, or one used for all three.
	var normal, late string
	switch len(args) {
	case 1:
		normal, late = args[0], args[0]
	case 3:
		normal, late = args[0], args[2]
	default:
		warn("usage: %s NORMAL-DIR [EARLY-DIR LATE-DIR] (systemd runs it; see hostkit-bootorder-generator(8))", prog)
		return lifecycle.ExitUsage
	}
	// Init scripts belong to the real root, not to an initrd that may carry generators.
	if os.Getenv("SYSTEMD_IN_INITRD") == "1" {
		return 0
	}
	root := os.Getenv(RootEnv)
	if root == "" {
		root = "/"
	}
	mode := bootorder.DetectMode(root)
	if v := os.Getenv(bootorder.ModeEnv); v != "" && v != mode {
		warn("%s=%q is not %q or %q; ignored, using %s", bootorder.ModeEnv, v, bootorder.ModeDropIns, bootorder.ModeWrappers, mode)
	}

	var p *bootorder.Plan
	if tree, err := bootorder.Scan(root); err != nil {
		// Nothing to order; the plan still says why, for hostkit-bootorder to show.
		warn("%v", err)
		p = &bootorder.Plan{Mode: mode, Warnings: []bootorder.Warning{{Path: root, Message: err.Error()}}}
	} else {
		p = bootorder.PlanOrder(tree, mode)
	}
	// Unsandboxed here, /proc holds this boot's ID even in a container; the verifier,
	// sandboxed, goes by this one.
	if id, err := bootorder.ReadBootID(); err == nil {
		p.BootID = id
	} else {
		warn("%v", err)
	}
	for _, w := range p.Warnings {
		warn("%s", bootorder.FormatWarning(w))
	}

	_, err := bootorder.Generate(p, normal, late)
	if err != nil && !errors.Is(err, bootorder.ErrUnitSkipped) {
		warn("%v", err)
		return 1
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			warn("%s", line)
		}
	}
	if err := savePlan(p, filepath.Join(normal, PlanFile)); err != nil {
		warn("%v", err)
		return 1
	}
	return 0
}

// savePlan writes p as JSON, with empty lists as [] rather than null so that readers of
// the file need no special case.
func savePlan(p *bootorder.Plan, path string) error {
	if p.Units == nil {
		p.Units = []bootorder.Unit{}
	}
	if p.Warnings == nil {
		p.Warnings = []bootorder.Warning{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}
