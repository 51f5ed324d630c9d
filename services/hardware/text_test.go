package hardware

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	// A report whose every section is present but empty prints dashes, not "<nil>".
	r := &Report{Available: true, BIOS: &BIOS{}, System: &System{}, Baseboard: &Baseboard{}, Chassis: &Chassis{},
		Processors: []Processor{{}}, Memory: Memory{Arrays: []MemoryArray{{Handle: -1, Devices: []MemoryDevice{{}}}}}}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for i, want := range []string{"BIOS Vendor: -\n", "Processor 1: -: unknown\n",
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
