package hardware

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestWithoutSecrets(t *testing.T) {
	r := decodeSample(t)
	before := canonicalJSON(t, r)
	c := r.WithoutSecrets()

	secrets := []fieldCase{
		{"system serial", func(r *Report) any { return r.System.Serial }, nil},
		{"system uuid", func(r *Report) any { return r.System.UUID }, nil},
		{"board serial", func(r *Report) any { return r.Baseboard.Serial }, nil},
		{"board asset tag", func(r *Report) any { return r.Baseboard.AssetTag }, nil},
		{"chassis serial", func(r *Report) any { return r.Chassis.Serial }, nil},
		{"chassis asset tag", func(r *Report) any { return r.Chassis.AssetTag }, nil},
		{"processor serial", func(r *Report) any { return r.Processors[0].Serial }, nil},
		{"processor asset tag", func(r *Report) any { return r.Processors[0].AssetTag }, nil},
		{"dimm serial", func(r *Report) any { return device(r, 0x1001).Serial }, nil},
		{"dimm asset tag", func(r *Report) any { return device(r, 0x1001).AssetTag }, nil},
		// What is not secret stays.
		{"system product kept", func(r *Report) any { return r.System.Product }, "20L5CTO1WW"},
		{"processor part kept", func(r *Report) any { return r.Processors[0].PartNumber }, "CPU-PART"},
		{"dimm part kept", func(r *Report) any { return device(r, 0x1001).PartNumber }, "M471A1K43CB1-CRC"},
		{"dimm size kept", func(r *Report) any { return device(r, 0x1001).SizeBytes }, 8 << 30},
		{"mapped range kept", func(r *Report) any { return len(r.Memory.MappedRanges) }, 1},
	}
	checkFields(t, c, secrets)

	// No secret value appears anywhere in the copy, whatever field it might hide in.
	out, _ := json.Marshal(c)
	for _, secret := range []string{"PF1ABCDE", "L1HF81N00Z9", "Board Asset", "No Asset Information", "CPU-SERIAL",
		"CPU-ASSET", "187A2A0F", "DIMM-ASSET", "00112233-4455"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("WithoutSecrets leaves %q in %s", secret, out)
		}
	}

	if after := canonicalJSON(t, r); after != before {
		t.Errorf("WithoutSecrets changed the original:\nbefore %s\nafter  %s", before, after)
	}
	// The copy shares no memory with the original.
	*c.System.Product = "changed"
	c.Memory.Arrays[0].Devices[0].Handle = 1
	*c.Memory.Arrays[0].Devices[0].PartNumber = "changed"
	c.Processors[0].Handle = 1
	if after := canonicalJSON(t, r); after != before {
		t.Errorf("changing the copy changed the original:\nbefore %s\nafter  %s", before, after)
	}
}

// TestWithoutSecretsCoversEveryField fails when a field is added to a report type but
// not to WithoutSecrets: every non-secret field of a full report must survive the copy.
func TestWithoutSecretsCoversEveryField(t *testing.T) {
	r := decodeSample(t)
	secret := map[string]bool{"Serial": true, "UUID": true, "AssetTag": true}
	var walk func(path string, orig, copied reflect.Value)
	walk = func(path string, orig, copied reflect.Value) {
		switch orig.Kind() {
		case reflect.Pointer:
			if orig.IsNil() {
				return
			}
			if copied.IsNil() {
				t.Errorf("%s: set in the report, nil in WithoutSecrets", path)
				return
			}
			walk(path, orig.Elem(), copied.Elem())
		case reflect.Struct:
			for i := range orig.NumField() {
				name := orig.Type().Field(i).Name
				if secret[name] {
					continue
				}
				walk(path+"."+name, orig.Field(i), copied.Field(i))
			}
		case reflect.Slice:
			if orig.Len() != copied.Len() {
				t.Errorf("%s: %d elements, %d in WithoutSecrets", path, orig.Len(), copied.Len())
				return
			}
			for i := range orig.Len() {
				walk(path, orig.Index(i), copied.Index(i))
			}
		case reflect.Map:
			// Raw loses exactly the secrets' placeholders.
			want := map[string]string{}
			for k, v := range orig.Interface().(map[string]string) {
				if !slices.Contains(secretFields, k) {
					want[k] = v
				}
			}
			got, _ := copied.Interface().(map[string]string)
			if len(want) == 0 && got != nil || len(want) > 0 && !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %v, %v in WithoutSecrets; want %v", path, orig.Interface(), got, want)
			}
		default:
			if !reflect.DeepEqual(orig.Interface(), copied.Interface()) {
				t.Errorf("%s: %v, %v in WithoutSecrets", path, orig.Interface(), copied.Interface())
			}
		}
	}
	r.Warnings = []string{"a warning"}
	walk("Report", reflect.ValueOf(r), reflect.ValueOf(r.WithoutSecrets()))
}

func TestSummary(t *testing.T) {
	full := decodeSample(t).Summary()
	want := Summary{
		Available: true, SMBIOSVersion: "2.8", BIOSVendor: "LENOVO", BIOSVersion: "N24ET56W (1.31 )",
		BIOSDate: "03/06/2020", SystemVendor: "LENOVO", SystemProduct: "20L5CTO1WW", SystemVersion: "ThinkPad T480",
		BoardVendor: "LENOVO", BoardProduct: "20L5CTO1WW", ChassisType: "Notebook",
		ProcessorSockets: 2, ProcessorsPopulated: 1, Cores: 4, Threads: 8,
		MemorySlots: 4, MemorySlotsUsed: 2, MemoryInstalledBytes: 8<<30 + 512<<10, MemoryMaxBytes: 32 << 30,
		Virtualization: "none",
	}
	cases := []struct {
		name string
		got  Summary
		want Summary
	}{
		{"sample table", full, want},
		{"unavailable", Unavailable("", "no tables").Summary(), Summary{}},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d (%s): got %+v, want %+v", i, c.name, c.got, c.want)
		}
	}
}

func TestSummaryCountsSystemMemoryOnly(t *testing.T) {
	b := &tableBuilder{}
	b.add(typeMemoryArray, 0x10, newArea(0x0F).u8(5, 4).u32(7, 1<<10).u16(0x0D, 1)) // video memory
	b.add(typeMemory, 0x11, newArea(0x15).u16(4, 0x10).u16(0x0C, 256))
	b.add(typeMemoryArray, 0x20, newArea(0x0F).u8(5, 3).u32(7, 4<<20).u16(0x0D, 2)) // system memory
	b.add(typeMemory, 0x21, newArea(0x15).u16(4, 0x20).u16(0x0C, 2048))
	b.add(typeMemory, 0x22, newArea(0x15).u16(4, 0x20).u16(0x0C, 0xFFFF))
	b.end()
	r, err := Decode(b.entry32(2, 3), b.bytes())
	if err != nil {
		t.Fatal(err)
	}
	s := r.Summary()
	// The device of unknown size is counted as used but adds no bytes.
	if s.MemorySlots != 2 || s.MemorySlotsUsed != 2 || s.MemoryInstalledBytes != 2<<30 || s.MemoryMaxBytes != 4<<30 {
		t.Errorf("summary %+v, want 2 slots, 2 used, 2 GiB installed, 4 GiB max from the system memory array", s)
	}
}

func TestUnavailableJSON(t *testing.T) {
	out, err := json.Marshal(Unavailable(SysfsDir, "no SMBIOS tables: /sys/firmware/dmi/tables/DMI does not exist"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"available":false,"source":"/sys/firmware/dmi/tables","problem":"no SMBIOS tables: /sys/firmware/dmi/tables/DMI does not exist",` +
		`"smbios_version":null,"bios":null,"system":null,"baseboard":null,"chassis":null,"processors":[],"memory":{"arrays":[],"mapped_ranges":[]},"virtualization":null,"cpu":null,"disks":null,"links":null}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestReportJSONNames(t *testing.T) {
	out, err := json.Marshal(decodeSample(t))
	if err != nil {
		t.Fatal(err)
	}
	// Names users' scripts rely on.
	for i, name := range []string{`"available":true`, `"source":""`, `"smbios_version":"2.8"`, `"release_date":`,
		`"uuid":`, `"sku":`, `"family":`, `"asset_tag":`, `"max_speed_mhz":4000`, `"current_speed_mhz":1800`,
		`"cores_enabled":4`, `"threads":8`, `"populated":true`, `"max_capacity_bytes":34359738368`, `"slots":4`,
		`"array_handle":4096`, `"bank_locator":"BANK 0"`, `"size_bytes":8589934592`, `"form_factor":"SODIMM"`,
		`"type_detail":`, `"speed_mts":2400`, `"configured_speed_mts":2133`, `"part_number":`, `"rank":2`,
		`"mapped_ranges":[{"handle":4100,"array_handle":4096,"start_bytes":0,"end_bytes":17179869183,"partition_width":2}]`} {
		if !strings.Contains(string(out), name) {
			t.Errorf("case %d (%s): not in the JSON report %s", i, name, out)
		}
	}
	if strings.Contains(string(out), `"problem"`) || strings.Contains(string(out), `"warnings"`) {
		t.Errorf("a clean report carries problem or warnings: %s", out)
	}
}
