package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hostkit/hostkit/services/hardware"
)

const hwBus, hwPath = "org.hostkit.Hardware1", dbus.ObjectPath("/org/hostkit/Hardware1")

func init() {
	register(Source{Service: "hostkit-hwd", Unit: "hostkit-hwd.service", BusName: hwBus, OnDemand: true, Collect: collectHardware})
}

// hwGauges are the numeric properties of org.hostkit.Hardware1 exported as they are. A new
// numeric property (disks, network interfaces) is one line here; a property the running
// hostkit-hwd does not have is left out, so the exporter also works with an older daemon.
var hwGauges = []struct {
	property string
	desc     *prometheus.Desc
}{
	{"Available", prometheus.NewDesc("hostkit_hardware_available", "1 when hostkit-hwd could read the SMBIOS tables, else 0.", nil, nil)},
	{"MemorySlots", prometheus.NewDesc("hostkit_memory_slots", "Memory slots (SMBIOS type 17 devices) of all memory arrays.", nil, nil)},
	{"MemorySlotsUsed", prometheus.NewDesc("hostkit_memory_slots_used", "Memory slots with a module in them.", nil, nil)},
	{"MemoryInstalledBytes", prometheus.NewDesc("hostkit_memory_installed_bytes", "Size of all installed memory modules.", nil, nil)},
	{"MemoryMaxBytes", prometheus.NewDesc("hostkit_memory_max_bytes", "Largest memory the arrays can hold, as the firmware says.", nil, nil)},
	{"ProcessorSockets", prometheus.NewDesc("hostkit_processor_sockets", "Processor sockets.", nil, nil)},
	{"ProcessorsPopulated", prometheus.NewDesc("hostkit_processor_sockets_populated", "Processor sockets with a processor in them.", nil, nil)},
	{"Cores", prometheus.NewDesc("hostkit_processor_cores", "Processor cores of all processors.", nil, nil)},
	{"Threads", prometheus.NewDesc("hostkit_processor_threads", "Processor threads of all processors.", nil, nil)},
}

var (
	hwInfoDesc = prometheus.NewDesc("hostkit_hardware_info", "The machine as its firmware names it; the value is 1.",
		[]string{"system_vendor", "system_product", "board_vendor", "board_product", "bios_vendor", "bios_version", "chassis_type", "smbios_version"}, nil)
	dimmInfoDesc = prometheus.NewDesc("hostkit_memory_dimm_info", "One installed memory module; the value is 1.",
		[]string{"handle", "locator", "bank_locator", "type", "form_factor", "manufacturer", "part_number", "speed_mts"}, nil)
	dimmSizeDesc = prometheus.NewDesc("hostkit_memory_dimm_size_bytes", "Size of one installed memory module.",
		[]string{"handle", "locator", "bank_locator"}, nil)
)

func collectHardware(ctx context.Context, conn *dbus.Conn) ([]prometheus.Metric, error) {
	props, err := properties(ctx, conn, hwBus, hwPath, hwBus)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	for _, g := range hwGauges {
		if v, ok := number(props, g.property); ok {
			out = append(out, gauge(g.desc, v))
		}
	}
	out = append(out, gauge(hwInfoDesc, 1, text(props, "SystemVendor"), text(props, "SystemProduct"),
		text(props, "BoardVendor"), text(props, "BoardProduct"), text(props, "BIOSVendor"), text(props, "BIOSVersion"),
		text(props, "ChassisType"), text(props, "SMBIOSVersion")))

	// The modules: Describe() has them (without serials for an unprivileged caller).
	data, err := describe(ctx, conn, hwBus, hwPath)
	if err != nil {
		return nil, err
	}
	var r hardware.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s.Describe returned a report this exporter cannot read: %w", hwBus, err)
	}
	for _, a := range r.Memory.Arrays {
		for _, d := range a.Devices {
			if deref(d.SizeBytes) == 0 {
				continue // an empty slot
			}
			handle := strconv.Itoa(d.Handle)
			speed := ""
			if d.SpeedMTs != nil {
				speed = strconv.Itoa(*d.SpeedMTs)
			}
			out = append(out,
				gauge(dimmInfoDesc, 1, handle, deref(d.Locator), deref(d.BankLocator), deref(d.Type), deref(d.FormFactor),
					deref(d.Manufacturer), deref(d.PartNumber), speed),
				gauge(dimmSizeDesc, float64(*d.SizeBytes), handle, deref(d.Locator), deref(d.BankLocator)))
		}
	}
	return out, nil
}
