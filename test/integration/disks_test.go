package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hostkit/hostkit/internal/testbus"
)

// loopDisk attaches a disk image of sizeMiB with the partition table sfdisk writes from
// script to a loop device with partition scanning, and returns the device's name
// ("loop3"). The test's end detaches it. It needs root, losetup and sfdisk.
func loopDisk(t *testing.T, sizeMiB int64, script string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the disk tests attach loop devices: run them as root")
	}
	for _, tool := range []string{"losetup", "sfdisk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: apt-get install util-linux fdisk", tool)
		}
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, sizeMiB<<20); err != nil {
		t.Fatal(err)
	}
	sfdisk := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", img)
	sfdisk.Stdin = strings.NewReader(script)
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", "--partscan", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup --find --show --partscan: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v\n%s", dev, err, out)
		}
	})
	// A kernel built without partition table parsers (as some VM kernels are) scans
	// nothing; partx reads the table and tells the kernel the partitions, as the
	// kernel's own scan would have.
	name := filepath.Base(dev)
	if parts, _ := filepath.Glob(filepath.Join("/sys/block", name, name+"p*")); len(parts) == 0 {
		if out, err := exec.Command("partx", "--add", dev).CombinedOutput(); err != nil {
			t.Fatalf("partx --add %s: %v\n%s", dev, err, out)
		}
	}
	return name
}

// disk is the part of a report's disk the tests look at.
type disk struct {
	Name           string  `json:"name"`
	SizeBytes      uint64  `json:"size_bytes"`
	Transport      *string `json:"transport"`
	PartitionTable *string `json:"partition_table"`
	Partitions     []struct {
		Name       string  `json:"name"`
		Number     int     `json:"number"`
		StartBytes uint64  `json:"start_bytes"`
		SizeBytes  uint64  `json:"size_bytes"`
		Type       *string `json:"type"`
		TypeName   *string `json:"type_name"`
		Label      *string `json:"label"`
	} `json:"partitions"`
	SMART *struct {
		Status string `json:"status"`
	} `json:"smart"`
}

func findDisk(t *testing.T, reportJSON, name string) disk {
	t.Helper()
	var r struct {
		Disks []disk `json:"disks"`
	}
	if err := json.Unmarshal([]byte(reportJSON), &r); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, d := range r.Disks {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("the report lists no disk %s among %d", name, len(r.Disks))
	return disk{}
}

// TestDisksOnLoopDevices: partition tables written by sfdisk to loop devices, as
// `hostkit-hwd report` (root, the partition table read from the device, no udev here)
// and the service (udev only, so no types) report them.
func TestDisksOnLoopDevices(t *testing.T) {
	gpt := loopDisk(t, 64, "label: gpt\n"+
		"start=2048, size=8192, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"hostkit esp\"\n"+
		"start=10240, size=20480, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"data\"\n")
	mbr := loopDisk(t, 64, "label: dos\nstart=2048, size=8192, type=83\nstart=10240, size=40960, type=5\n"+
		"start=12288, size=4096, type=82\nstart=18432, size=8192, type=8e\n")

	sh := testbus.Share(t)
	r := runCommand(t, sh, nil, "hostkit-hwd", "report", "--json")
	if r.code != 0 {
		t.Fatalf("hostkit-hwd report --json: exit %d, %s", r.code, r.stderr)
	}
	type part struct {
		number       int
		start, size  uint64
		typ, label   string
		typeNameWant string
	}
	cases := []struct {
		dev    string
		scheme string
		parts  []part
	}{
		{gpt, "gpt", []part{
			{1, 2048 * 512, 8192 * 512, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "hostkit esp", "EFI System"},
			{2, 10240 * 512, 20480 * 512, "0fc63daf-8483-4772-8e79-3d69d8477de4", "data", "Linux filesystem"},
		}},
		{mbr, "dos", []part{
			{1, 2048 * 512, 8192 * 512, "0x83", "", "Linux"},
			{2, 10240 * 512, 1024, "0x05", "", "Extended"}, // the kernel shows an extended partition as 1 KiB
			{5, 12288 * 512, 4096 * 512, "0x82", "", "Linux swap"},
			{6, 18432 * 512, 8192 * 512, "0x8e", "", "Linux LVM"},
		}},
	}
	for i, c := range cases {
		d := findDisk(t, r.stdout, c.dev)
		if d.SizeBytes != 64<<20 || deref(d.Transport) != "virtual" || deref(d.PartitionTable) != c.scheme ||
			d.SMART == nil || d.SMART.Status != "no-smart" || len(d.Partitions) != len(c.parts) {
			t.Errorf("case %d (%s): %+v; want 64 MiB, virtual, %s, no SMART, %d partitions", i, c.dev, d, c.scheme, len(c.parts))
			continue
		}
		for j, want := range c.parts {
			p := d.Partitions[j]
			label := ""
			if p.Label != nil {
				label = *p.Label
			}
			if p.Number != want.number || p.Name != c.dev+"p"+strconv.Itoa(want.number) || p.StartBytes != want.start ||
				p.SizeBytes != want.size || deref(p.Type) != want.typ || label != want.label || deref(p.TypeName) != want.typeNameWant {
				t.Errorf("case %d (%s): partition %d = %+v (type %s, label %q, type name %s); want %+v", i, c.dev, j, p,
					deref(p.Type), label, deref(p.TypeName), want)
			}
		}
	}
	if !strings.Contains(runCommand(t, sh, nil, "hostkit-hwd", "report").stdout, "hostkit esp") {
		t.Error("the text report does not show the GPT partition's name")
	}

	// The service reads no device (its unit has none): partitions and sizes from sysfs,
	// types from udev, which does not run here.
	h := setup(t, "SuperMicro-X9DBL.bin", "infinity")
	h.start(t)
	var described string
	if err := h.connect(t).Object(hwName, hwPath).Call(hwName+".Describe", 0).Store(&described); err != nil {
		t.Fatal(err)
	}
	d := findDisk(t, described, gpt)
	if len(d.Partitions) != 2 || d.Partitions[1].StartBytes != 10240*512 || d.Partitions[0].Type != nil {
		t.Errorf("the service's %s: %+v; want two partitions from sysfs, without types", gpt, d)
	}
}
