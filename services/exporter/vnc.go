package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hostkit/hostkit/services/vnc"
)

const vncBus, vncPath = "org.hostkit.VNC1", dbus.ObjectPath("/org/hostkit/VNC1")

func init() {
	register(Source{Service: "hostkit-vncd", Unit: "hostkit-vncd.service", BusName: vncBus, OnDemand: true, Collect: collectVNC})
}

var (
	vncDisplaysDesc = prometheus.NewDesc("hostkit_vnc_displays", "Displays configured in vnc.conf.", nil, nil)
	vncStateDesc    = prometheus.NewDesc("hostkit_vnc_display_state", "The display's state (listening, running, failed, ...) and user; the value is 1.",
		[]string{"display", "user", "state"}, nil)
	vncClientsDesc  = prometheus.NewDesc("hostkit_vnc_display_clients", "Viewers connected to the display now.", []string{"display"}, nil)
	vncRestartsDesc = prometheus.NewDesc("hostkit_vnc_display_restarts_total", "Times the display's Xvnc was restarted after a crash.", []string{"display"}, nil)
	vncStaleDesc    = prometheus.NewDesc("hostkit_vnc_display_stale_cleanups_total", "Stale X locks and sockets removed for the display.", []string{"display"}, nil)
)

func collectVNC(ctx context.Context, conn *dbus.Conn) ([]prometheus.Metric, error) {
	data, err := describe(ctx, conn, vncBus, vncPath)
	if err != nil {
		return nil, err
	}
	var d vnc.Description
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s.Describe returned JSON this exporter cannot read: %w", vncBus, err)
	}
	out := []prometheus.Metric{gauge(vncDisplaysDesc, float64(len(d.Displays)))}
	for _, disp := range d.Displays {
		n := ":" + strconv.Itoa(disp.Number)
		out = append(out,
			gauge(vncStateDesc, 1, n, disp.User, disp.State),
			gauge(vncClientsDesc, float64(disp.Clients), n),
			counter(vncRestartsDesc, float64(disp.Restarts), n),
			counter(vncStaleDesc, float64(disp.StaleCleanups), n))
	}
	return out, nil
}
