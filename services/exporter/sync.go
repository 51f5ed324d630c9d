package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	hksync "github.com/hostkit/hostkit/services/sync"
)

const syncBus, syncPath = "org.hostkit.Sync1", dbus.ObjectPath("/org/hostkit/Sync1")

func init() {
	// Not bus-activated: asked only while hostkit-syncd runs.
	register(Source{Service: "hostkit-syncd", Unit: "hostkit-syncd.service", BusName: syncBus, Collect: collectSync})
}

var (
	syncJobsDesc    = prometheus.NewDesc("hostkit_sync_jobs", "Sync jobs ([Job] sections) this host sends.", nil, nil)
	syncModulesDesc = prometheus.NewDesc("hostkit_sync_modules", "Modules ([Module] sections) this host receives into.", nil, nil)
	syncPeersDesc   = prometheus.NewDesc("hostkit_sync_peers_connected", "Senders connected to this host's modules now.", nil, nil)
	syncStateDesc   = prometheus.NewDesc("hostkit_sync_job_state", "The job's state (idle, syncing, queued, paused, ...); the value is 1.",
		[]string{"job", "state"}, nil)
	syncPendingFilesDesc = prometheus.NewDesc("hostkit_sync_job_pending_files", "Changed files the job has not sent yet.", []string{"job"}, nil)
	syncPendingBytesDesc = prometheus.NewDesc("hostkit_sync_job_pending_bytes", "Size of the changed files the job has not sent yet.", []string{"job"}, nil)
	syncLagDesc          = prometheus.NewDesc("hostkit_sync_job_lag_seconds", "Age of the oldest change not sent yet; 0 when none is pending.", []string{"job"}, nil)
	syncSentBytesDesc    = prometheus.NewDesc("hostkit_sync_job_sent_bytes_total", "File content the job sent since hostkit-syncd started.", []string{"job"}, nil)
	syncSentFilesDesc    = prometheus.NewDesc("hostkit_sync_job_sent_files_total", "Files the job sent since hostkit-syncd started.", []string{"job"}, nil)
	syncLastDesc         = prometheus.NewDesc("hostkit_sync_job_last_sync_timestamp_seconds", "When the job was last in step with its target (Unix time).", []string{"job"}, nil)
)

func collectSync(ctx context.Context, conn *dbus.Conn) ([]prometheus.Metric, error) {
	data, err := describe(ctx, conn, syncBus, syncPath)
	if err != nil {
		return nil, err
	}
	var d hksync.Description
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s.Describe returned a state this exporter cannot read: %w", syncBus, err)
	}
	now := time.Now()
	out := []prometheus.Metric{
		gauge(syncJobsDesc, float64(len(d.Jobs))),
		gauge(syncModulesDesc, float64(len(d.Modules))),
		gauge(syncPeersDesc, float64(len(d.Peers))),
	}
	for _, j := range d.Jobs {
		lag := 0.0
		if !j.OldestPending.IsZero() {
			lag = now.Sub(j.OldestPending).Seconds()
		}
		out = append(out,
			gauge(syncStateDesc, 1, j.Name, j.State),
			gauge(syncPendingFilesDesc, float64(j.PendingFiles), j.Name),
			gauge(syncPendingBytesDesc, float64(j.PendingBytes), j.Name),
			gauge(syncLagDesc, lag, j.Name),
			counter(syncSentBytesDesc, float64(j.BytesSent), j.Name),
			counter(syncSentFilesDesc, float64(j.FilesSent), j.Name))
		if !j.LastSync.IsZero() {
			out = append(out, gauge(syncLastDesc, float64(j.LastSync.UnixMilli())/1e3, j.Name))
		}
	}
	return out, nil
}
