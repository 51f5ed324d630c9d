package hardware

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// FuzzDecode feeds arbitrary entry points and tables to Decode, seeded with synthetic
// tables and the real dumps. Decode must not panic or hang, must return either an error
// or a usable report, and WriteText and WithoutSecrets must handle whatever it returns.
func FuzzDecode(f *testing.F) {
	b := sampleTable()
	f.Add(b.entry32(2, 8), b.bytes())
	f.Add(b.entry64(3, 3, 0), b.bytes())
	f.Add(b.entry32(2, 8), b.bytes()[:100])

	dumps, err := filepath.Glob(filepath.Join(repo.SMBIOSDumpsT(f), "*.bin"))
	if err != nil || len(dumps) == 0 {
		f.Fatalf("no real SMBIOS dumps in %s (set HOSTKIT_SMBIOS_DUMPS): %v", repo.SMBIOSDumpsT(f), err)
	}
	for _, dump := range dumps {
		data, err := os.ReadFile(dump)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:entryPointBytes], data[entryPointBytes:])
	}

	f.Fuzz(func(t *testing.T, ep, table []byte) {
		r, err := Decode(ep, table)
		if err != nil {
			if r != nil {
				t.Fatalf("Decode returned both a report and error %v", err)
			}
			return
		}
		if !r.Available || r.Processors == nil || r.Memory.Arrays == nil || r.Memory.MappedRanges == nil {
			t.Fatalf("Decode returned an unusable report: %+v", r)
		}
		if err := WriteText(io.Discard, r); err != nil {
			t.Fatalf("WriteText: %v", err)
		}
		if _, err := json.Marshal(r.WithoutSecrets()); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		r.Summary()
	})
}

// FuzzAdvise feeds arbitrary request strings, as the bus method Advise() receives them,
// to ParseRequest, and what it accepts to Advise on every real dump and on a synthetic
// board. Neither may panic; every advice must have every rule, in order, a verdict,
// and a request that reads back the same.
func FuzzAdvise(f *testing.F) {
	for _, words := range append(dumpRequests, "--add 1x8GiB --type DDR3L --speed 1333 --lrdimm --json",
		"--add 64x1TiB", "--add 3X512M --rank 8 --no-ecc", "--add=2x8GiB --type=ddr5", "--add 2x8GiB --add 1x4GiB") {
		f.Add(words)
	}
	var reports []*Report
	dumps, err := filepath.Glob(filepath.Join(repo.SMBIOSDumpsT(f), "*.bin"))
	if err != nil || len(dumps) == 0 {
		f.Fatalf("no real SMBIOS dumps in %s: %v", repo.SMBIOSDumpsT(f), err)
	}
	for _, dump := range dumps {
		r, err := ReadDump(dump)
		if err != nil {
			f.Fatal(err)
		}
		reports = append(reports, r)
	}
	reports = append(reports, decodeSample(f), Unavailable("", "none"))
	f.Fuzz(func(t *testing.T, request string) {
		req, err := ParseRequest(strings.Fields(request))
		if err != nil {
			return
		}
		again, err := ParseRequest(strings.Fields(req.String()))
		if err != nil || again.String() != req.String() {
			t.Fatalf("%q reads as %q, which reads back as %v, %v", request, req.String(), again, err)
		}
		for _, r := range reports {
			a := Advise(r, req)
			checkAdviceShape(t, request, req, a)
			if a.ExitStatus() < 0 || a.ExitStatus() > 3 {
				t.Fatalf("exit status %d", a.ExitStatus())
			}
			var b bytes.Buffer
			if err := WriteAdvice(&b, a); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseCPUInfo feeds arbitrary text to ParseCPUInfo, seeded with the samples in
// testdata/cpuinfo. It must not panic; it always returns a CPU whose counts are
// consistent, and every warning names the source.
func FuzzParseCPUInfo(f *testing.F) {
	for _, name := range []string{"amd-epyc-kvm-guest.txt", "arm64-4core.txt"} {
		data := readCPUSample(f, name)
		f.Add(data)
		f.Add(data[:len(data)/3])
	}
	f.Add([]byte("processor : 0\nphysical id : 0\ncore id : 0\nflags : vmx\n\nprocessor : 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cpu, warnings := ParseCPUInfo("cpuinfo", data)
		if cpu == nil || cpu.Flags == nil || cpu.Threads < 0 {
			t.Fatalf("unusable CPU %+v", cpu)
		}
		if cpu.Sockets != nil && (*cpu.Sockets > cpu.Threads || *cpu.Cores > cpu.Threads || *cpu.Sockets > *cpu.Cores) {
			t.Fatalf("%d sockets, %d cores, %d threads", *cpu.Sockets, *cpu.Cores, cpu.Threads)
		}
		for _, w := range warnings {
			if !strings.HasPrefix(w, "cpuinfo") {
				t.Fatalf("warning %q does not name the source", w)
			}
		}
		cpuLine(cpu)
	})
}

// FuzzParseUdevData feeds arbitrary files to ParseUdevData, seeded with testdata/udev.
// It must not panic, and every warning names the source.
func FuzzParseUdevData(f *testing.F) {
	for _, name := range []string{"b8_0", "b8_1", "b259_0"} {
		data := readTestdata(f, "udev", name)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte("E:ID_MODEL_ENC=a\\x2\\x\\xzz\\x41\nE:=\nX\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, warnings := ParseUdevData("udev", data)
		for _, w := range warnings {
			if !strings.HasPrefix(w, "udev:") {
				t.Fatalf("warning %q does not name the source", w)
			}
		}
		for k := range env {
			udevString(env, k, k+"_ENC")
		}
		udevString(env, "ID_MODEL_ENC", "ID_PART_ENTRY_NAME")
	})
}

// FuzzParseSmartctl feeds arbitrary output to ParseSmartctl, seeded with the recorded
// and composed outputs in testdata/smartctl. It must not panic and always gives a
// status from the documented set.
func FuzzParseSmartctl(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "smartctl", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatal("no smartctl outputs in testdata/smartctl")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	statuses := map[string]bool{"ok": true, "warning": true, "failing": true, "standby": true, "no-smart": true,
		"not-installed": true, "unavailable": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _ := ParseSmartctl("smartctl", data)
		if s == nil || !statuses[s.Status] || s.FailingAttributes == nil {
			t.Fatalf("unusable SMART %+v", s)
		}
		if s.Status != "ok" && s.Message == nil {
			t.Fatalf("status %s without a message", s.Status)
		}
		smartText(s)
	})
}

// FuzzPartitionTable feeds arbitrary disk images to parsePartitionTable, seeded with
// the tables sfdisk makes (GPT; MBR with logical partitions). It must not panic, read
// nothing beyond the image, and give entries inside it.
func FuzzPartitionTable(f *testing.F) {
	// Tables made by sfdisk in the first sectors of small images, and cut there, so
	// that the seeds are small: the fuzzer minimizes every new input, which takes long
	// for large ones. GPT with a 4-entry table; MBR with an extended partition and two
	// logical ones.
	dir := f.TempDir()
	for _, s := range []struct {
		name, script string
		keep         int
	}{
		{"gpt.img", "label: gpt\ntable-length: 4\nfirst-lba: 4\nstart=4, size=4, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"esp\"\n" +
			"start=8, size=8, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"data\"\n", 2 << 10},
		{"mbr.img", "label: dos\nstart=1, size=2, type=83\nstart=4, size=12, type=5\nstart=5, size=2, type=82\nstart=9, size=2, type=8e\n", 8 << 10},
	} {
		data, err := os.ReadFile(sfdiskImage(f, dir, s.name, 1, s.script))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:s.keep], uint16(512))
	}
	f.Fuzz(func(t *testing.T, image []byte, sector uint16) {
		table, err := parsePartitionTable(bytes.NewReader(image), int(sector), int64(len(image)))
		if err != nil {
			return
		}
		if table.scheme != "gpt" && table.scheme != "dos" {
			t.Fatalf("scheme %q", table.scheme)
		}
		if len(table.entries) > maxGPTEntries+4+maxLogical {
			t.Fatalf("%d entries", len(table.entries))
		}
	})
}
