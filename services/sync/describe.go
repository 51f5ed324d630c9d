package sync

// Description is the whole state of a daemon, as org.hostkit.Sync1's Describe() returns it
// in JSON and hostkitctl sync status reads it.
type Description struct {
	Fingerprint string               `json:"fingerprint"`
	Listen      []string             `json:"listen"`
	Modules     []ModuleDescription  `json:"modules"`
	Jobs        []JobStatus          `json:"jobs"`
	Peers       []PeerStatus         `json:"peers"`
	KeepAlive   KeepAliveDescription `json:"keepalive"`
}

// ModuleDescription is a [Module] in a Description.
type ModuleDescription struct {
	Name  string   `json:"name"`
	Path  string   `json:"path"`
	Peers []string `json:"peers"`
}

// KeepAliveDescription is [Sync]'s dead-peer settings in a Description, in seconds.
type KeepAliveDescription struct {
	TimeSec        float64 `json:"time_sec"`
	IntervalSec    float64 `json:"interval_sec"`
	Probes         int     `json:"probes"`
	UserTimeoutSec float64 `json:"user_timeout_sec"`
	DeadPeerSec    float64 `json:"dead_peer_sec"`
}

// Describe returns the daemon's state now; listen are the addresses it receives on.
func (d *Daemon) Describe(listen []string) Description {
	out := Description{Fingerprint: d.ID.Fingerprint, Listen: append([]string{}, listen...),
		Modules: []ModuleDescription{}, Jobs: []JobStatus{}, Peers: []PeerStatus{}}
	for _, m := range d.Config.Modules {
		out.Modules = append(out.Modules, ModuleDescription{m.Name, m.Path, m.Peers})
	}
	for _, s := range d.Senders {
		out.Jobs = append(out.Jobs, s.Status())
	}
	if d.Receiver != nil {
		out.Peers = append(out.Peers, d.Receiver.Peers()...)
	}
	k := d.Config.KeepAlive
	out.KeepAlive = KeepAliveDescription{k.Time.Seconds(), k.Interval.Seconds(), k.Probes, k.UserTimeout.Seconds(), k.DeadPeerTimeout().Seconds()}
	return out
}
