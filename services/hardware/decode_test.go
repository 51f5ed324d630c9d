package hardware

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// sampleTable builds an SMBIOS 2.8 table holding one or more of each decoded type:
// a populated and an empty processor socket, one memory array with a DIMM, an empty
// slot and a KiB-granular device, and one mapped range.
func sampleTable() *tableBuilder {
	b := &tableBuilder{}
	b.add(typeBIOS, 0x0000, newArea(0x18).u8(0x04, 1).u8(0x05, 2).u8(0x08, 3),
		"LENOVO", " N24ET56W (1.31 ) ", "03/06/2020")
	uuid := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	b.add(typeSystem, 0x0001, newArea(0x1B).u8(4, 1).u8(5, 2).u8(6, 3).u8(7, 4).raw(8, uuid).u8(0x19, 5).u8(0x1A, 6),
		"LENOVO", "20L5CTO1WW", "ThinkPad T480", "PF1ABCDE", "LENOVO_MT_20L5", "ThinkPad T480")
	b.add(typeBaseboard, 0x0002, newArea(0x0F).u8(4, 1).u8(5, 2).u8(6, 3).u8(7, 4).u8(8, 5),
		"LENOVO", "20L5CTO1WW", "SDK0J40697 WIN", "L1HF81N00Z9", "Board Asset")
	b.add(typeChassis, 0x0003, newArea(0x16).u8(4, 1).u8(5, 0x80|0x0A).u8(6, 2).u8(7, 3).u8(8, 4),
		"LENOVO", "None", "PF1ABCDE", "No Asset Information")
	b.add(typeProcessor, 0x0004, newArea(0x30).u8(4, 1).u8(7, 2).u8(0x10, 3).u16(0x14, 4000).u16(0x16, 1800).
		u8(0x18, 0x41).u8(0x20, 4).u8(0x21, 5).u8(0x22, 6).u8(0x23, 4).u8(0x24, 4).u8(0x25, 8),
		"U3E1", "Intel(R) Corporation", "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", "CPU-SERIAL", "CPU-ASSET", "CPU-PART")
	b.add(typeProcessor, 0x0005, newArea(0x30).u8(4, 1), "CPU1")
	b.add(typeMemoryArray, 0x1000, newArea(0x17).u8(4, 3).u8(5, 3).u8(6, 5).u32(7, 32<<20).u16(0x0B, 0xFFFE).u16(0x0D, 4))
	b.add(typeMemory, 0x1001, newArea(0x28).u16(4, 0x1000).u16(8, 64).u16(0x0A, 64).u16(0x0C, 8192).u8(0x0E, 0x0D).
		u8(0x10, 1).u8(0x11, 2).u8(0x12, 0x1A).u16(0x13, 0x4080).u16(0x15, 2400).u8(0x17, 3).u8(0x18, 4).u8(0x19, 5).
		u8(0x1A, 6).u8(0x1B, 2).u16(0x20, 2133).u16(0x22, 1200).u16(0x24, 1200).u16(0x26, 1200),
		"ChannelA-DIMM0", "BANK 0", "Samsung", "187A2A0F", "DIMM-ASSET", "M471A1K43CB1-CRC  ")
	b.add(typeMemory, 0x1002, newArea(0x28).u16(4, 0x1000).u8(0x0E, 0x0D).u8(0x10, 1).u8(0x11, 2).u8(0x12, 2).
		u16(0x15, 2400).u8(0x17, 3),
		"ChannelB-DIMM0", "BANK 2", "Leftover")
	b.add(typeMemory, 0x1003, newArea(0x28).u16(4, 0x1000).u16(0x0C, 0x8000|512).u8(0x0E, 0x09).u8(0x10, 1).
		u8(0x12, 0x18).u16(0x13, 0x2000),
		"ChannelC-DIMM0")
	b.add(typeMappedRange, 0x1004, newArea(0x1F).u32(8, 16<<20-1).u16(0x0C, 0x1000).u8(0x0E, 2))
	return b.end()
}

func decodeSample(t testing.TB) *Report {
	t.Helper()
	b := sampleTable()
	r, err := Decode(b.entry32(2, 8), b.bytes())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(r.Warnings) > 0 {
		t.Fatalf("Decode of a valid table warns: %q", r.Warnings)
	}
	return r
}

// fieldCase names one value taken from a report and what it should be; values are
// compared by their JSON form, so a nil pointer matches nil and numbers match by value.
type fieldCase struct {
	name string
	got  func(r *Report) any
	want any
}

func checkFields(t *testing.T, r *Report, cases []fieldCase) {
	t.Helper()
	for i, c := range cases {
		got, want := canonicalJSON(t, c.got(r)), canonicalJSON(t, c.want)
		if got != want {
			t.Errorf("case %d (%s): got %s, want %s", i, c.name, got, want)
		}
	}
}

// canonicalJSON returns v as JSON with object keys sorted, so that structs and maps
// with the same content compare equal.
func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(generic)
	return string(b)
}

func device(r *Report, handle int) *MemoryDevice {
	for _, a := range r.Memory.Arrays {
		for i := range a.Devices {
			if a.Devices[i].Handle == handle {
				return &a.Devices[i]
			}
		}
	}
	return nil
}

func TestDecodeEachType(t *testing.T) {
	r := decodeSample(t)
	checkFields(t, r, []fieldCase{
		{"available", func(r *Report) any { return r.Available }, true},
		{"version", func(r *Report) any { return deref(r.SMBIOSVersion) }, "2.8"},
		{"bios vendor", func(r *Report) any { return r.BIOS.Vendor }, "LENOVO"},
		{"bios version trimmed", func(r *Report) any { return r.BIOS.Version }, "N24ET56W (1.31 )"},
		{"bios date", func(r *Report) any { return r.BIOS.ReleaseDate }, "03/06/2020"},
		{"system", func(r *Report) any { return r.System }, map[string]any{
			"manufacturer": "LENOVO", "product": "20L5CTO1WW", "version": "ThinkPad T480", "serial": "PF1ABCDE",
			"uuid": "00112233-4455-6677-8899-aabbccddeeff", "sku": "LENOVO_MT_20L5", "family": "ThinkPad T480"}},
		{"baseboard", func(r *Report) any { return r.Baseboard }, map[string]any{
			"manufacturer": "LENOVO", "product": "20L5CTO1WW", "version": "SDK0J40697 WIN", "serial": "L1HF81N00Z9",
			"asset_tag": "Board Asset"}},
		{"chassis type without lock bit", func(r *Report) any { return r.Chassis.Type }, "Notebook"},
		{"chassis serial", func(r *Report) any { return r.Chassis.Serial }, "PF1ABCDE"},
		{"chassis asset tag placeholder", func(r *Report) any { return r.Chassis.AssetTag }, nil},
		{"chassis placeholders kept raw", func(r *Report) any { return r.Chassis.Raw }, map[string]any{
			"asset_tag": "No Asset Information", "version": "None"}},
		{"processor count", func(r *Report) any { return len(r.Processors) }, 2},
		{"processor", func(r *Report) any { return r.Processors[0] }, map[string]any{
			"handle": 4, "socket": "U3E1", "manufacturer": "Intel(R) Corporation",
			"version": "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", "max_speed_mhz": 4000, "current_speed_mhz": 1800,
			"cores": 4, "cores_enabled": 4, "threads": 8, "populated": true,
			"serial": "CPU-SERIAL", "asset_tag": "CPU-ASSET", "part_number": "CPU-PART"}},
		{"empty socket populated", func(r *Report) any { return r.Processors[1].Populated }, false},
		{"empty socket speeds unknown", func(r *Report) any { return []any{r.Processors[1].MaxSpeedMHz, r.Processors[1].Cores} }, []any{nil, nil}},
		{"array", func(r *Report) any { a := r.Memory.Arrays[0]; a.Devices = nil; return a }, map[string]any{
			"handle": 0x1000, "location": "System Board Or Motherboard", "use": "System Memory", "ecc": "Single-bit ECC",
			"max_capacity_bytes": 32 << 30, "slots": 4, "devices": nil}},
		{"devices attached in order", func(r *Report) any {
			var hs []int
			for _, d := range r.Memory.Arrays[0].Devices {
				hs = append(hs, d.Handle)
			}
			return hs
		}, []int{0x1001, 0x1002, 0x1003}},
		{"dimm", func(r *Report) any { return device(r, 0x1001) }, map[string]any{
			"handle": 0x1001, "array_handle": 0x1000, "locator": "ChannelA-DIMM0", "bank_locator": "BANK 0",
			"size_bytes": 8 << 30, "form_factor": "SODIMM", "type": "DDR4",
			"type_detail": "Synchronous Unbuffered (Unregistered)", "speed_mts": 2400, "configured_speed_mts": 2133,
			"manufacturer": "Samsung", "serial": "187A2A0F", "asset_tag": "DIMM-ASSET", "part_number": "M471A1K43CB1-CRC",
			"rank": 2, "total_width_bits": 64, "data_width_bits": 64, "minimum_voltage_mv": 1200,
			"maximum_voltage_mv": 1200, "configured_voltage_mv": 1200}},
		{"empty slot", func(r *Report) any { return device(r, 0x1002) }, map[string]any{
			"handle": 0x1002, "array_handle": 0x1000, "locator": "ChannelB-DIMM0", "bank_locator": "BANK 2",
			"size_bytes": 0, "form_factor": "SODIMM", "type": nil, "type_detail": "None", "speed_mts": nil,
			"configured_speed_mts": nil, "manufacturer": nil, "serial": nil, "asset_tag": nil, "part_number": nil,
			"rank": nil, "total_width_bits": nil, "data_width_bits": nil, "minimum_voltage_mv": nil,
			"maximum_voltage_mv": nil, "configured_voltage_mv": nil}},
		{"KiB granularity size", func(r *Report) any { return device(r, 0x1003).SizeBytes }, 512 << 10},
		{"DDR3 DIMM", func(r *Report) any { return []any{device(r, 0x1003).Type, device(r, 0x1003).FormFactor} }, []any{"DDR3", "DIMM"}},
		{"registered", func(r *Report) any { return device(r, 0x1003).TypeDetail }, "Registered (Buffered)"},
		{"no bank locator", func(r *Report) any { return device(r, 0x1003).BankLocator }, nil},
		{"mapped range", func(r *Report) any { return r.Memory.MappedRanges }, []map[string]any{{
			"handle": 0x1004, "array_handle": 0x1000, "start_bytes": 0, "end_bytes": 16<<30 - 1, "partition_width": 2}}},
	})
}

func TestDecodeNullsAndExtendedFields(t *testing.T) {
	b := &tableBuilder{}
	// SMBIOS 2.0-sized structures: everything added later is absent.
	b.add(typeBIOS, 0x0000, newArea(0x12).u8(0x05, 1), "1.0")
	b.add(typeSystem, 0x0001, newArea(0x08).u8(4, 1).u8(5, 9), "Maker")
	b.add(typeChassis, 0x0003, newArea(0x09).u8(5, 2))
	b.add(typeProcessor, 0x0004, newArea(0x1A).u8(0x18, 0x40))
	b.add(typeMemoryArray, 0x1000, newArea(0x0F).u8(4, 2).u8(5, 2).u8(6, 2).u32(7, 0x80000000).u16(0x0D, 2))
	b.add(typeMemory, 0x1001, newArea(0x15).u16(4, 0x1000).u16(0x0C, 0xFFFF).u8(0x0E, 2).u8(0x12, 2).u16(0x13, 0x0004))
	b.add(typeMemory, 0x1002, newArea(0x1C).u16(4, 0x1000).u16(0x0C, 0x7FFF).u16(0x15, 0).u8(0x17, 1), "  ")
	// SMBIOS 2.7 and 3.3 extensions.
	b.add(typeMemoryArray, 0x2000, newArea(0x17).u32(7, 0x80000000).u64(0x0F, 2<<40).u16(0x0D, 1))
	b.add(typeMemory, 0x2001, newArea(0x5C).u16(4, 0x2000).u16(0x0C, 0x7FFF).u32(0x1C, 65536).
		u16(0x15, 0xFFFF).u32(0x54, 8400).u16(0x20, 0xFFFF).u32(0x58, 0), "x")
	b.add(typeProcessor, 0x2002, newArea(0x30).u8(0x18, 0x41).u8(0x23, 0xFF).u16(0x2A, 300).u8(0x24, 0xFF).
		u16(0x2C, 0xFFFF).u8(0x25, 0xFF).u16(0x2E, 600))
	b.add(typeProcessor, 0x2003, newArea(0x28).u8(0x18, 0x41).u8(0x23, 0xFF).u8(0x25, 0))
	b.add(typeMappedRange, 0x2004, newArea(0x1F).u32(4, 0xFFFFFFFF).u32(8, 0xFFFFFFFF).u16(0x0C, 0x2000).
		u64(0x0F, 1<<40).u64(0x17, 3<<40-1))
	b.add(typeMappedRange, 0x2005, newArea(0x0F).u32(4, 0xFFFFFFFF))
	b.end()
	r, err := Decode(b.entry32(2, 7), b.bytes())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checkFields(t, r, []fieldCase{
		{"string index 0", func(r *Report) any { return r.BIOS.Vendor }, nil},
		{"short type 0 date", func(r *Report) any { return r.BIOS.ReleaseDate }, nil},
		{"string index past strings", func(r *Report) any { return r.System.Product }, nil},
		{"warning for bad string index", func(r *Report) any {
			return len(r.Warnings) == 1 && strings.Contains(r.Warnings[0], "handle 0x0001 (type 1): string index 9")
		}, true},
		{"2.0 system has no uuid, sku, family", func(r *Report) any { return []any{r.System.UUID, r.System.SKU, r.System.Family} }, []any{nil, nil, nil}},
		{"unknown chassis type", func(r *Report) any { return r.Chassis.Type }, nil},
		{"no baseboard section", func(r *Report) any { return r.Baseboard }, nil},
		{"2.0 processor has no counts", func(r *Report) any { return []any{r.Processors[0].Cores, r.Processors[0].Serial} }, []any{nil, nil}},
		{"unknown location, use, ecc", func(r *Report) any {
			a := r.Memory.Arrays[0]
			return []any{a.Location, a.Use, a.ECC}
		}, []any{nil, nil, nil}},
		{"extended capacity marker without the field", func(r *Report) any { return r.Memory.Arrays[0].MaxCapacityBytes }, nil},
		{"size unknown", func(r *Report) any { return device(r, 0x1001).SizeBytes }, nil},
		{"unknown form factor, type, type detail", func(r *Report) any {
			d := device(r, 0x1001)
			return []any{d.FormFactor, d.Type, d.TypeDetail}
		}, []any{nil, nil, nil}},
		{"2.0 device has no speed or manufacturer", func(r *Report) any { return []any{device(r, 0x1001).SpeedMTs, device(r, 0x1001).Manufacturer} }, []any{nil, nil}},
		{"extended size marker without the field", func(r *Report) any { return device(r, 0x1002).SizeBytes }, nil},
		{"speed 0", func(r *Report) any { return device(r, 0x1002).SpeedMTs }, nil},
		{"whitespace-only string is no value", func(r *Report) any { return device(r, 0x1002).Manufacturer }, nil},
		{"and nothing raw to keep", func(r *Report) any { return device(r, 0x1002).Raw }, nil},
		{"2.3 device has no rank", func(r *Report) any { return device(r, 0x1002).Rank }, nil},
		{"extended maximum capacity", func(r *Report) any { return r.Memory.Arrays[1].MaxCapacityBytes }, uint64(2 << 40)},
		{"extended size", func(r *Report) any { return device(r, 0x2001).SizeBytes }, uint64(64 << 30)},
		{"extended speed", func(r *Report) any { return device(r, 0x2001).SpeedMTs }, 8400},
		{"extended configured speed 0", func(r *Report) any { return device(r, 0x2001).ConfiguredSpeedMTs }, nil},
		{"core count 2", func(r *Report) any { return r.Processors[1].Cores }, 300},
		{"core enabled 2 reserved", func(r *Report) any { return r.Processors[1].CoresEnabled }, nil},
		{"thread count 2", func(r *Report) any { return r.Processors[1].Threads }, 600},
		{"0xFF without count 2", func(r *Report) any { return []any{r.Processors[2].Cores, r.Processors[2].Threads} }, []any{255, nil}},
		{"extended addresses", func(r *Report) any {
			m := r.Memory.MappedRanges[0]
			return []any{m.StartBytes, m.EndBytes}
		}, []any{uint64(1 << 40), uint64(3<<40 - 1)}},
		{"extended address marker without the fields", func(r *Report) any {
			m := r.Memory.MappedRanges[1]
			return []any{m.StartBytes, m.EndBytes, m.ArrayHandle}
		}, []any{nil, nil, 0}},
	})
}

func TestDecodeStrings(t *testing.T) {
	cases := []struct {
		name    string
		version byte // minor version of SMBIOS 2.x
		uuid    []byte
		str     string
		want    map[string]any
	}{
		{"uuid 2.6 byte order", 6, []byte{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}, "a",
			map[string]any{"uuid": "00010203-0405-0607-0809-0a0b0c0d0e0f", "manufacturer": "a"}},
		{"uuid before 2.6 in network order", 5, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, "a",
			map[string]any{"uuid": "00010203-0405-0607-0809-0a0b0c0d0e0f", "manufacturer": "a"}},
		{"uuid not present", 6, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "a",
			map[string]any{"uuid": nil, "manufacturer": "a"}},
		{"uuid not settable", 6, make([]byte, 16), "a", map[string]any{"uuid": nil, "manufacturer": "a"}},
		{"control characters", 6, make([]byte, 16), "a\tb\x7fc", map[string]any{"uuid": nil, "manufacturer": "a.b.c"}},
		{"invalid UTF-8", 6, make([]byte, 16), "a\xffb", map[string]any{"uuid": nil, "manufacturer": "a\uFFFDb"}},
	}
	for i, c := range cases {
		b := &tableBuilder{}
		b.add(typeSystem, 1, newArea(0x19).u8(4, 1).raw(8, c.uuid), c.str).end()
		r, err := Decode(b.entry32(2, c.version), b.bytes())
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.name, err)
			continue
		}
		got := map[string]any{"uuid": r.System.UUID, "manufacturer": r.System.Manufacturer}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(c.want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("case %d (%s): got %s, want %s", i, c.name, gotJSON, wantJSON)
		}
	}
}

func TestDecodeDeviceWithoutArray(t *testing.T) {
	b := &tableBuilder{}
	b.add(typeMemoryArray, 0x1000, newArea(0x0F).u8(5, 3).u16(0x0D, 1))
	b.add(typeMemory, 0x1001, newArea(0x15).u16(4, 0x0025).u16(0x0C, 1024))
	b.add(typeMemory, 0x1002, newArea(0x15).u16(4, 0x0025).u16(0x0C, 1024))
	b.end()
	r, err := Decode(b.entry32(2, 3), b.bytes())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(r.Memory.Arrays) != 2 {
		t.Fatalf("got %d arrays, want the real one and one for handle 0x0025", len(r.Memory.Arrays))
	}
	extra := r.Memory.Arrays[1]
	if extra.Handle != 0x0025 || len(extra.Devices) != 2 || extra.Slots != nil || extra.Use != nil {
		t.Errorf("extra array = %+v, want handle 0x0025 with both devices and null fields", extra)
	}
	if len(r.Memory.Arrays[0].Devices) != 0 {
		t.Errorf("real array got devices %+v, want none", r.Memory.Arrays[0].Devices)
	}
	if len(r.Warnings) != 2 || !strings.Contains(r.Warnings[0], "memory device 0x1001: array handle 0x0025 matches no physical memory array") ||
		!strings.Contains(r.Warnings[1], "memory device 0x1002:") {
		t.Errorf("warnings = %q, want one per device naming it and its array handle", r.Warnings)
	}
	// The dangling array has no use, so the summary counts the real array only.
	if s := r.Summary(); s.MemorySlots != 1 || s.MemoryInstalledBytes != 0 {
		t.Errorf("summary = %+v, want 1 slot and 0 bytes from the System Memory array", s)
	}
}

func TestDecode64BitEntryPoint(t *testing.T) {
	b := sampleTable()
	// Anything after the end-of-table structure is not part of an SMBIOS 3 table.
	b.add(typeBIOS, 0x0100, newArea(0x12).u8(4, 1), "after the end")
	r, err := Decode(b.entry64(3, 3, 0), b.bytes())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checkFields(t, r, []fieldCase{
		{"version with revision", func(r *Report) any { return deref(r.SMBIOSVersion) }, "3.3.0"},
		{"no warnings", func(r *Report) any { return r.Warnings }, nil},
		{"first BIOS kept", func(r *Report) any { return r.BIOS.Vendor }, "LENOVO"},
		{"devices", func(r *Report) any { return len(r.Memory.Arrays[0].Devices) }, 3},
		{"uuid in 3.x byte order", func(r *Report) any { return r.System.UUID }, "00112233-4455-6677-8899-aabbccddeeff"},
	})

	// Without the end-of-table structure a 64-bit table is incomplete.
	b = &tableBuilder{}
	b.add(typeBIOS, 0, newArea(0x12).u8(4, 1), "Vendor")
	r, err = Decode(b.entry64(3, 0, 0), b.bytes())
	if err != nil {
		t.Fatalf("Decode without end of table: %v", err)
	}
	if r.BIOS == nil || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "without an end-of-table structure") {
		t.Errorf("without end of table: BIOS %+v, warnings %q; want the BIOS and one warning", r.BIOS, r.Warnings)
	}
}

func TestDecodeDamagedTable(t *testing.T) {
	full := sampleTable()
	ep := full.entry32(2, 8)
	table := full.bytes()
	// Offsets into the sample table: the processor structure at handle 0x0004 follows
	// the BIOS, system, baseboard and chassis structures.
	prefix := &tableBuilder{}
	prefix.add(typeBIOS, 0x0000, newArea(0x18).u8(0x04, 1).u8(0x05, 2).u8(0x08, 3),
		"LENOVO", " N24ET56W (1.31 ) ", "03/06/2020")
	afterBIOS := len(prefix.bytes())

	withLength := func(l byte) []byte {
		t := append([]byte(nil), table...)
		t[afterBIOS+1] = l
		return t
	}
	cases := []struct {
		name    string
		table   []byte
		warning string
	}{
		{"ends mid-header", table[:afterBIOS+2], "ends after 1 of the 12 structures"},
		{"ends mid-formatted area", table[:afterBIOS+10], "runs past the end of the table"},
		{"ends mid-string set", table[:afterBIOS+0x1B+5], "string set not terminated"},
		{"length below 4", withLength(3), "invalid length 3"},
		{"length past the end", withLength(0xFF)[:afterBIOS+0x40], "runs past the end of the table"},
		{"empty table", nil, "ends after 0 of the 12 structures"},
	}
	for i, c := range cases {
		r, err := Decode(ep, c.table)
		if err != nil {
			t.Errorf("case %d (%s): Decode: %v, want a report with a warning", i, c.name, err)
			continue
		}
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], c.warning) {
			t.Errorf("case %d (%s): warnings %q, want one containing %q", i, c.name, r.Warnings, c.warning)
		}
		if c.table != nil && (r.BIOS == nil || r.BIOS.Vendor == nil || *r.BIOS.Vendor != "LENOVO") {
			t.Errorf("case %d (%s): BIOS %+v, want the structure before the damage kept", i, c.name, r.BIOS)
		}
		if r.System != nil {
			t.Errorf("case %d (%s): system %+v decoded from the damaged structure", i, c.name, r.System)
		}
		if !r.Available || r.Processors == nil || r.Memory.Arrays == nil {
			t.Errorf("case %d (%s): report not available or sections nil: %+v", i, c.name, r)
		}
	}
}

func TestDecodeBadEntryPoint(t *testing.T) {
	b := sampleTable()
	table := b.bytes()
	corrupt := func(ep []byte, off int, v byte) []byte {
		ep = append([]byte(nil), ep...)
		ep[off] = v
		return ep
	}
	ep32, ep64 := b.entry32(2, 8), b.entry64(3, 0, 0)
	cases := []struct {
		name string
		ep   []byte
		want string
	}{
		{"empty", nil, "expected anchor _SM_ or _SM3_"},
		{"wrong anchor", corrupt(ep32, 2, 'X'), `expected anchor _SM_ or _SM3_, found "_SX_`},
		{"legacy DMI", []byte("_DMI_0123456789ABCDEF"), "legacy DMI entry point"},
		{"32-bit checksum", corrupt(ep32, 4, ep32[4]+1), "invalid entry point checksum"},
		{"32-bit intermediate checksum", corrupt(corrupt(ep32, 0x15, ep32[0x15]+1), 4, ep32[4]-1), "intermediate (_DMI_) checksum"},
		{"32-bit intermediate anchor", corrupt(ep32, 0x11, 'X'), "incorrect DMI magic"},
		{"32-bit too short", ep32[:0x1A], "need 31"},
		{"32-bit length too large", corrupt(ep32, 5, 0x40), "declares length 64"},
		{"64-bit checksum", corrupt(ep64, 5, ep64[5]+1), "invalid entry point checksum"},
		{"64-bit too short", ep64[:0x10], "need 24"},
		{"64-bit length too small", corrupt(ep64, 6, 0x10), "declares length 16"},
	}
	for i, c := range cases {
		r, err := Decode(c.ep, table)
		if err == nil {
			t.Errorf("case %d (%s): got report %+v, want an error", i, c.name, r)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): error %q, want it to contain %q", i, c.name, err, c.want)
		}
	}
}

func TestDecodeVersionFixup(t *testing.T) {
	b := &tableBuilder{}
	b.end()
	cases := []struct {
		minor byte
		want  string
	}{{0x1F, "2.3"}, {0x21, "2.3"}, {0x33, "2.6"}, {7, "2.7"}}
	for i, c := range cases {
		r, err := Decode(b.entry32(2, c.minor), b.bytes())
		if err != nil {
			t.Errorf("case %d (2.%d): %v", i, c.minor, err)
			continue
		}
		fixed := c.minor != 7
		if deref(r.SMBIOSVersion) != c.want || (len(r.Warnings) == 1) != fixed {
			t.Errorf("case %d (2.%d): version %q, warnings %q; want %q, a fixup warning: %v", i, c.minor, deref(r.SMBIOSVersion), r.Warnings, c.want, fixed)
		}
	}
}

// TestStructureSwallowingItsNeighbours: a structure length that claims the next
// structures' bytes leaves the count the entry point announces unmet in a table that is
// all there; that is a warning, as dmidecode's "Wrong DMI structures count" (issue 10,
// fault 3). Structures that do not fill the announced length warn too.
func TestStructureSwallowingItsNeighbours(t *testing.T) {
	b := sampleTable()
	ep, table := b.entry32(2, 8), append([]byte(nil), b.bytes()...)
	table[1] = 0xFF // the BIOS structure's length
	r, err := Decode(ep, table)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(r.Warnings, "\n"); !strings.Contains(w, "structures, but the") || !strings.Contains(w, "a structure length is wrong") {
		t.Errorf("swallowing structure: warnings %q, want one about the structure count", r.Warnings)
	}

	padded := append(append([]byte(nil), b.bytes()...), make([]byte, 16)...)
	ep = (&tableBuilder{buf: padded, count: b.count}).entry32(2, 8)
	r, err = Decode(ep, padded)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(r.Warnings, "\n"); !strings.Contains(w, "occupy") {
		t.Errorf("16 bytes after the last structure: warnings %q, want one saying what the structures occupy", r.Warnings)
	}
}

func TestPlaceholders(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"To Be Filled By O.E.M.", true},
		{"To be filled by O.E.M.", true},
		{"Default string", true},
		{"Not Specified", true},
		{"NULL", true},
		{"0123456789", true},
		{"123456", true},
		{"00000000", true},
		{"FFFFFFFF", true},
		{"", true},
		{"03000200-0400-0500-0006-000700080009", true},
		{"1.0", false},
		{"0000-1", false},
		{"012345", true},
		{"01234", false},
		{"0124567", false},
		{"PF1ABCDE", false},
		{"X9DBL-3F/X9DBL-iF", false},
		{"000", false},
		{"Samsung", false},
	}
	for i, c := range cases {
		if got := isPlaceholder(c.s); got != c.want {
			t.Errorf("case %d (%q): isPlaceholder = %v, want %v", i, c.s, got, c.want)
		}
	}
}

func TestJEDECMaker(t *testing.T) {
	cases := []struct {
		code, want string
		ok         bool
	}{
		{"80CE", "Samsung", true},
		{"859B", "Crucial", true},
		{"80AD", "SK Hynix", true},
		{"0x80CE", "Samsung", true},
		{"CE00", "Samsung", true},
		{"00CE", "Samsung", true}, // parity bit missing from the bank byte
		{"0198", "Kingston", true},
		{"7F98000000000000", "Kingston", true},
		{"CE00000000000000", "Samsung", true},
		{"7F7F7F0B00000000", "Nanya", true},
		{"7F7F7F0B00000100", "", false}, // more after the ID
		{"1315", "", false},             // not a code of a known maker
		{"0000", "", false},
		{"Samsung", "", false},
		{"80C", "", false},
		{"7F7F7F7F7F7F7F7F", "", false},
	}
	for i, c := range cases {
		got, ok := jedecMaker(c.code)
		if got != c.want || ok != c.ok {
			t.Errorf("case %d (%q): %q, %v; want %q, %v", i, c.code, got, ok, c.want, c.ok)
		}
	}
}

// TestPlaceholdersAndCodesInARealDump: the Synology's table fills most strings with
// template text and gives its modules' maker as "0000"; the W510's gives a JEDEC code.
func TestPlaceholdersAndCodesInARealDump(t *testing.T) {
	r, err := ReadDump(filepath.Join(repo.SMBIOSDumpsT(t), "Synology-RS3614xsp.bin"))
	if err != nil {
		t.Fatal(err)
	}
	w510, err := ReadDump(filepath.Join(repo.SMBIOSDumpsT(t), "Lenovo-ThinkPad-W510.bin"))
	if err != nil {
		t.Fatal(err)
	}
	checkFields(t, r, []fieldCase{
		{"system serial", func(r *Report) any { return r.System.Serial }, nil},
		{"system raw", func(r *Report) any { return r.System.Raw }, map[string]any{
			"serial": "To be filled by O.E.M.", "sku": "To be filled by O.E.M.",
			"uuid": "03000200-0400-0500-0006-000700080009"}},
		{"system product kept", func(r *Report) any { return r.System.Product }, "RS3614xs+"},
		{"module maker 0000", func(r *Report) any { return r.Memory.Arrays[0].Devices[0].Manufacturer }, nil},
		{"W510 module maker by name", func(*Report) any { return w510.Memory.Arrays[0].Devices[0].Manufacturer }, "Crucial"},
		{"W510 module maker's code kept", func(*Report) any { return w510.Memory.Arrays[0].Devices[0].Raw["manufacturer"] }, "859B"},
	})
}

// TestVirtualMachine: the hypervisor from the tables' vendor strings, or only the BIOS's
// virtual-machine bit, as systemd-detect-virt names them.
func TestVirtualMachine(t *testing.T) {
	cases := []struct {
		vendor, product string
		vmBit           bool
		want            string
	}{
		{"VMware, Inc.", "VMware Virtual Platform", false, "vmware"},
		{"QEMU", "Standard PC (Q35 + ICH9, 2009)", false, "qemu"},
		{"innotek GmbH", "VirtualBox", false, "oracle"},
		{"Microsoft Corporation", "Virtual Machine", false, "microsoft"},
		{"Microsoft Corporation", "Surface Laptop 3", false, "none"},
		{"Amazon EC2", "m5.metal", false, "none"},
		{"Amazon EC2", "t3.micro", false, "amazon"},
		{"LENOVO", "20L8S07A14", false, "none"},
		{"Some Cloud", "Instance", true, "vm-other"},
	}
	for i, c := range cases {
		b := &tableBuilder{}
		ext2 := byte(0)
		if c.vmBit {
			ext2 = 1 << 4
		}
		b.add(typeBIOS, 0, newArea(0x18).u8(0x04, 1).u8(0x13, ext2), "BIOS Maker")
		b.add(typeSystem, 1, newArea(0x1B).u8(4, 1).u8(5, 2), c.vendor, c.product)
		b.end()
		r, err := Decode(b.entry32(2, 8), b.bytes())
		if err != nil {
			t.Fatal(err)
		}
		if r.Virtualization == nil || r.Virtualization.VM != c.want || r.Virtualization.Source != "smbios" {
			t.Errorf("case %d (%s %s): %+v, want vm %q from smbios", i, c.vendor, c.product, r.Virtualization, c.want)
		}
	}
}
