package hardware

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt golden files from the current output")

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestWriteText(t *testing.T) {
	r := decodeSample(t)
	r.Source = "/sys/firmware/dmi/tables"
	r.Warnings = []string{"a warning about the table"}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "sample-report.txt", out.Bytes())

	for i, want := range []string{
		"Memory array 0x1000: System Board Or Motherboard, 4 slots, 2 used, max 32 GiB, ECC Single-bit ECC\n",
		"ChannelB-DIMM0 (BANK 2)  empty    -",
		"8 GiB",
		"512 KiB",
		"Processor 2: CPU1: empty socket\n",
		"a warning about the table",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("case %d: %q not in the text report", i, want)
		}
	}
	// Serial numbers are left out of the memory table.
	if strings.Contains(out.String(), "187A2A0F") {
		t.Errorf("memory device serial printed in the table:\n%s", out.String())
	}
}

func TestWriteTextUnavailable(t *testing.T) {
	var out bytes.Buffer
	if err := WriteText(&out, Unavailable(SysfsDir, "no SMBIOS tables: /sys/firmware/dmi/tables/DMI does not exist")); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "unavailable-report.txt", out.Bytes())
}

func TestWriteTextNulls(t *testing.T) {
	// A report whose every section is present but empty leaves the unknown values out,
	// and prints no "<nil>".
	r := &Report{Available: true, BIOS: &BIOS{}, System: &System{}, Baseboard: &Baseboard{}, Chassis: &Chassis{},
		Processors: []Processor{{}}, Memory: Memory{Arrays: []MemoryArray{{Handle: -1, Devices: []MemoryDevice{{}}}}}}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "BIOS Vendor") || strings.Contains(text, "System Serial") {
		t.Errorf("unknown values printed:\n%s", text)
	}
	for i, want := range []string{"Processor 1: -: unknown\n",
		"Memory array unknown: location unknown, unknown number of slots, 1 used, max unknown, ECC unknown\n",
		"-     unknown  -     -      -             -\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("case %d: %q not in\n%s", i, want, text)
		}
	}
	if strings.Contains(text, "nil") {
		t.Errorf("nil printed:\n%s", text)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTextWriteError(t *testing.T) {
	if err := WriteText(failingWriter{}, decodeSample(t)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteText to a failing writer: %v, want the write error", err)
	}
}

func TestHumanBytes(t *testing.T) {
	cases := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {512 << 10, "512 KiB"}, {512 << 20, "512 MiB"}, {8 << 30, "8 GiB"},
		{3 << 29, "1.5 GiB"}, {2 << 40, "2 TiB"}, {1<<64 - 1, "16.0 EiB"},
	}
	for i, c := range cases {
		if got := humanBytes(c.n); got != c.want {
			t.Errorf("case %d (%d): got %q, want %q", i, c.n, got, c.want)
		}
	}
}

// TestMemorySummary: the summary line on real dumps, modules grouped by kind in table
// order, ECC from the widths, RDIMM from the type detail, makers from JEDEC codes.
func TestMemorySummary(t *testing.T) {
	cases := []struct{ dump, want string }{
		{"SuperMicro-X9DBL.bin", "6 of 6 slots used, 48 GiB installed, up to 96 GiB supported; modules: " +
			"4 x 4 GiB DDR3-1333 ECC RDIMM (AL12P72A8BLK0M), 2 x 16 GiB DDR3-1333 ECC RDIMM (Micron 36KSF2G72PZ-1G6N1)"},
		{"Lenovo-ThinkPad-W510.bin", "2 of 4 slots used, 8 GiB installed, up to 16 GiB supported; modules: " +
			"2 x 4 GiB DDR3-1334 SODIMM (Crucial CT51264BF1339.C16F)"},
		{"Lenovo-ThinkPad-T480.bin", "2 of 2 slots used, 24 GiB installed, up to 32 GiB supported; modules: " +
			"1 x 8 GiB DDR4-2400 SODIMM (SK Hynix HMAA51S6AMR6N-UH), 1 x 16 GiB DDR4-2400 SODIMM (Samsung M471A2K43CB1-CRC)"},
		{"GigaByte-X399.bin", "8 of 8 slots used, 128 GiB installed, up to 512 GiB supported; modules: " +
			"8 x 16 GiB DDR4-2933 UDIMM (Kingston KHX2933C17D4/16G)"},
	}
	for i, c := range cases {
		r, err := ReadDump(filepath.Join(repo.SMBIOSDumpsT(t), c.dump))
		if err != nil {
			t.Fatal(err)
		}
		if got := MemorySummary(r); got != c.want {
			t.Errorf("case %d (%s):\ngot  %s\nwant %s", i, c.dump, got, c.want)
		}
	}
}
