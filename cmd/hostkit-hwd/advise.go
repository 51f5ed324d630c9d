package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/services/hardware"
)

// runAdvise implements `hostkit-hwd advise [--from-dump FILE | --sysfs DIR] --add NxSIZE
// [request options] [--json]`: the memory upgrade advisor on the tables read as report
// reads them. It prints the advice (as JSON with --json) and returns a
// *lifecycle.ExitStatus with the verdict's exit status (nil for "fits"); a wrong command line
// is a usage error, and tables that cannot be read are exit status 3 with the error.
func runAdvise(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkit-hwd advise", flag.ContinueOnError)
	req := hardware.RequestFlags(fs)
	dump := fs.String("from-dump", "", "read the tables from `FILE` written by dmidecode --dump-bin instead of sysfs")
	sysfs := fs.String("sysfs", hardware.SysfsDir, "read smbios_entry_point and DMI from `DIR`")
	asJSON := fs.Bool("json", false, "print the advice as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return lifecycle.UsageError(fmt.Errorf("advise: unexpected argument %q", fs.Arg(0)))
	}
	if err := req.Check(); err != nil {
		return lifecycle.UsageError(fmt.Errorf("advise: %w", err))
	}
	r, err := readTables(fs, *dump, *sysfs)
	if err != nil {
		return &lifecycle.ExitStatus{Code: hardware.ExitCannotTell, Err: err}
	}
	advice := hardware.Advise(r, req)
	if err := hardware.PrintAdvice(stdout, advice, *asJSON); err != nil {
		return err
	}
	if code := advice.ExitStatus(); code != 0 {
		return &lifecycle.ExitStatus{Code: code}
	}
	return nil
}
