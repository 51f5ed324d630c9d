package hardware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readCPUSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "cpuinfo", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseCPUInfo(t *testing.T) {
	kvm := readCPUSample(t, "amd-epyc-kvm-guest.txt")
	arm := readCPUSample(t, "arm64-4core.txt")
	twoSockets := "processor : 0\nmodel name : Xeon\nflags : vmx aes avx2\nphysical id : 0\ncore id : 0\n\n" +
		"processor : 1\nmodel name : Xeon\nflags : vmx aes avx2\nphysical id : 0\ncore id : 0\n\n" +
		"processor : 2\nmodel name : Xeon\nflags : vmx aes avx2\nphysical id : 1\ncore id : 0\n\n" +
		"processor : 3\nmodel name : Xeon\nflags : vmx aes avx2\nphysical id : 1\ncore id : 1\n"
	cases := []struct {
		name     string
		data     string
		want     fieldCase
		warnings []string // substrings, one warning each
	}{
		{"recorded KVM guest", string(kvm), fieldCase{"cpu", nil, map[string]any{
			"source": "cpuinfo", "model": "AMD EPYC", "vendor": "AuthenticAMD", "sockets": 1, "cores": 2, "threads": 2,
			"flags":                   []string{"aes", "sha_ni", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "hypervisor"},
			"hardware_virtualization": nil, "hypervisor": true}}, nil},
		{"two sockets, hyperthreads", twoSockets, fieldCase{"counts", nil, map[string]any{
			"source": "cpuinfo", "model": "Xeon", "vendor": nil, "sockets": 2, "cores": 3, "threads": 4,
			"flags": []string{"vmx", "aes", "avx2"}, "hardware_virtualization": "VT-x", "hypervisor": false}}, nil},
		{"arm64 without IDs", string(arm), fieldCase{"arm", nil, map[string]any{
			"source": "cpuinfo", "model": nil, "vendor": "0x41", "sockets": nil, "cores": nil, "threads": 4,
			"flags": []string{"aes"}, "hardware_virtualization": nil, "hypervisor": false}}, nil},
		{"truncated in the second processor", string(kvm[:len(kvm)/2+40]), fieldCase{"threads", nil, nil},
			[]string{"cpuinfo:31: not \"key : value\"; skipped"}}, // the line cut in two
		{"garbage lines", "processor : 0\nmodel name : X\nthis is no field\n:\n\nprocessor : 0\n", fieldCase{"garbage", nil, nil},
			[]string{"cpuinfo:3: not \"key : value\"", "cpuinfo:4: not \"key : value\"", "cpuinfo:6: processor \"0\" listed twice"}},
		{"empty", "", fieldCase{"empty", nil, nil}, []string{"cpuinfo: no processor listed"}},
		{"blank lines missing", "processor : 0\nmodel name : A\nprocessor : 1\nmodel name : A\n", fieldCase{"no blanks", nil, nil}, nil},
	}
	for i, c := range cases {
		cpu, warnings := ParseCPUInfo("cpuinfo", []byte(c.data))
		if c.want.want != nil {
			checkFields(t, nil, []fieldCase{{c.name, func(*Report) any { return cpu }, c.want.want}})
		}
		if len(warnings) != len(c.warnings) {
			t.Errorf("case %d (%s): warnings %q, want %d", i, c.name, warnings, len(c.warnings))
			continue
		}
		for j, w := range c.warnings {
			if !strings.Contains(warnings[j], w) {
				t.Errorf("case %d (%s): warning %q, want %q in it", i, c.name, warnings[j], w)
			}
		}
		switch c.name {
		case "truncated in the second processor":
			if cpu.Threads != 1 && cpu.Threads != 2 || cpu.Model == nil {
				t.Errorf("case %d (%s): %d threads, model %v: the first processor must survive", i, c.name, cpu.Threads, cpu.Model)
			}
		case "blank lines missing":
			if cpu.Threads != 2 {
				t.Errorf("case %d (%s): %d threads, want 2", i, c.name, cpu.Threads)
			}
		}
	}
}

func TestReadCPUInfoNotRegular(t *testing.T) {
	cpu, warnings := ReadCPUInfo("/dev/zero")
	if cpu != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "/dev/zero") || !strings.Contains(warnings[0], "not a regular file") {
		t.Errorf("ReadCPUInfo(/dev/zero) = %v, %q; want nothing and a warning naming it", cpu, warnings)
	}
}

func TestLiveVirtualization(t *testing.T) {
	dir := t.TempDir()
	docker := filepath.Join(dir, "container")
	if err := os.WriteFile(docker, []byte("docker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	guest := &CPU{Hypervisor: true}
	metal := &CPU{}
	none := filepath.Join(dir, "none")
	cases := []struct {
		name string
		got  *Virtualization
		want any
	}{
		{"tables name it", LiveVirtualization(&Virtualization{VM: "vmware", Source: "smbios"}, guest, none),
			map[string]any{"vm": "vmware", "container": nil, "source": "smbios"}},
		{"only the hypervisor flag", LiveVirtualization(&Virtualization{VM: "none", Source: "smbios"}, guest, none),
			map[string]any{"vm": "vm-other", "container": nil, "source": "cpuinfo"}},
		{"bare metal in docker", LiveVirtualization(&Virtualization{VM: "none", Source: "smbios"}, metal, docker),
			map[string]any{"vm": "none", "container": "docker", "source": "smbios"}},
		{"no tables", LiveVirtualization(nil, metal, none), map[string]any{"vm": "none", "container": nil, "source": "cpuinfo"}},
		{"nothing", LiveVirtualization(nil, nil, none), nil},
		{"systemd: none", SystemdVirtualization("", nil), map[string]any{"vm": "none", "container": "none", "source": "systemd"}},
		{"systemd: kvm", SystemdVirtualization("kvm", nil), map[string]any{"vm": "kvm", "container": "none", "source": "systemd"}},
		{"systemd: a container on a VM", SystemdVirtualization("systemd-nspawn", &Virtualization{VM: "vm-other"}),
			map[string]any{"vm": "vm-other", "container": "systemd-nspawn", "source": "systemd"}},
	}
	for _, c := range cases {
		checkFields(t, nil, []fieldCase{{c.name, func(*Report) any { return c.got }, c.want}})
	}
}
