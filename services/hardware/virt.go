package hardware

import (
	"slices"
	"strings"
)

// vmVendors are what the system, board and BIOS strings of a virtual machine's tables
// begin with, and the name systemd-detect-virt gives that hypervisor; systemd looks
// at the same strings.
var vmVendors = []struct{ prefix, vm string }{
	{"KVM", "kvm"},
	{"OpenStack", "kvm"},
	{"KubeVirt", "kvm"},
	{"QEMU", "qemu"},
	{"VMware", "vmware"},
	{"VMW", "vmware"},
	{"innotek GmbH", "oracle"},
	{"VirtualBox", "oracle"},
	{"Xen", "xen"},
	{"Bochs", "bochs"},
	{"Parallels", "parallels"},
	{"BHYVE", "bhyve"},
	{"Hyper-V", "microsoft"},
	{"Apple Virtualization", "apple"},
	{"Google Compute Engine", "google"},
	{"Amazon EC2", "amazon"},
}

// virtualMachine names the hypervisor the decoded tables describe, "vm-other" when
// only the BIOS's virtual-machine bit says so, and "none" otherwise.
func (d *decoder) virtualMachine() string {
	r := d.report
	var strs []*string
	if s := r.System; s != nil {
		strs = append(strs, s.Manufacturer, s.Product)
		// Microsoft makes laptops too: only its product "Virtual Machine" is Hyper-V.
		if deref(s.Manufacturer) == "Microsoft Corporation" && deref(s.Product) == "Virtual Machine" {
			return "microsoft"
		}
		// Amazon's bare-metal instances are "Amazon EC2" too, with a product "*.metal".
		if strings.HasSuffix(deref(s.Product), ".metal") {
			return "none"
		}
	}
	if b := r.Baseboard; b != nil {
		strs = append(strs, b.Manufacturer)
	}
	if b := r.BIOS; b != nil {
		strs = append(strs, b.Vendor)
	}
	for _, s := range strs {
		for _, v := range vmVendors {
			if s != nil && strings.HasPrefix(*s, v.prefix) {
				return v.vm
			}
		}
	}
	if d.vmBit {
		return "vm-other"
	}
	return "none"
}

// ContainerFile is where systemd, as a container's init, records the container manager
// it runs under (systemd-detect-virt reads it too).
const ContainerFile = "/run/systemd/container"

// containers are the container managers systemd-detect-virt names; any other answer of
// systemd's Virtualization property is a hypervisor.
var containers = []string{"openvz", "lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl",
	"proot", "pouch", "container-other"}

// LiveVirtualization is systemd-detect-virt's method without systemd: the tables'
// answer (tables, from Decode; nil without tables), then the processor's "hypervisor"
// flag (a hypervisor the tables do not name is "vm-other"), and the container manager
// systemd recorded in containerFile (null when there is none: systemd records it only
// where it is the container's init, so its absence proves nothing).
func LiveVirtualization(tables *Virtualization, cpu *CPU, containerFile string) *Virtualization {
	v := &Virtualization{VM: "none", Source: "smbios"}
	if tables != nil {
		v.VM = tables.VM
	} else {
		v.Source = ""
	}
	if v.VM == "none" && cpu != nil && cpu.Hypervisor {
		v.VM, v.Source = "vm-other", "cpuinfo"
	}
	if v.Source == "" {
		if cpu == nil {
			return nil
		}
		v.Source = "cpuinfo"
	}
	if data, err := readSource(containerFile, false); err == nil {
		if name := strings.TrimSpace(string(data)); name != "" && !strings.ContainsAny(name, " \t\n") && len(name) < 64 {
			v.Container = &name
		}
	}
	return v
}

// SystemdVirtualization merges the value of systemd's Virtualization property (the
// org.freedesktop.systemd1.Manager of PID 1: "" for none, else what
// systemd-detect-virt prints) into prior, the answer of LiveVirtualization. systemd
// names a container when there is one and a hypervisor otherwise, so a container leaves
// the VM to prior.
func SystemdVirtualization(value string, prior *Virtualization) *Virtualization {
	v := &Virtualization{VM: "none", Source: "systemd", Container: ptr("none")}
	switch {
	case value == "":
	case slices.Contains(containers, value):
		v.Container = &value
		if prior != nil {
			v.VM = prior.VM
		}
	default:
		v.VM = value
	}
	return v
}
