// Command hostkit-vnc-generator is the systemd generator of hostkit-vncd (see
// hostkit-vncd(8) and systemd.generator(7)). systemd runs it early at boot and at every
// daemon-reload, before it loads units, as
//
//	hostkit-vnc-generator NORMAL-DIR EARLY-DIR LATE-DIR
//
// It reads /etc/hostkit/vnc.conf and its drop-ins and writes, for every display there,
// the socket unit hostkit-vnc@N.socket (wanted by sockets.target) and the drop-in with
// User= of hostkit-vnc@N.service into NORMAL-DIR (see services/vnc/generate.go).
//
// Bad input never stops a boot: a display that vnc.conf describes wrongly is left out
// with a warning naming file and line on stderr (which systemd sends to the journal), and
// a file that cannot be read at all leaves every display out, with the same warning. It
// exits 1 only when it cannot write its output, and 64 (EX_USAGE) when not given one or
// three directories.
//
// Environment: HOSTKIT_VNC_CONFIG reads another configuration file (tests).
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/hostkit/hostkit/internal/config"
	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/vnc"
)

const prog = "hostkit-vnc-generator"

// ConfigEnv names the environment variable that overrides the configuration file.
const ConfigEnv = "HOSTKIT_VNC_CONFIG"

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) (code int) {
	warn := func(format string, a ...any) {
		// One line per warning, so that each is one journal entry, escaped as all
		// hostkit text is.
		fmt.Fprintf(stderr, "%s: %s\n", prog, term.Escape(fmt.Sprintf(format, a...)))
	}
	defer func() {
		if r := recover(); r != nil {
			warn("bug: %v; no VNC display listens until this is fixed, please report this with the stack below", r)
			stderr.Write(debug.Stack())
			code = 1
		}
	}()
	if len(args) != 1 && len(args) != 3 {
		warn("usage: %s NORMAL-DIR [EARLY-DIR LATE-DIR] (systemd runs it; see hostkit-vncd(8))", prog)
		return lifecycle.ExitUsage
	}
	if os.Getenv("SYSTEMD_IN_INITRD") == "1" {
		return 0 // displays belong to the real root
	}
	path := os.Getenv(ConfigEnv)
	if path == "" {
		path = config.Path("vnc")
	}
	c, err := vnc.Load(path)
	if err != nil {
		warn("%v; no display listens until it is fixed (check with `hostkitctl vnc reload`)", err)
		return 0
	}
	problems, err := vnc.Generate(c, args[0])
	for _, p := range problems {
		warn("%v; this display is left out", p)
	}
	if err != nil {
		warn("writing units: %v", err)
		return 1
	}
	return 0
}
