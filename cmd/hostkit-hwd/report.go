package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hostkit/hostkit/services/hardware"
)

// runReport implements `hostkit-hwd report [--from-dump FILE] [--json] [--sysfs DIR]`:
// it prints the hardware report read from a dmidecode dump or from sysfs, as text or,
// with --json, as the full indented JSON report (serials included: the caller runs it
// and can read the tables anyway). A machine without SMBIOS tables prints the
// unavailable report and returns nil; an unreadable or unusable file is an error naming
// it; --help prints usage and returns nil.
func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkit-hwd report", flag.ContinueOnError)
	dump := fs.String("from-dump", "", "read the tables from `FILE` written by dmidecode --dump-bin instead of sysfs")
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	sysfs := fs.String("sysfs", hardware.SysfsDir, "read smbios_entry_point and DMI from `DIR`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("report: unexpected argument %q", fs.Arg(0))
	}

	var (
		r   *hardware.Report
		err error
	)
	if *dump != "" {
		r, err = hardware.ReadDump(*dump)
	} else {
		r, err = hardware.ReadSysfs(*sysfs)
		if errors.Is(err, hardware.ErrNoTables) {
			r, err = hardware.Unavailable(*sysfs, err.Error()), nil
		}
	}
	if err != nil {
		return err
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return hardware.WriteText(stdout, r)
}
