// Package peer checks hostkit-hwd's hardware report against dmidecode, the tool it
// replaces, on real SMBIOS dumps: the report is right where the two agree.
package peer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// report is the part of `hostkit-hwd report --json` compared here, declared from the
// documented JSON names rather than imported, so a renamed field fails this test.
type report struct {
	Available     bool   `json:"available"`
	SMBIOSVersion string `json:"smbios_version"`
	BIOS          *struct {
		Vendor  *string           `json:"vendor"`
		Version *string           `json:"version"`
		Raw     map[string]string `json:"raw"`
	} `json:"bios"`
	System *struct {
		Manufacturer *string           `json:"manufacturer"`
		Product      *string           `json:"product"`
		Serial       *string           `json:"serial"`
		UUID         *string           `json:"uuid"`
		Raw          map[string]string `json:"raw"`
	} `json:"system"`
	Baseboard *struct {
		Manufacturer *string           `json:"manufacturer"`
		Product      *string           `json:"product"`
		Serial       *string           `json:"serial"`
		Raw          map[string]string `json:"raw"`
	} `json:"baseboard"`
	Chassis *struct {
		Type *string `json:"type"`
	} `json:"chassis"`
	Processors []struct {
		Handle      int     `json:"handle"`
		Socket      *string `json:"socket"`
		MaxSpeedMHz *int    `json:"max_speed_mhz"`
		Cores       *int    `json:"cores"`
		Threads     *int    `json:"threads"`
		Populated   *bool   `json:"populated"`
	} `json:"processors"`
	Memory struct {
		Arrays []struct {
			Handle           int      `json:"handle"`
			Location         *string  `json:"location"`
			Use              *string  `json:"use"`
			ECC              *string  `json:"ecc"`
			MaxCapacityBytes *uint64  `json:"max_capacity_bytes"`
			Slots            *int     `json:"slots"`
			Devices          []device `json:"devices"`
		} `json:"arrays"`
		MappedRanges []struct {
			Handle     int     `json:"handle"`
			StartBytes *uint64 `json:"start_bytes"`
			EndBytes   *uint64 `json:"end_bytes"`
		} `json:"mapped_ranges"`
		Controllers []struct {
			Handle         int     `json:"handle"`
			MaxModuleBytes *uint64 `json:"max_module_bytes"`
			Slots          *int    `json:"slots"`
			MaxTotalBytes  *uint64 `json:"max_total_bytes"`
		} `json:"controllers"`
	} `json:"memory"`
}

type device struct {
	Handle              int               `json:"handle"`
	ArrayHandle         *int              `json:"array_handle"`
	Locator             *string           `json:"locator"`
	BankLocator         *string           `json:"bank_locator"`
	SizeBytes           *uint64           `json:"size_bytes"`
	FormFactor          *string           `json:"form_factor"`
	Type                *string           `json:"type"`
	TypeDetail          *string           `json:"type_detail"`
	SpeedMTs            *int              `json:"speed_mts"`
	ConfiguredSpeedMTs  *int              `json:"configured_speed_mts"`
	Manufacturer        *string           `json:"manufacturer"`
	Serial              *string           `json:"serial"`
	PartNumber          *string           `json:"part_number"`
	Rank                *int              `json:"rank"`
	TotalWidthBits      *int              `json:"total_width_bits"`
	DataWidthBits       *int              `json:"data_width_bits"`
	MinimumVoltageMV    *int              `json:"minimum_voltage_mv"`
	MaximumVoltageMV    *int              `json:"maximum_voltage_mv"`
	ConfiguredVoltageMV *int              `json:"configured_voltage_mv"`
	Raw                 map[string]string `json:"raw"`
}

func TestAgainstDmidecode(t *testing.T) {
	root := repo.RootT(t)
	dir := repo.SMBIOSDumpsT(t)
	dumps, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil || len(dumps) == 0 {
		t.Fatalf("no SMBIOS dumps (*.bin) in %s (set HOSTKIT_SMBIOS_DUMPS to the dumps directory): %v", dir, err)
	}
	dmidecode, err := exec.LookPath("dmidecode")
	if err != nil {
		dmidecode = "/usr/sbin/dmidecode"
		if _, err := os.Stat(dmidecode); err != nil {
			t.Fatalf("dmidecode, the peer of this test, is not installed: apt-get install dmidecode")
		}
	}
	hwd := filepath.Join(t.TempDir(), "hostkit-hwd")
	build := exec.Command("go", "build", "-o", hwd, "./cmd/hostkit-hwd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hostkit-hwd: %v\n%s", err, out)
	}

	agree := 0
	var failures []string
	for _, dump := range dumps {
		name := filepath.Base(dump)
		diffs, summary, err := compareDump(hwd, dmidecode, dump)
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("%s: %v", name, err))
		case len(diffs) > 0:
			for _, d := range diffs {
				failures = append(failures, name+": "+d)
			}
			t.Logf("%s: %s; %d fields differ", name, summary, len(diffs))
		default:
			agree++
			t.Logf("%s: %s; agrees", name, summary)
		}
	}
	t.Logf("peer agreement: %d of %d dumps", agree, len(dumps))
	if len(failures) > 0 {
		t.Errorf("hostkit-hwd and dmidecode disagree:\n%s", strings.Join(failures, "\n"))
	}
}

// compareDump runs both tools on one dump and returns every field that differs, plus a
// one-line summary of what was compared.
func compareDump(hwd, dmidecode, dump string) (diffs []string, summary string, err error) {
	ours, err := runOurs(hwd, dump)
	if err != nil {
		return nil, "", err
	}
	out, err := run(dmidecode, "--from-dump", dump)
	if err != nil {
		return nil, "", err
	}
	peer, err := parseDmidecode(out)
	if err != nil {
		return nil, "", fmt.Errorf("parse dmidecode output: %w", err)
	}
	c := &comparison{}
	c.compare(ours, peer)
	summary = fmt.Sprintf("SMBIOS %s, %d processors, %d memory arrays, %d memory devices, %d fields compared, %d shown as null or by name with the firmware's string in raw",
		peer.version, len(peer.ofType(4)), len(peer.ofType(16)), len(peer.ofType(17)), c.fields, c.replaced)
	return c.diffs, summary, nil
}

func runOurs(hwd, dump string) (*report, error) {
	out, err := run(hwd, "report", "--from-dump", dump, "--json")
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("hostkit-hwd report --json: %w", err)
	}
	if !r.Available {
		return nil, errors.New("hostkit-hwd reports the tables unavailable")
	}
	return &r, nil
}

func run(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// comparison collects the fields on which hostkit and dmidecode differ.
type comparison struct {
	diffs  []string
	fields int
	// replaced counts the strings hostkit shows as null or by name, keeping the
	// firmware's string in "raw".
	replaced int
}

func (c *comparison) differ(where, field, ours, theirs string) {
	c.diffs = append(c.diffs, fmt.Sprintf("%s %s: hostkit %s, dmidecode %q", where, field, ours, theirs))
}

// str compares a string field. dmidecode prints an unset string as "Not Specified" or
// an empty one as nothing, an index past the strings as "<BAD INDEX>", and leaves the
// line out when the structure is too short: hostkit's null matches each of these.
// Where hostkit shows another value than the firmware's string (a placeholder as null,
// a JEDEC code as a maker's name), raw[key] holds that string, and it must be what
// dmidecode printed. Firmware also stores the literal strings "Not Specified" and
// "Unknown", so those match themselves as well.
func (c *comparison) str(where, field string, fields map[string]string, ours *string, raw map[string]string, key string) {
	c.fields++
	theirs, printed := fields[field]
	if r, ok := raw[key]; ok && key != "" {
		c.replaced++
		if !printed || r != theirs {
			c.differ(where, field, fmt.Sprintf("%s (raw %q)", show(ours), r), theirs)
		}
		return
	}
	switch {
	case !printed || theirs == "Not Specified" || theirs == "<BAD INDEX>" || theirs == "":
		if ours == nil || *ours == theirs {
			return
		}
	case ours != nil && *ours == theirs:
		return
	}
	c.differ(where, field, show(ours), theirs)
}

// enum compares an enumerated value. dmidecode's "Unknown" (the spec's code for unknown)
// and "<OUT OF SPEC>" (a code the spec does not define) are null in hostkit.
func (c *comparison) enum(where, field string, fields map[string]string, ours *string) {
	c.fields++
	theirs, printed := fields[field]
	if !printed || theirs == "Unknown" || theirs == "<OUT OF SPEC>" {
		if ours != nil {
			c.differ(where, field, show(ours), theirs)
		}
		return
	}
	if ours == nil || *ours != theirs {
		c.differ(where, field, show(ours), theirs)
	}
}

// size compares a byte size with dmidecode's "8 GB" / "No Module Installed" / "Unknown".
func (c *comparison) size(where, field string, fields map[string]string, ours *uint64) {
	c.fields++
	theirs, printed := fields[field]
	if !printed {
		if ours != nil {
			c.differ(where, field, show(ours), "(not printed)")
		}
		return
	}
	b, known, err := parseDmiSize(theirs)
	switch {
	case err != nil:
		c.differ(where, field, show(ours), theirs+" ("+err.Error()+")")
	case !known && ours != nil, known && (ours == nil || *ours != b):
		c.differ(where, field, show(ours), theirs)
	}
}

// number compares a count or speed with dmidecode's "2400 MT/s", "4", "Unknown", or a
// line left out (dmidecode omits core and thread counts of 0, i.e. unknown).
func (c *comparison) number(where, field, unit string, fields map[string]string, ours *int) {
	c.fields++
	theirs, printed := fields[field]
	if !printed {
		if ours != nil {
			c.differ(where, field, show(ours), "(not printed)")
		}
		return
	}
	n, known, err := parseDmiNumber(theirs, unit)
	switch {
	case err != nil:
		c.differ(where, field, show(ours), theirs+" ("+err.Error()+")")
	case !known && ours != nil, known && (ours == nil || *ours != n):
		c.differ(where, field, show(ours), theirs)
	}
}

// voltage compares millivolts with dmidecode's "1.35 V" / "Unknown", or a line left out.
func (c *comparison) voltage(where, field string, fields map[string]string, ours *int) {
	c.fields++
	theirs, printed := fields[field]
	if !printed || theirs == "Unknown" {
		if ours != nil {
			c.differ(where, field, show(ours), theirs)
		}
		return
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(theirs, " V"), 64)
	if err != nil || ours == nil || *ours != int(math.Round(v*1000)) {
		c.differ(where, field, show(ours), theirs)
	}
}

// address compares a hex address ("0x0005FFFFFFF") with a byte address.
func (c *comparison) address(where, field string, fields map[string]string, ours *uint64) {
	c.fields++
	theirs := fields[field]
	v, err := strconv.ParseUint(strings.TrimPrefix(theirs, "0x"), 16, 64)
	if err != nil || ours == nil || *ours != v {
		c.differ(where, field, show(ours), theirs)
	}
}

func show[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprintf("%q", fmt.Sprint(*p))
}

func (c *comparison) compare(ours *report, peer dmiOutput) {
	c.fields++
	if ours.SMBIOSVersion != peer.version {
		c.differ("entry point", "SMBIOS version", strconv.Quote(ours.SMBIOSVersion), peer.version)
	}
	if s := peer.ofType(0); len(s) > 0 {
		if ours.BIOS == nil {
			c.differ("BIOS", "section", "null", "present")
		} else {
			where := fmt.Sprintf("BIOS 0x%04X", s[0].handle)
			c.str(where, "Vendor", s[0].fields, ours.BIOS.Vendor, ours.BIOS.Raw, "vendor")
			c.str(where, "Version", s[0].fields, ours.BIOS.Version, ours.BIOS.Raw, "version")
		}
	}
	if s := peer.ofType(1); len(s) > 0 {
		if ours.System == nil {
			c.differ("system", "section", "null", "present")
		} else {
			where := fmt.Sprintf("system 0x%04X", s[0].handle)
			c.str(where, "Manufacturer", s[0].fields, ours.System.Manufacturer, ours.System.Raw, "manufacturer")
			c.str(where, "Product Name", s[0].fields, ours.System.Product, ours.System.Raw, "product")
			c.str(where, "Serial Number", s[0].fields, ours.System.Serial, ours.System.Raw, "serial")
			// dmidecode prints UUIDs it considers absent as "Not Present" / "Not Settable".
			uuid := s[0].fields
			if v := uuid["UUID"]; v == "Not Present" || v == "Not Settable" {
				uuid = map[string]string{}
			}
			c.str(where, "UUID", uuid, ours.System.UUID, ours.System.Raw, "uuid")
		}
	}
	if s := peer.ofType(2); len(s) > 0 && ours.Baseboard != nil {
		where := fmt.Sprintf("baseboard 0x%04X", s[0].handle)
		c.str(where, "Manufacturer", s[0].fields, ours.Baseboard.Manufacturer, ours.Baseboard.Raw, "manufacturer")
		c.str(where, "Product Name", s[0].fields, ours.Baseboard.Product, ours.Baseboard.Raw, "product")
		c.str(where, "Serial Number", s[0].fields, ours.Baseboard.Serial, ours.Baseboard.Raw, "serial")
	}
	if s := peer.ofType(3); len(s) > 0 && ours.Chassis != nil {
		c.enum(fmt.Sprintf("chassis 0x%04X", s[0].handle), "Type", s[0].fields, ours.Chassis.Type)
	}
	c.compareProcessors(ours, peer)
	c.compareMemory(ours, peer)
}

func (c *comparison) compareProcessors(ours *report, peer dmiOutput) {
	theirs := peer.ofType(4)
	if len(theirs) != len(ours.Processors) {
		c.differ("processors", "count", strconv.Itoa(len(ours.Processors)), strconv.Itoa(len(theirs)))
		return
	}
	for i, s := range theirs {
		p := ours.Processors[i]
		where := fmt.Sprintf("processor 0x%04X", s.handle)
		if p.Handle != s.handle {
			c.differ(where, "handle", fmt.Sprintf("0x%04X", p.Handle), fmt.Sprintf("0x%04X", s.handle))
			continue
		}
		c.str(where, "Socket Designation", s.fields, p.Socket, nil, "")
		c.number(where, "Max Speed", " MHz", s.fields, p.MaxSpeedMHz)
		c.number(where, "Core Count", "", s.fields, p.Cores)
		c.number(where, "Thread Count", "", s.fields, p.Threads)
		c.fields++
		populated := strings.HasPrefix(s.fields["Status"], "Populated")
		if p.Populated == nil || *p.Populated != populated {
			c.differ(where, "Status", show(p.Populated), s.fields["Status"])
		}
	}
}

func (c *comparison) compareMemory(ours *report, peer dmiOutput) {
	devices := map[int]device{}
	arrays := map[int]int{}
	for i, a := range ours.Memory.Arrays {
		arrays[a.Handle] = i
		for _, d := range a.Devices {
			devices[d.Handle] = d
		}
	}
	for _, s := range peer.ofType(16) {
		where := fmt.Sprintf("memory array 0x%04X", s.handle)
		i, ok := arrays[s.handle]
		if !ok {
			c.differ(where, "array", "missing", "present")
			continue
		}
		a := ours.Memory.Arrays[i]
		c.enum(where, "Location", s.fields, a.Location)
		c.enum(where, "Use", s.fields, a.Use)
		c.enum(where, "Error Correction Type", s.fields, a.ECC)
		c.size(where, "Maximum Capacity", s.fields, a.MaxCapacityBytes)
		c.number(where, "Number Of Devices", "", s.fields, a.Slots)
	}
	theirDevices := peer.ofType(17)
	if len(theirDevices) != len(devices) {
		c.differ("memory devices", "count", strconv.Itoa(len(devices)), strconv.Itoa(len(theirDevices)))
	}
	for _, s := range theirDevices {
		where := fmt.Sprintf("memory device 0x%04X", s.handle)
		d, ok := devices[s.handle]
		if !ok {
			c.differ(where, "device", "missing", "present")
			continue
		}
		c.fields++
		if h, err := strconv.ParseUint(strings.TrimPrefix(s.fields["Array Handle"], "0x"), 16, 16); err != nil || d.ArrayHandle == nil || *d.ArrayHandle != int(h) {
			c.differ(where, "Array Handle", show(d.ArrayHandle), s.fields["Array Handle"])
		}
		c.str(where, "Locator", s.fields, d.Locator, nil, "")
		c.str(where, "Bank Locator", s.fields, d.BankLocator, nil, "")
		c.size(where, "Size", s.fields, d.SizeBytes)
		c.enum(where, "Form Factor", s.fields, d.FormFactor)
		c.enum(where, "Type", s.fields, d.Type)
		c.enum(where, "Type Detail", s.fields, d.TypeDetail)
		c.number(where, "Speed", " MT/s", s.fields, d.SpeedMTs)
		c.number(where, "Configured Memory Speed", " MT/s", s.fields, d.ConfiguredSpeedMTs)
		c.str(where, "Manufacturer", s.fields, d.Manufacturer, d.Raw, "manufacturer")
		c.str(where, "Serial Number", s.fields, d.Serial, d.Raw, "serial")
		c.str(where, "Part Number", s.fields, d.PartNumber, d.Raw, "part_number")
		c.number(where, "Rank", "", s.fields, d.Rank)
		c.number(where, "Total Width", " bits", s.fields, d.TotalWidthBits)
		c.number(where, "Data Width", " bits", s.fields, d.DataWidthBits)
		c.voltage(where, "Minimum Voltage", s.fields, d.MinimumVoltageMV)
		c.voltage(where, "Maximum Voltage", s.fields, d.MaximumVoltageMV)
		c.voltage(where, "Configured Voltage", s.fields, d.ConfiguredVoltageMV)
	}
	theirCtrls := peer.ofType(5)
	if len(theirCtrls) != len(ours.Memory.Controllers) {
		c.differ("memory controllers", "count", strconv.Itoa(len(ours.Memory.Controllers)), strconv.Itoa(len(theirCtrls)))
	} else {
		for i, s := range theirCtrls {
			m := ours.Memory.Controllers[i]
			where := fmt.Sprintf("memory controller 0x%04X", s.handle)
			c.size(where, "Maximum Memory Module Size", s.fields, m.MaxModuleBytes)
			c.size(where, "Maximum Total Memory Size", s.fields, m.MaxTotalBytes)
			c.number(where, "Associated Memory Slots", "", s.fields, m.Slots)
		}
	}
	theirRanges := peer.ofType(19)
	if len(theirRanges) != len(ours.Memory.MappedRanges) {
		c.differ("mapped ranges", "count", strconv.Itoa(len(ours.Memory.MappedRanges)), strconv.Itoa(len(theirRanges)))
		return
	}
	for i, s := range theirRanges {
		m := ours.Memory.MappedRanges[i]
		where := fmt.Sprintf("mapped range 0x%04X", s.handle)
		c.address(where, "Starting Address", s.fields, m.StartBytes)
		c.address(where, "Ending Address", s.fields, m.EndBytes)
	}
}
