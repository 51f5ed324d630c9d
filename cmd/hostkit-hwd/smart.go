package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/hardware"
)

// smartSocket is where hostkit-hwd-smart.socket listens; its instances run
// `hostkit-hwd smart-helper` with the connection as standard input and output.
const smartSocket = "/run/hostkit-hwd/smart.sock"

// runSmartHelper implements `hostkit-hwd smart-helper`, run by hostkit-hwd-smart@.service
// for one connection: it reads a device name and answers with smartctl's JSON about it
// (see hardware.ServeSmartHelper). It is the only part of hostkit-hwd with access to the
// disks and the capabilities smartctl needs; the daemon itself has neither.
func runSmartHelper(args []string) error {
	if len(args) > 0 {
		return lifecycle.UsageError(fmt.Errorf("smart-helper takes no arguments (it reads a device name from standard input)"))
	}
	lifecycle.SetupLogging("hostkit-hwd-smart")
	err := hardware.ServeSmartHelper(os.Stdin, os.Stdout, hardware.SysBlockDir, hardware.RunSmartctl)
	if err != nil {
		slog.Warn("SMART request refused or failed", "err", err)
	}
	return nil // the answer says what went wrong; the helper itself did its job
}

// smartReader is how the daemon reads SMART data: through the helper when its socket
// exists (the daemon runs as the sandboxed unit), else by running smartctl itself (the
// daemon was started by hand or by a test, as root).
func smartReader() hardware.SmartReader {
	if info, err := os.Stat(smartSocket); err == nil && info.Mode()&os.ModeSocket != 0 {
		return hardware.SmartHelper(smartSocket)
	}
	return hardware.RunSmartctl
}
