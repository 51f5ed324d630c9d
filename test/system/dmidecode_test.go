package system

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// dmiRecord is one structure as dmidecode prints it: "Handle 0x002F, DMI type 17, 34
// bytes", a title line, then "\tKey: Value" lines (nested "\t\t" lists are dropped).
type dmiRecord struct {
	Handle int
	Type   int
	Title  string
	Fields map[string]string
}

// parseDmidecode reads dmidecode's text output from path. Values are trimmed, as the
// hardware report trims SMBIOS strings.
func parseDmidecode(path string) ([]dmiRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the dmidecode output the expectations come from: %w", err)
	}
	defer f.Close()
	var recs []dmiRecord
	var cur *dmiRecord
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Handle 0x"):
			var h, typ, size int
			if _, err := fmt.Sscanf(line, "Handle 0x%x, DMI type %d, %d bytes", &h, &typ, &size); err != nil {
				return nil, fmt.Errorf("%s:%d: handle line %q: %w", path, n, line, err)
			}
			recs = append(recs, dmiRecord{Handle: h, Type: typ, Fields: map[string]string{}})
			cur = &recs[len(recs)-1]
		case cur == nil || line == "":
		case cur.Title == "":
			cur.Title = line
		case strings.HasPrefix(line, "\t\t"):
		case strings.HasPrefix(line, "\t"):
			k, v, _ := strings.Cut(line[1:], ":")
			cur.Fields[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return recs, nil
}

// expectation is what the hardware report must say about one dump, taken from the
// dmidecode output recorded on the machine the dump came from. A nil string means the
// report must have null there.
type expectation struct {
	BIOSVendor, BIOSVersion, BIOSDate                        *string
	SystemVendor, SystemProduct, SystemVersion, SystemSerial *string
	SystemUUID                                               *string
	BoardVendor, BoardProduct, BoardSerial                   *string
	Sockets                                                  int
	Arrays                                                   []expectedArray
}

type expectedArray struct {
	Handle   int
	Slots    int
	MaxBytes uint64
	Devices  []expectedDevice
}

type expectedDevice struct {
	Handle                           int
	Locator, BankLocator, Type       *string
	Manufacturer, Serial, PartNumber *string
	SizeBytes                        uint64
	SpeedMTs                         int // 0: unknown
}

// Slots returns the number of memory slots of all arrays.
func (e expectation) Slots() (n int) {
	for _, a := range e.Arrays {
		n += a.Slots
	}
	return n
}

// Populated returns the number of slots with a module and their total size.
func (e expectation) Populated() (n int, bytes uint64) {
	for _, a := range e.Arrays {
		for _, d := range a.Devices {
			if d.SizeBytes > 0 {
				n++
				bytes += d.SizeBytes
			}
		}
	}
	return n, bytes
}

// expect turns dmidecode records into the expectation for the report.
func expect(recs []dmiRecord) (expectation, error) {
	var e expectation
	arrays := map[int]int{} // handle -> index in e.Arrays
	for _, r := range recs {
		f := r.Fields
		switch r.Type {
		case 0:
			e.BIOSVendor, e.BIOSVersion, e.BIOSDate = opt(f["Vendor"]), opt(f["Version"]), opt(f["Release Date"])
		case 1:
			e.SystemVendor, e.SystemProduct, e.SystemVersion = opt(f["Manufacturer"]), opt(f["Product Name"]), opt(f["Version"])
			e.SystemSerial, e.SystemUUID = opt(f["Serial Number"]), opt(strings.ToLower(f["UUID"]))
		case 2:
			e.BoardVendor, e.BoardProduct, e.BoardSerial = opt(f["Manufacturer"]), opt(f["Product Name"]), opt(f["Serial Number"])
		case 4:
			e.Sockets++
		case 16:
			max, err := parseSize(f["Maximum Capacity"])
			if err != nil {
				return e, fmt.Errorf("array 0x%04X: %w", r.Handle, err)
			}
			slots, err := strconv.Atoi(f["Number Of Devices"])
			if err != nil {
				return e, fmt.Errorf("array 0x%04X: number of devices: %w", r.Handle, err)
			}
			arrays[r.Handle] = len(e.Arrays)
			e.Arrays = append(e.Arrays, expectedArray{Handle: r.Handle, Slots: slots, MaxBytes: max})
		case 17:
			var array int
			if _, err := fmt.Sscanf(f["Array Handle"], "0x%x", &array); err != nil {
				return e, fmt.Errorf("device 0x%04X: array handle %q: %w", r.Handle, f["Array Handle"], err)
			}
			i, ok := arrays[array]
			if !ok {
				return e, fmt.Errorf("device 0x%04X: array 0x%04X is not listed before it", r.Handle, array)
			}
			size, err := parseSize(f["Size"])
			if err != nil {
				return e, fmt.Errorf("device 0x%04X: %w", r.Handle, err)
			}
			speed, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(f["Speed"], " MT/s"), " MHz"))
			e.Arrays[i].Devices = append(e.Arrays[i].Devices, expectedDevice{
				Handle: r.Handle, Locator: opt(f["Locator"]), BankLocator: opt(f["Bank Locator"]), Type: opt(f["Type"]),
				Manufacturer: opt(f["Manufacturer"]), Serial: opt(f["Serial Number"]), PartNumber: opt(f["Part Number"]),
				SizeBytes: size, SpeedMTs: speed,
			})
		}
	}
	if e.SystemVendor == nil || len(e.Arrays) == 0 {
		return e, fmt.Errorf("no system information or memory array found")
	}
	return e, nil
}

// opt returns nil for what dmidecode prints for unset values, else a pointer to s.
func opt(s string) *string {
	switch s {
	case "", "Not Specified", "Unknown", "Not Provided":
		return nil
	}
	return &s
}

// parseSize reads dmidecode sizes ("4 GB", "16384 MB", "No Module Installed").
func parseSize(s string) (uint64, error) {
	if s == "No Module Installed" {
		return 0, nil
	}
	num, unit, ok := strings.Cut(s, " ")
	n, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("size %q not understood", s)
	}
	shift := map[string]uint{"bytes": 0, "kB": 10, "MB": 20, "GB": 30, "TB": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	return n << sh, nil
}
