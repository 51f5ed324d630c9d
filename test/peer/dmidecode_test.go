package peer

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// dmiStructure is one block of `dmidecode` text output:
//
//	Handle 0x0011, DMI type 17, 40 bytes
//	Memory Device
//		Size: 8 GB
type dmiStructure struct {
	handle int
	typ    int
	title  string
	fields map[string]string
}

// dmiOutput is the parsed output of one dmidecode run.
type dmiOutput struct {
	version    string // from "SMBIOS 2.7 present."
	structures []dmiStructure
}

var (
	dmiHandleLine  = regexp.MustCompile(`^Handle 0x([0-9A-Fa-f]{4}), DMI type (\d+), (\d+) bytes$`)
	dmiVersionLine = regexp.MustCompile(`^SMBIOS (\S+) present\.$`)
)

// parseDmidecode reads dmidecode's text output. Only single-line "\tKey: Value" fields
// are kept; list continuations ("\t\tvalue") and keys without a value are skipped,
// since no compared field uses them. Values are trimmed, as hostkit trims strings.
func parseDmidecode(out string) (dmiOutput, error) {
	var (
		d   dmiOutput
		cur *dmiStructure
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := dmiVersionLine.FindStringSubmatch(line); m != nil {
			d.version = m[1]
			continue
		}
		if m := dmiHandleLine.FindStringSubmatch(line); m != nil {
			h, _ := strconv.ParseUint(m[1], 16, 16)
			t, _ := strconv.Atoi(m[2])
			d.structures = append(d.structures, dmiStructure{handle: int(h), typ: t, fields: map[string]string{}})
			cur = &d.structures[len(d.structures)-1]
			continue
		}
		switch {
		case cur == nil || line == "":
			cur = nil
		case !strings.HasPrefix(line, "\t"):
			if cur.title == "" {
				cur.title = line
			}
		case strings.HasPrefix(line, "\t\t"):
		default:
			key, value, ok := strings.Cut(strings.TrimPrefix(line, "\t"), ":")
			if ok && value != "" {
				cur.fields[key] = strings.TrimSpace(value)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return d, err
	}
	if d.version == "" {
		return d, fmt.Errorf("no \"SMBIOS X present.\" line in dmidecode output")
	}
	return d, nil
}

// ofType returns the structures of type t in table order.
func (d dmiOutput) ofType(t int) []dmiStructure {
	var s []dmiStructure
	for _, st := range d.structures {
		if st.typ == t {
			s = append(s, st)
		}
	}
	return s
}

// dmiUnits are the units dmidecode 3.4 prints sizes in. They are powers of 1024 even
// though it labels them kB/MB/GB (dmi_print_memory_size).
var dmiUnits = map[string]uint64{
	"bytes": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50, "EB": 1 << 60,
}

// parseDmiSize converts a dmidecode size to bytes: "No Module Installed" is 0,
// "Unknown" is unknown (ok true, known false), "16384 MB" is 16 GiB.
func parseDmiSize(s string) (bytes uint64, known bool, err error) {
	switch s {
	case "No Module Installed":
		return 0, true, nil
	case "Unknown":
		return 0, false, nil
	}
	num, unit, ok := strings.Cut(s, " ")
	mult, unitOK := dmiUnits[unit]
	n, perr := strconv.ParseUint(num, 10, 64)
	if !ok || !unitOK || perr != nil {
		return 0, false, fmt.Errorf("unrecognised dmidecode size %q", s)
	}
	return n * mult, true, nil
}

// parseDmiNumber converts "2400 MT/s", "3400 MHz" or "4" (with the given unit suffix,
// possibly empty) to a number; "Unknown" is unknown.
func parseDmiNumber(s, unit string) (n int, known bool, err error) {
	if s == "Unknown" {
		return 0, false, nil
	}
	num := strings.TrimSuffix(s, unit)
	n, err = strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return 0, false, fmt.Errorf("unrecognised dmidecode number %q", s)
	}
	return n, true, nil
}
