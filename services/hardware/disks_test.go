package hardware

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseSmartctl(t *testing.T) {
	cases := []struct {
		file string
		want map[string]any // fields of the JSON form of Smart
	}{
		{"recorded-virtio-vda.json", map[string]any{"status": "no-smart", "message": "/dev/vda: Unable to detect device type"}},
		{"recorded-loop0.json", map[string]any{"status": "no-smart"}},
		{"recorded-permission-denied.json", map[string]any{"status": "unavailable",
			"message": "Smartctl open device: /dev/vda [SAT] failed: Permission denied"}},
		{"recorded-sat-on-virtio.json", map[string]any{"status": "unavailable"}},
		{"composed-sata-ssd-ok.json", map[string]any{"status": "ok", "message": nil, "passed": true, "temperature_c": 34,
			"power_on_hours": 31245, "reallocated_sectors": 0, "pending_sectors": 0, "offline_uncorrectable": 0,
			"percentage_used": nil, "failing_attributes": []string{}}},
		{"composed-sata-hdd-failing.json", map[string]any{"status": "failing", "passed": false, "temperature_c": 37,
			"reallocated_sectors": 1104, "pending_sectors": 24, "offline_uncorrectable": 7,
			"failing_attributes": []string{"1 Raw_Read_Error_Rate"},
			"message":            "1104 reallocated sectors; 24 pending sectors; 7 offline uncorrectable sectors; attributes at or below threshold: 1 Raw_Read_Error_Rate"}},
		{"composed-nvme-ok.json", map[string]any{"status": "ok", "passed": true, "temperature_c": 41, "power_on_hours": 8123,
			"percentage_used": 3, "media_errors": 0, "reallocated_sectors": nil}},
		{"composed-nvme-worn.json", map[string]any{"status": "warning", "percentage_used": 94, "media_errors": 2,
			"message": "2 media errors; 94% of the rated endurance used"}},
		{"composed-standby.json", map[string]any{"status": "standby", "passed": nil}},
	}
	for i, c := range cases {
		s, warnings := ParseSmartctl(c.file, readTestdata(t, "smartctl", c.file))
		if len(warnings) > 0 {
			t.Errorf("case %d (%s): warnings %q", i, c.file, warnings)
		}
		var got map[string]any
		if err := jsonRoundTrip(s, &got); err != nil {
			t.Fatal(err)
		}
		for k, want := range c.want {
			if canonicalJSON(t, got[k]) != canonicalJSON(t, want) {
				t.Errorf("case %d (%s): %s = %s, want %s", i, c.file, k, canonicalJSON(t, got[k]), canonicalJSON(t, want))
			}
		}
	}
	s, warnings := ParseSmartctl("smartctl /dev/sdz", []byte("smartctl: not JSON"))
	if s.Status != "unavailable" || len(warnings) != 1 || !strings.HasPrefix(warnings[0], "smartctl /dev/sdz: not smartctl's JSON") {
		t.Errorf("garbage: %+v, %q; want unavailable and a warning naming the source", s, warnings)
	}
}

func TestParseUdevData(t *testing.T) {
	env, warnings := ParseUdevData("b8:0", readTestdata(t, "udev", "b8_0"))
	if len(warnings) > 0 {
		t.Errorf("warnings %q", warnings)
	}
	checkFields(t, nil, []fieldCase{
		{"model decoded and trimmed", func(*Report) any { return udevString(env, "ID_MODEL_ENC", "ID_MODEL") }, "Samsung SSD 860 EVO 500GB"},
		{"serial", func(*Report) any { return udevString(env, "ID_SERIAL_SHORT") }, "S3Z1NB0K123456A"},
		{"missing", func(*Report) any { return udevString(env, "ID_FS_TYPE") }, nil},
		{"links are no properties", func(*Report) any { return len(env) }, 16},
	})
	part, _ := ParseUdevData("b8:1", readTestdata(t, "udev", "b8_1"))
	if got := udevString(part, "ID_PART_ENTRY_NAME"); got == nil || *got != "EFI system partition" {
		t.Errorf("partition name %v, want the escapes decoded", got)
	}
	_, warnings = ParseUdevData("b8:9", []byte("E:ID_OK=1\nnonsense\nE:NOEQUALS\n\nS:link\n"))
	want := []string{"b8:9:2: not a udev database record", "b8:9:3: property without \"=\""}
	if len(warnings) != len(want) {
		t.Fatalf("warnings %q, want %q", warnings, want)
	}
	for i := range want {
		if !strings.HasPrefix(warnings[i], want[i]) {
			t.Errorf("warning %q, want %q", warnings[i], want[i])
		}
	}
}

func jsonRoundTrip(v any, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// sfdiskImage makes a disk image of size MiB in dir with the partition table script
// describes, written by sfdisk, the tool admins use: a real table, made without a loop
// device.
func sfdiskImage(t testing.TB, dir, name string, sizeMiB int64, script string) string {
	t.Helper()
	sfdisk, err := exec.LookPath("sfdisk")
	if err != nil {
		t.Fatal("sfdisk is not installed: apt-get install fdisk")
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, sizeMiB<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sfdisk, "--no-reread", "--no-tell-kernel", "-q", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v\n%s", name, err, out)
	}
	return path
}

// gptScript and mbrScript are the tables the disk tests make.
const (
	gptScript = "label: gpt\n" +
		"start=2048, size=8192, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"hostkit esp\"\n" +
		"start=10240, size=20480, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"data ü\"\n"
	mbrScript = "label: dos\n" +
		"start=2048, size=8192, type=83\n" +
		"start=10240, size=40960, type=5\n" +
		"start=12288, size=4096, type=82\n" +
		"start=18432, size=8192, type=8e\n"
)

func TestParsePartitionTable(t *testing.T) {
	dir := t.TempDir()
	gpt := sfdiskImage(t, dir, "gpt.img", 32, gptScript)
	mbr := sfdiskImage(t, dir, "mbr.img", 32, mbrScript)
	cases := []struct {
		image  string
		scheme string
		want   map[int]tableEntry
	}{
		{gpt, "gpt", map[int]tableEntry{
			1: {number: 1, startLBA: 2048, sectors: 8192, typ: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", name: "hostkit esp"},
			2: {number: 2, startLBA: 10240, sectors: 20480, typ: "0fc63daf-8483-4772-8e79-3d69d8477de4", name: "data ü"},
		}},
		{mbr, "dos", map[int]tableEntry{
			1: {number: 1, startLBA: 2048, sectors: 8192, typ: "0x83"},
			2: {number: 2, startLBA: 10240, sectors: 40960, typ: "0x05"},
			5: {number: 5, startLBA: 12288, sectors: 4096, typ: "0x82"},
			6: {number: 6, startLBA: 18432, sectors: 8192, typ: "0x8e"},
		}},
	}
	for i, c := range cases {
		f, err := os.Open(c.image)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		table, err := parsePartitionTable(f, 512, 32<<20)
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, c.image, err)
		}
		if table.scheme != c.scheme || len(table.entries) != len(c.want) {
			t.Errorf("case %d (%s): %s with %d entries %+v; want %s with %d", i, filepath.Base(c.image), table.scheme,
				len(table.entries), table.entries, c.scheme, len(c.want))
		}
		for n, want := range c.want {
			if table.entries[n] != want {
				t.Errorf("case %d (%s): partition %d = %+v, want %+v", i, filepath.Base(c.image), n, table.entries[n], want)
			}
		}
	}

	// Damage: a flipped byte in the GPT entries, an image without a table, a short one.
	data, err := os.ReadFile(gpt)
	if err != nil {
		t.Fatal(err)
	}
	data[1024+56] ^= 0xFF // the first entry's name
	if _, err := parsePartitionTable(bytes.NewReader(data), 512, int64(len(data))); err == nil || !strings.Contains(err.Error(), "entries checksum") {
		t.Errorf("damaged GPT entries: %v, want a checksum error", err)
	}
	if _, err := parsePartitionTable(bytes.NewReader(make([]byte, 4096)), 512, 4096); !errors.Is(err, errNoTable) {
		t.Errorf("blank disk: %v, want errNoTable", err)
	}
	if _, err := parsePartitionTable(bytes.NewReader(data[:600]), 512, 600); err == nil {
		t.Error("a GPT disk cut after its header's start parsed")
	}
}

// fakeSysfs lays out /sys/block and /run/udev/data as the kernel and udevd make them
// for a SATA SSD with one partition, an NVMe namespace, a loop device with a file and an
// unused one, and returns the Live that reads them.
func fakeSysfs(t *testing.T) Live {
	t.Helper()
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	devices := map[string]string{
		"sda":     "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
		"nvme0n1": "devices/pci0000:00/0000:00:1d.0/0000:01:00.0/nvme/nvme0/nvme0n1",
		"loop0":   "devices/virtual/block/loop0",
		"loop1":   "devices/virtual/block/loop1",
	}
	attrs := map[string]map[string]string{
		"sda": {"size": "976773168", "dev": "8:0", "queue/logical_block_size": "512", "queue/physical_block_size": "512",
			"queue/rotational": "0", "removable": "0", "ro": "0", "device/vendor": "ATA     ", "device/model": "Samsung SSD 860",
			"sda1/partition": "1", "sda1/start": "2048", "sda1/size": "1048576", "sda1/dev": "8:1"},
		"nvme0n1": {"size": "1953525168", "dev": "259:0", "queue/logical_block_size": "512", "queue/rotational": "0",
			"wwid": "eui.002538b123456789", "device/model": "Samsung SSD 980 PRO 1TB", "device/serial": "S5GXNX0T123456K",
			"device/firmware_rev": "5B2QGXA7"},
		"loop0": {"size": "65536", "dev": "7:0", "queue/logical_block_size": "512", "queue/rotational": "1", "ro": "1"},
		"loop1": {"size": "0", "dev": "7:1"},
	}
	sysBlock := filepath.Join(root, "sys", "block")
	if err := os.MkdirAll(sysBlock, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range devices {
		for attr, v := range attrs[name] {
			write(filepath.Join(root, "sys", target, attr), v)
		}
		if err := os.Symlink(filepath.Join("..", target), filepath.Join(sysBlock, name)); err != nil {
			t.Fatal(err)
		}
	}
	udev := filepath.Join(root, "run", "udev", "data")
	for _, f := range []string{"b8_0", "b8_1", "b259_0"} {
		write(filepath.Join(udev, strings.Replace(f, "_", ":", 1)), string(readTestdata(t, "udev", f)))
	}
	smart := map[string]string{"sda": "composed-sata-ssd-ok.json", "nvme0n1": "composed-nvme-worn.json"}
	return Live{SysBlock: sysBlock, UdevData: udev, Smart: func(name string) ([]byte, error) {
		if f, ok := smart[name]; ok {
			return readTestdata(t, "smartctl", f), nil
		}
		return nil, errors.New("no such device in the test")
	}}
}

func TestReadDisks(t *testing.T) {
	disks, warnings := ReadDisks(fakeSysfs(t))
	if len(warnings) > 0 {
		t.Errorf("warnings %q", warnings)
	}
	byName := map[string]Disk{}
	for _, d := range disks {
		byName[d.Name] = d
	}
	if len(disks) != 3 {
		t.Fatalf("%d disks %v, want sda, nvme0n1 and loop0 (loop1 is empty)", len(disks), byName)
	}
	checkFields(t, nil, []fieldCase{
		{"sda from udev", func(*Report) any {
			d := byName["sda"]
			return []any{d.Model, d.Vendor, d.Serial, d.WWN, d.Firmware, d.Transport, d.PartitionTable, d.SizeBytes, d.Rotational}
		}, []any{"Samsung SSD 860 EVO 500GB", "ATA", "S3Z1NB0K123456A", "0x5002538e40a22954", "RVT04B6Q", "sata", "gpt", 500107862016, false}},
		{"sda1 from udev", func(*Report) any { return byName["sda"].Partitions }, []map[string]any{{
			"name": "sda1", "number": 1, "start_bytes": 1 << 20, "size_bytes": 512 << 20,
			"type": "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "type_name": "EFI System", "label": "EFI system partition",
			"filesystem": "vfat", "filesystem_label": "ESP"}}},
		{"sda SMART", func(*Report) any { return []any{byName["sda"].SMART.Status, byName["sda"].SMART.TemperatureC} }, []any{"ok", 34}},
		{"nvme", func(*Report) any {
			d := byName["nvme0n1"]
			return []any{d.Model, d.Serial, d.WWN, d.Transport, d.PartitionTable, d.SMART.Status}
		}, []any{"Samsung SSD 980 PRO 1TB", "S5GXNX0T123456K", "eui.002538b123456789", "nvme", "dos", "warning"}},
		{"loop", func(*Report) any {
			d := byName["loop0"]
			return []any{d.Transport, d.Serial, d.ReadOnly, d.SMART.Status, d.SMART.Message}
		}, []any{"virtual", nil, true, "no-smart", "virtual devices have no SMART"}},
	})

	// Serial numbers and WWNs are withheld like the firmware's.
	r := &Report{Disks: disks}
	hidden := r.WithoutSecrets()
	for _, d := range hidden.Disks {
		if d.Serial != nil || d.WWN != nil {
			t.Errorf("%s: serial %v, wwn %v without secrets", d.Name, *d.Serial, d.WWN)
		}
	}
	if byName["sda"].Serial == nil {
		t.Error("WithoutSecrets changed the original")
	}
}

// TestSmartHelper: the helper answers a device it lists with what smartctl says, and
// refuses names that are no device, virtual devices, and more than a name.
func TestSmartHelper(t *testing.T) {
	l := fakeSysfs(t)
	cases := []struct {
		in, want string
	}{
		{"sda\n", `"model_name":"Samsung SSD 860 EVO 500GB"`},
		{"loop0\n", "error: loop0 is a virtual device, which has no SMART"},
		{"../../etc/passwd\n", `error: "../../etc/passwd" is not a device name`},
		{"sdz\n", "error: sdz is not a block device"},
		{"", "error: no device name"},
		{strings.Repeat("a", 100) + "\n", "error: no device name"},
	}
	for i, c := range cases {
		var out bytes.Buffer
		ServeSmartHelper(strings.NewReader(c.in), &out, l.SysBlock, l.Smart)
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("case %d (%q): %q, want %q in it", i, c.in, clip(out.String(), 200), c.want)
		}
	}
}
