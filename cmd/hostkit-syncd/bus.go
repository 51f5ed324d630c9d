package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	gosync "sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/hostkit/hostkit/internal/bus"
	hksync "github.com/hostkit/hostkit/services/sync"
)

const (
	busName      = "org.hostkit.Sync1"
	objectPath   = dbus.ObjectPath("/org/hostkit/Sync1")
	jobInterface = "org.hostkit.Sync1.Job"
	peerIface    = "org.hostkit.Sync1.Peer"
	manageAction = "org.hostkit.sync1.manage"
)

// busService is org.hostkit.Sync1 and its job and peer objects; see
// dbus/org.hostkit.Sync1*.xml.
type busService struct {
	svc  *bus.Service
	d    *hksync.Daemon
	root *bus.Object
	jobs map[string]*bus.Object

	// refreshing serializes refresh(), called by publish and after a method call.
	refreshing gosync.Mutex

	mu     gosync.Mutex
	listen []string
	peers  map[string]*bus.Object // by address
	nextID int
	pokes  chan struct{}
}

// jobPath escapes a job name into an object path element as systemd does (sd_bus_path_encode):
// every byte but [A-Za-z0-9] becomes _ and two hex digits.
func jobPath(name string) dbus.ObjectPath {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return objectPath + "/job/" + dbus.ObjectPath(b.String())
}

func exportBus(spec string, d *hksync.Daemon, listeners []net.Listener) (*busService, error) {
	svc, err := bus.Open(spec, busName)
	if err != nil {
		return nil, err
	}
	b := &busService{svc: svc, d: d, jobs: map[string]*bus.Object{}, peers: map[string]*bus.Object{}, pokes: make(chan struct{}, 1)}
	for _, l := range listeners {
		b.listen = append(b.listen, l.Addr().String())
	}
	b.root = &bus.Object{Path: objectPath, Interface: busName, Methods: &managerMethods{b}, Properties: b.rootProperties()}
	if err := svc.Export(b.root); err != nil {
		svc.Conn.Close()
		return nil, err
	}
	for _, s := range d.Senders {
		obj := &bus.Object{Path: jobPath(s.Job.Name), Interface: jobInterface, Methods: &jobMethods{b, s}, Properties: jobProperties(s.Status())}
		if err := svc.Export(obj); err != nil {
			svc.Conn.Close()
			return nil, err
		}
		b.jobs[s.Job.Name] = obj
	}
	go b.publish()
	return b, nil
}

// requestName takes the bus name, once every object is exported.
func (b *busService) requestName() error { return bus.RequestName(b.svc.Conn, busName) }

func (b *busService) close() {
	b.svc.Conn.ReleaseName(busName)
	b.svc.Conn.Close()
}

// changed is called on every status change; publish turns them into PropertiesChanged
// at most five times a second.
func (b *busService) changed() {
	select {
	case b.pokes <- struct{}{}:
	default:
	}
}

func (b *busService) publish() {
	for {
		select {
		case <-b.svc.Conn.Context().Done():
			return
		case <-b.pokes:
		}
		b.refresh()
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *busService) refresh() {
	b.refreshing.Lock()
	defer b.refreshing.Unlock()
	for _, s := range b.d.Senders {
		if err := b.jobs[s.Job.Name].Update(b.svc.Conn, jobProperties(s.Status())); err != nil {
			slog.Warn("updating job properties", "sync", s.Job.Name, "err", err)
		}
	}
	if b.d.Receiver == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range b.d.Receiver.Peers() {
		seen[p.Address] = true
		if obj, ok := b.peers[p.Address]; ok {
			obj.Update(b.svc.Conn, peerProperties(p))
			continue
		}
		b.nextID++
		obj := &bus.Object{Path: objectPath + dbus.ObjectPath(fmt.Sprintf("/peer/%d", b.nextID)), Interface: peerIface,
			Methods: &struct{}{}, Properties: peerProperties(p)}
		if err := b.svc.Export(obj); err != nil {
			slog.Warn("exporting a peer object", "err", err)
			continue
		}
		b.peers[p.Address] = obj
	}
	for addr, obj := range b.peers {
		if !seen[addr] {
			bus.Unexport(b.svc.Conn, obj)
			delete(b.peers, addr)
		}
	}
	b.root.Update(b.svc.Conn, map[string]any{"Peers": b.peerPathsLocked()})
}

func (b *busService) peerPathsLocked() []dbus.ObjectPath {
	paths := []dbus.ObjectPath{}
	for _, obj := range b.peers {
		paths = append(paths, obj.Path)
	}
	return paths
}

func (b *busService) rootProperties() map[string]any {
	jobs := []dbus.ObjectPath{}
	for _, s := range b.d.Senders {
		jobs = append(jobs, jobPath(s.Job.Name))
	}
	modules := []string{}
	for _, m := range b.d.Config.Modules {
		modules = append(modules, m.Name)
	}
	k := b.d.Config.KeepAlive
	return map[string]any{
		"Fingerprint":           b.d.ID.Fingerprint,
		"Jobs":                  jobs,
		"Modules":               modules,
		"Listen":                append([]string{}, b.listen...),
		"Peers":                 []dbus.ObjectPath{},
		"KeepAliveTimeUSec":     uint64(k.Time.Microseconds()),
		"KeepAliveIntervalUSec": uint64(k.Interval.Microseconds()),
		"KeepAliveProbes":       uint32(k.Probes),
		"UserTimeoutUSec":       uint64(k.UserTimeout.Microseconds()),
	}
}

func usec(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixMicro())
}

func jobProperties(st hksync.JobStatus) map[string]any {
	return map[string]any{
		"Name":              st.Name,
		"Source":            st.Source,
		"Target":            st.Target,
		"State":             st.State,
		"PendingFiles":      uint64(st.PendingFiles),
		"PendingBytes":      uint64(max(st.PendingBytes, 0)),
		"OldestPendingUSec": usec(st.OldestPending),
		"LastSyncUSec":      usec(st.LastSync),
		"BytesSent":         uint64(st.BytesSent),
		"FilesSent":         uint64(st.FilesSent),
		"PeerAddress":       st.PeerAddress,
		"PeerFingerprint":   st.PeerFingerprint,
		"LastError":         st.LastError,
		"ScanEntries":       uint64(st.ScanEntries),
		"InitialTotal":      uint64(st.InitialTotal),
		"InitialDone":       uint64(st.InitialDone),
		"Note":              st.Note,
	}
}

func peerProperties(p hksync.PeerStatus) map[string]any {
	return map[string]any{
		"Address":       p.Address,
		"Fingerprint":   p.Fingerprint,
		"Module":        p.Module,
		"Job":           p.Job,
		"SinceUSec":     usec(p.Since),
		"FilesReceived": uint64(p.Files),
		"BytesReceived": uint64(p.Bytes),
	}
}

type managerMethods struct{ b *busService }

// Describe returns everything as JSON; anyone may read it (fingerprints are public keys'
// hashes, paths are in the world-readable sync.conf).
func (m *managerMethods) Describe() (string, *dbus.Error) {
	data, err := json.Marshal(m.b.d.Describe(m.b.listen))
	if err != nil {
		return "", bus.Failed(err)
	}
	return string(data), nil
}

// control runs f on the job named job ("" for all) for a caller polkit allows.
func (b *busService) control(sender dbus.Sender, msg dbus.Message, verb, job string, f func(*hksync.Sender) error) *dbus.Error {
	ok, err := bus.Authorize(b.svc.Conn, sender, manageAction, bus.Interactive(msg))
	if !ok {
		why := "polkit said no"
		if err != nil {
			why = err.Error()
		}
		slog.Info(verb+" denied", "caller", string(sender), "sync", job, "why", why)
		return bus.ErrAccessDenied(manageAction)
	}
	var targets []*hksync.Sender
	if job == "" {
		targets = b.d.Senders
	} else if s := b.d.Sender(job); s != nil {
		targets = []*hksync.Sender{s}
	} else {
		return dbus.NewError("org.hostkit.Sync1.Error.NoSuchJob", []any{fmt.Sprintf("no job %q in sync.conf", job)})
	}
	var errs []error
	for _, s := range targets {
		slog.Info(verb, "sync", s.Job.Name, "caller", string(sender))
		if err := f(s); err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", s.Job.Name, err))
		}
	}
	// The caller reads the properties next: they show the change already.
	b.refresh()
	if err := errors.Join(errs...); err != nil {
		return bus.Failed(fmt.Errorf("%s done, but not kept over a restart: %w", verb, err))
	}
	return nil
}

// resync is Resync in control's shape: it cannot fail.
func resync(s *hksync.Sender) error {
	s.Resync()
	return nil
}

func (m *managerMethods) Resync(sender dbus.Sender, msg dbus.Message, job string) *dbus.Error {
	return m.b.control(sender, msg, "resync", job, resync)
}

func (m *managerMethods) Pause(sender dbus.Sender, msg dbus.Message, job string) *dbus.Error {
	return m.b.control(sender, msg, "pause", job, (*hksync.Sender).Pause)
}

func (m *managerMethods) Resume(sender dbus.Sender, msg dbus.Message, job string) *dbus.Error {
	return m.b.control(sender, msg, "resume", job, (*hksync.Sender).Resume)
}

type jobMethods struct {
	b *busService
	s *hksync.Sender
}

func (j *jobMethods) Resync(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	return j.b.control(sender, msg, "resync", j.s.Job.Name, resync)
}

func (j *jobMethods) Pause(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	return j.b.control(sender, msg, "pause", j.s.Job.Name, (*hksync.Sender).Pause)
}

func (j *jobMethods) Resume(sender dbus.Sender, msg dbus.Message) *dbus.Error {
	return j.b.control(sender, msg, "resume", j.s.Job.Name, (*hksync.Sender).Resume)
}
