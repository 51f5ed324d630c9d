package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hostkit/hostkit/internal/lifecycle"
	"github.com/hostkit/hostkit/internal/term"
	"github.com/hostkit/hostkit/services/hardware"
)

// runReport implements `hostkit-hwd report [--from-dump FILE] [--sysfs DIR] [--json]`:
// it prints the hardware report read from a dmidecode dump (a regular file, or a pipe
// such as /dev/stdin) or from sysfs, as text or, with --json, as the full indented JSON
// report (serials included: the caller runs it and can read the tables anyway). A
// machine without SMBIOS tables prints the unavailable report and returns nil; an
// unreadable or unusable file is an error naming it, and so are tables of which nothing
// at all could be decoded (after the report, which says why). With both --from-dump and
// --sysfs the dump is read, as documented. A wrong command line (also an empty FILE or
// DIR) is an error marked lifecycle.UsageError; --help prints usage and returns nil.
func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hostkit-hwd report", flag.ContinueOnError)
	dump := fs.String("from-dump", "", "read the tables from `FILE` written by dmidecode --dump-bin instead of sysfs (a pipe such as /dev/stdin is read too)")
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	sysfs := fs.String("sysfs", hardware.SysfsDir, "read smbios_entry_point and DMI from `DIR`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return lifecycle.UsageError(err)
	}
	if fs.NArg() > 0 {
		return lifecycle.UsageError(fmt.Errorf("report: unexpected argument %q", fs.Arg(0)))
	}
	r, err := readTables(fs, *dump, *sysfs)
	if err != nil {
		return err
	}

	if *asJSON {
		enc := json.NewEncoder(term.NewJSONWriter(stdout))
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = hardware.WriteText(term.NewWriter(stdout), r)
	}
	if err != nil {
		return err
	}
	if r.Available && r.Empty() {
		return fmt.Errorf("nothing could be decoded from the tables of %s (see the warnings)", r.Source)
	}
	return nil
}

// readTables reads the tables for report and advise, whose flag set fs has --from-dump
// and --sysfs: the dump when one is named, else sysfs, where missing tables give the
// unavailable report. The parts of the report that describe the running machine
// (processors from /proc/cpuinfo, virtualization) are added only to a report of its own
// tables: a dump, or a --sysfs copy, may come from another machine. An empty
// --from-dump or --sysfs is a usage error naming the command; a source that cannot be
// read is an error naming it.
func readTables(fs *flag.FlagSet, dump, sysfs string) (*hardware.Report, error) {
	r, err := readSMBIOS(fs, dump, sysfs)
	if err == nil && dump == "" && sysfs == hardware.SysfsDir {
		live := hardware.DefaultLive()
		live.Links = hardware.NewLinkReader()
		defer live.Links.Close()
		r.AddLive(live, true)
	}
	return r, err
}

func readSMBIOS(fs *flag.FlagSet, dump, sysfs string) (*hardware.Report, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cmd := strings.TrimPrefix(fs.Name(), "hostkit-hwd ")
	switch {
	case set["from-dump"] && dump == "":
		return nil, lifecycle.UsageError(fmt.Errorf("%s: --from-dump needs a file name (without --from-dump the tables are read from sysfs)", cmd))
	case set["sysfs"] && sysfs == "":
		return nil, lifecycle.UsageError(fmt.Errorf("%s: --sysfs needs a directory", cmd))
	case dump != "":
		return hardware.ReadDump(dump)
	}
	r, err := hardware.ReadSysfs(sysfs)
	if errors.Is(err, hardware.ErrNoTables) {
		return hardware.Unavailable(sysfs, err.Error()), nil
	}
	return r, err
}
