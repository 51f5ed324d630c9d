package exporter

import (
	"context"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"
)

const bootBus, bootPath = "org.hostkit.BootOrder1", dbus.ObjectPath("/org/hostkit/BootOrder1")

func init() {
	register(Source{Service: "hostkit-bootorder", Unit: "hostkit-bootorder.service", BusName: bootBus, OnDemand: true, Collect: collectBootOrder})
}

// bootPlanGauges are the plan's numeric properties of org.hostkit.BootOrder1.
var bootPlanGauges = []struct {
	property string
	desc     *prometheus.Desc
}{
	{"Units", prometheus.NewDesc("hostkit_boot_order_units", "Units in the boot-order plan of this boot.", nil, nil)},
	{"Edges", prometheus.NewDesc("hostkit_boot_order_edges", "Ordering edges (X after Y) the plan of this boot has.", nil, nil)},
	{"Warnings", prometheus.NewDesc("hostkit_boot_order_warnings", "Warnings (file:line) the plan of this boot gave.", nil, nil)},
}

var (
	bootInfoDesc = prometheus.NewDesc("hostkit_boot_order_info", "The boot-order plan: the generator's mode and the boot it was made for; the value is 1.",
		[]string{"mode", "boot_id"}, nil)
	bootVerifiedDesc = prometheus.NewDesc("hostkit_boot_order_verification_timestamp_seconds",
		"When the last verification ran (Unix time); 0 when none has run this boot.", nil, nil)
	bootCheckedDesc = prometheus.NewDesc("hostkit_boot_order_edges_checked",
		"Edges the last verification compared.", []string{"boot_id"}, nil)
	bootViolationsDesc = prometheus.NewDesc("hostkit_boot_order_violations",
		"Edges whose order did not hold at the last verification.", []string{"boot_id"}, nil)
	bootNotRunDesc = prometheus.NewDesc("hostkit_boot_order_not_run",
		"Planned units that had not run at the last verification.", []string{"boot_id"}, nil)
)

func collectBootOrder(ctx context.Context, conn *dbus.Conn) ([]prometheus.Metric, error) {
	props, err := properties(ctx, conn, bootBus, bootPath, bootBus)
	if err != nil {
		return nil, err
	}
	var out []prometheus.Metric
	for _, g := range bootPlanGauges {
		if v, ok := number(props, g.property); ok {
			out = append(out, gauge(g.desc, v))
		}
	}
	bootID := text(props, "BootID")
	out = append(out, gauge(bootInfoDesc, 1, text(props, "Mode"), bootID))
	last, _ := number(props, "LastVerification") // microseconds since the epoch
	out = append(out, gauge(bootVerifiedDesc, last/1e6))
	if last > 0 {
		for _, g := range []struct {
			property string
			desc     *prometheus.Desc
		}{{"Checked", bootCheckedDesc}, {"Violations", bootViolationsDesc}, {"NotRun", bootNotRunDesc}} {
			if v, ok := number(props, g.property); ok {
				out = append(out, gauge(g.desc, v, bootID))
			}
		}
	}
	return out, nil
}
