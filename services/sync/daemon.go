package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	gosync "sync"
)

// Daemon is everything one sync.conf asks for: a receiver for its modules and a sender for
// each job, sharing this host's identity.
type Daemon struct {
	Config   *Config
	ID       *Identity
	Receiver *Receiver // nil without [Module]s
	Senders  []*Sender
}

// NewDaemon loads (or makes) this host's key and prepares the receiver and the senders.
// changed, when set, is called whenever a status changed.
func NewDaemon(c *Config, changed func()) (*Daemon, error) {
	id, err := LoadIdentity(c.StateDirectory)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Config: c, ID: id}
	if len(c.Modules) > 0 {
		d.Receiver = &Receiver{Modules: c.Modules, ID: id, KeepAlive: c.KeepAlive, Changed: changed}
	}
	for _, j := range c.Jobs {
		s := NewSender(j, id, c.KeepAlive, c.StateDirectory)
		s.RescanInterval = c.RescanInterval
		s.Changed = changed
		d.Senders = append(d.Senders, s)
	}
	return d, nil
}

// Sender returns the job named name, or nil.
func (d *Daemon) Sender(name string) *Sender {
	for _, s := range d.Senders {
		if s.Job.Name == name {
			return s
		}
	}
	return nil
}

// Run receives on listeners and runs every job until ctx ends. A job that cannot start
// is logged and reported in its status; the others run on. It returns once everything
// has stopped.
func (d *Daemon) Run(ctx context.Context, listeners []net.Listener) error {
	var wg gosync.WaitGroup
	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Receiver.Serve(ctx, l); err != nil {
				errs <- err
			}
		}()
	}
	for _, s := range d.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				slog.Error("job cannot run", "sync", s.Job.Name, "err", err)
				s.update(func(st *JobStatus) { st.State, st.LastError = StateError, err.Error() })
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// Listeners returns the sockets to receive on: those passed by socket activation, or
// else Listen= of the configuration, or none. Call it before Run.
func (d *Daemon) Listeners(activated []net.Listener) ([]net.Listener, error) {
	if d.Receiver == nil && len(activated) > 0 {
		// hostkit-syncd.socket enabled on a host without modules: every sender is told
		// so (and the log says it), rather than the service failing at each connection.
		slog.Warn("sockets were passed but sync.conf has no [Module]: every sender will be refused")
		d.Receiver = &Receiver{ID: d.ID, KeepAlive: d.Config.KeepAlive}
	}
	if len(activated) > 0 || d.Config.Listen == "" {
		return activated, nil
	}
	if d.Receiver == nil {
		return nil, fmt.Errorf("there is no [Module] to receive into on Listen=%s", d.Config.Listen)
	}
	l, err := Listen(d.Config.Listen)
	if err != nil {
		return nil, err
	}
	return []net.Listener{l}, nil
}
