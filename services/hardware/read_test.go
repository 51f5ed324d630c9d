package hardware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeDump writes ep and table as `dmidecode --dump-bin` does, with the table at addr
// (the entry point is rewritten to say so).
func writeDump(t *testing.T, ep, table []byte, addr int) string {
	t.Helper()
	ep = append([]byte(nil), ep...)
	binary.LittleEndian.PutUint32(ep[0x18:], uint32(addr))
	ep[0x15] = 0
	ep[0x15] = -sum(ep[0x10:0x1F])
	ep[4] = 0
	ep[4] = -sum(ep[:0x1F])
	file := make([]byte, addr+len(table))
	copy(file, ep)
	copy(file[addr:], table)
	path := filepath.Join(t.TempDir(), "dump.bin")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadDump(t *testing.T) {
	b := sampleTable()
	ep, table := b.entry32(2, 8), b.bytes()
	cases := []struct {
		name     string
		path     string
		warnings int
	}{
		{"table at 0x20", writeDump(t, ep, table, 0x20), 0},
		{"table at the address the entry point gives", writeDump(t, ep, table, 0x100), 0},
		{"file ends inside the table", writeDump(t, ep, table[:len(table)-20], 0x20), 2},
	}
	for i, c := range cases {
		r, err := ReadDump(c.path)
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.name, err)
			continue
		}
		if r.Source != c.path || r.BIOS == nil || len(r.Warnings) != c.warnings {
			t.Errorf("case %d (%s): source %q, BIOS %+v, warnings %q; want source %q, the BIOS, %d warnings",
				i, c.name, r.Source, r.BIOS, r.Warnings, c.path, c.warnings)
		}
	}
}

func TestReadDumpErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, []byte("not an SMBIOS dump at all, just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.bin")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.bin")
	cases := []struct {
		name, path, want string
	}{
		{"missing file", missing, "no such file"},
		{"not a dump", garbage, "expected anchor _SM_ or _SM3_"},
		{"empty file", empty, "expected anchor _SM_ or _SM3_"},
	}
	for i, c := range cases {
		_, err := ReadDump(c.path)
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): error %v, want one naming %s and saying %q", i, c.name, err, c.path, c.want)
		}
		if errors.Is(err, ErrNoTables) {
			t.Errorf("case %d (%s): a bad dump file is a failure, not ErrNoTables: %v", i, c.name, err)
		}
	}
}

func TestReadSysfs(t *testing.T) {
	b := sampleTable()
	sysfs := func(files map[string][]byte) string {
		dir := t.TempDir()
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o444); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	ep64 := b.entry64(3, 2, 0)
	good := sysfs(map[string][]byte{"smbios_entry_point": ep64, "DMI": b.bytes()})
	r, err := ReadSysfs(good)
	if err != nil {
		t.Fatalf("ReadSysfs: %v", err)
	}
	if r.Source != good || deref(r.SMBIOSVersion) != "3.2.0" || len(r.Memory.Arrays) != 1 || len(r.Warnings) != 0 {
		t.Errorf("ReadSysfs: source %q, version %q, %d arrays, warnings %q", r.Source, deref(r.SMBIOSVersion), len(r.Memory.Arrays), r.Warnings)
	}

	noDMI := sysfs(map[string][]byte{"smbios_entry_point": ep64})
	badEP := sysfs(map[string][]byte{"smbios_entry_point": []byte("_SM3_ broken"), "DMI": b.bytes()})
	absent := filepath.Join(t.TempDir(), "absent")
	cases := []struct {
		name       string
		dir        string
		noTables   bool
		wantInText string
	}{
		{"no directory", absent, true, filepath.Join(absent, "smbios_entry_point")},
		{"no DMI file", noDMI, true, filepath.Join(noDMI, "DMI")},
		{"broken entry point", badEP, false, filepath.Join(badEP, "smbios_entry_point")},
	}
	for i, c := range cases {
		_, err := ReadSysfs(c.dir)
		if err == nil {
			t.Errorf("case %d (%s): no error", i, c.name)
			continue
		}
		if errors.Is(err, ErrNoTables) != c.noTables {
			t.Errorf("case %d (%s): errors.Is(%v, ErrNoTables) = %v, want %v", i, c.name, err, !c.noTables, c.noTables)
		}
		if !strings.Contains(err.Error(), c.wantInText) {
			t.Errorf("case %d (%s): error %q does not name %s", i, c.name, err, c.wantInText)
		}
	}
}

// TestHostileSources: whatever a dump or sysfs path turns out to be, the reader neither
// blocks nor reads past MaxSourceBytes (issue 10, faults 1 and 2), and a pipe is read.
func TestHostileSources(t *testing.T) {
	b := sampleTable()
	ep, table := b.entry32(2, 8), b.bytes()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sysfs := func(name string, dmi func(path string) error) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "smbios_entry_point"), ep, 0o444); err != nil {
			t.Fatal(err)
		}
		if err := dmi(filepath.Join(d, "DMI")); err != nil {
			t.Fatal(err)
		}
		return d
	}
	zero := sysfs("zero", func(p string) error { return os.Symlink("/dev/zero", p) })
	fifoDMI := sysfs("fifo-dmi", func(p string) error { return syscall.Mkfifo(p, 0o644) })
	huge := sysfs("huge", func(p string) error { return os.WriteFile(p, make([]byte, MaxSourceBytes+1), 0o444) })
	hugeDump := filepath.Join(dir, "huge.bin")
	if err := os.WriteFile(hugeDump, append(append([]byte(nil), ep...), make([]byte, MaxSourceBytes)...), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		read func() (*Report, error)
		want string
	}{
		{"dump: FIFO without a writer", func() (*Report, error) { return ReadDump(fifo) }, "found \"\""},
		{"sysfs: DMI links to /dev/zero", func() (*Report, error) { return ReadSysfs(zero) }, "DMI: not a regular file but a character device"},
		{"sysfs: DMI is a FIFO", func() (*Report, error) { return ReadSysfs(fifoDMI) }, "DMI: not a regular file but a FIFO"},
		{"sysfs: DMI over the cap", func() (*Report, error) { return ReadSysfs(huge) }, "DMI: larger than 1048576 bytes"},
		{"dump over the cap", func() (*Report, error) { return ReadDump(hugeDump) }, "huge.bin: larger than 1048576 bytes"},
	}
	for i, c := range cases {
		done := make(chan error, 1)
		go func() { _, err := c.read(); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("case %d (%s): error %v, want one saying %q", i, c.name, err, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("case %d (%s): still reading after 10 s", i, c.name)
		}
	}

	// A pipe (what /dev/stdin is under `cat dump | hostkit-hwd report --from-dump
	// /dev/stdin`) is read to its end and decoded like the file.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	data, err := os.ReadFile(writeDump(t, ep, table, 0x20))
	if err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write(data); pw.Close() }()
	r, err := ReadDump(fmt.Sprintf("/proc/self/fd/%d", pr.Fd()))
	if err != nil || r.BIOS == nil || len(r.Warnings) != 0 {
		t.Errorf("dump from a pipe: %+v, %v; want the BIOS and no warnings", r, err)
	}
}

// TestTableAddressPastTheEnd: a dump whose entry point points past its end gives a
// report that says so and holds nothing.
func TestTableAddressPastTheEnd(t *testing.T) {
	b := sampleTable()
	path := writeDump(t, b.entry32(2, 8), nil, 0x20)
	data, _ := os.ReadFile(path)
	ep := data[:0x1F]
	binary.LittleEndian.PutUint32(ep[0x18:], 0x100000)
	ep[0x15], ep[4] = 0, 0
	ep[0x15] = -sum(ep[0x10:0x1F])
	ep[4] = -sum(ep[:0x1F])
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ReadDump(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty() || !strings.Contains(strings.Join(r.Warnings, "\n"), "0x100000 the entry point gives is past the end of the file") {
		t.Errorf("empty %v, warnings %q; want an empty report saying the address is past the end", r.Empty(), r.Warnings)
	}
}
