// Package sync is hostkit-syncd's logic: the configuration, this host's identity, the wire
// protocol, the receiver that writes into modules, and the sender that watches a tree and
// keeps a target in step with it. Nothing here knows about D-Bus; cmd/hostkit-syncd wires
// it to systemd and the bus.
package sync

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hostkit/hostkit/internal/config"
)

// DefaultStateDirectory is where this host's key, the queues and resume data live.
const DefaultStateDirectory = "/var/lib/hostkit/sync"

// DefaultPort is the port of hostkit-syncd.socket and of a Target= without one.
const DefaultPort = 8730

// Config is what sync.conf says.
type Config struct {
	StateDirectory string
	Listen         string // host:port; empty: no receiver unless socket-activated
	KeepAlive      KeepAlive
	// RescanInterval is how often a job compares its whole tree while part of it could
	// not be watched (out of inotify watches).
	RescanInterval time.Duration
	// IdleTimeout is [Daemon] IdleTimeoutSec=: how long a socket-activated daemon without
	// [Job]s stays without a connection or bus call before it exits (0: never).
	IdleTimeout time.Duration
	Modules     []*Module
	Jobs        []*Job
}

// KeepAlive is how dead peers are found: the names and meanings of systemd.socket(5)'s
// KeepAliveTimeSec=, KeepAliveIntervalSec=, KeepAliveProbes=, plus TCP_USER_TIMEOUT.
type KeepAlive struct {
	Time        time.Duration
	Interval    time.Duration
	Probes      int
	UserTimeout time.Duration // 0: the kernel's default (tcp_retries2, about 15 minutes)
}

// Bound is how long an idle connection to a dead peer lives: the keepalive idle time plus
// every probe. A connection with unacknowledged data is bounded by UserTimeout instead.
func (k KeepAlive) Bound() time.Duration { return k.Time + time.Duration(k.Probes)*k.Interval }

// DeadPeerTimeout is the longest either bound: the time within which a dead peer is
// reported whether the connection was idle or busy.
func (k KeepAlive) DeadPeerTimeout() time.Duration { return max(k.Bound(), k.UserTimeout) }

// Module is a [Module]: a directory this host receives into from the peers it names.
type Module struct {
	Name  string
	Path  string
	Peers []string
	At    config.Place
}

// Job is a [Job]: a tree this host sends to one target.
type Job struct {
	Name         string
	Source       string
	Target       string
	Peer         string
	Exclude      []string
	Delete       bool
	Delay        time.Duration
	PasswordFile string // rsync:// targets only
	// BandwidthLimit caps the bytes per second sent; 0: no limit.
	BandwidthLimit int64
	At             config.Place

	// From Target=: a hostkit receiver's address and module, or an rsync daemon's.
	Address string // host:port
	Module  string
	Rsync   bool
}

// Load reads path and its drop-ins (path.d/*.conf). Errors name file and line; an item
// that lacks a key is an error at its section's header.
func Load(file string) (*Config, error) {
	c := &Config{
		StateDirectory: DefaultStateDirectory,
		KeepAlive:      KeepAlive{Time: 30 * time.Second, Interval: time.Second, Probes: 3, UserTimeout: 33 * time.Second},
		RescanInterval: DefaultRescanInterval,
		IdleTimeout:    config.DefaultIdleTimeout,
	}
	opts := []config.Option{
		{Section: "Sync", Key: "StateDirectory", Set: abs(&c.StateDirectory)},
		{Section: "Sync", Key: "Listen", Set: hostPort(&c.Listen)},
		{Section: "Sync", Key: "KeepAliveTimeSec", Set: positive(&c.KeepAlive.Time, keepaliveSeconds)},
		{Section: "Sync", Key: "KeepAliveIntervalSec", Set: positive(&c.KeepAlive.Interval, keepaliveSeconds)},
		{Section: "Sync", Key: "KeepAliveProbes", Set: probes(&c.KeepAlive.Probes)},
		{Section: "Sync", Key: "UserTimeoutSec", Set: span(&c.KeepAlive.UserTimeout)},
		{Section: "Sync", Key: "RescanIntervalSec", Set: positive(&c.RescanInterval, "a comparison of the whole tree is no busy loop")},
	}
	opts = append(opts, config.DaemonOptions(&c.IdleTimeout)...)
	module := config.Repeated{Section: "Module", New: func(at config.Place) []config.Option {
		m := &Module{At: at}
		c.Modules = append(c.Modules, m)
		return []config.Option{
			{Key: "Name", Set: name(&m.Name)},
			{Key: "Path", Set: abs(&m.Path)},
			{Key: "Peer", Set: fingerprints(&m.Peers)},
		}
	}}
	job := config.Repeated{Section: "Job", New: func(at config.Place) []config.Option {
		j := &Job{At: at, Delete: true}
		c.Jobs = append(c.Jobs, j)
		return []config.Option{
			{Key: "Name", Set: name(&j.Name)},
			{Key: "Source", Set: abs(&j.Source)},
			{Key: "Target", Set: target(j)},
			{Key: "Peer", Set: fingerprint(&j.Peer)},
			{Key: "Exclude", Set: excludes(&j.Exclude)},
			{Key: "Delete", Set: config.Bool(&j.Delete)},
			{Key: "Delay", Set: span(&j.Delay)},
			{Key: "PasswordFile", Set: abs(&j.PasswordFile)},
			{Key: "BandwidthLimit", Set: bandwidth(&j.BandwidthLimit)},
		}
	}}
	if err := config.Load(file, opts, module, job); err != nil {
		return nil, err
	}
	return c, c.check()
}

// check finds what no single line shows: missing keys, and names used twice.
func (c *Config) check() error {
	modules := map[string]*Module{}
	for _, m := range c.Modules {
		switch {
		case m.Name == "":
			return config.Errorf(m.At, "[Module] without Name=")
		case m.Path == "":
			return config.Errorf(m.At, "[Module] %s without Path= (the directory to receive into)", m.Name)
		case len(m.Peers) == 0:
			return config.Errorf(m.At, "[Module] %s without Peer= (the fingerprint of a sender allowed to write; `hostkit-syncd id` on the sender prints it)", m.Name)
		}
		if o := modules[m.Name]; o != nil {
			return config.Errorf(m.At, "[Module] %s is defined twice (also at %s)", m.Name, o.At)
		}
		modules[m.Name] = m
	}
	jobs := map[string]*Job{}
	for _, j := range c.Jobs {
		switch {
		case j.Name == "":
			return config.Errorf(j.At, "[Job] without Name=")
		case j.Source == "":
			return config.Errorf(j.At, "[Job] %s without Source= (the directory to send)", j.Name)
		case j.Target == "":
			return config.Errorf(j.At, "[Job] %s without Target= (host:port/module of a hostkit receiver, or rsync://host/module)", j.Name)
		case j.Peer == "" && !j.Rsync:
			return config.Errorf(j.At, "[Job] %s without Peer= (the target's fingerprint; `hostkit-syncd id` on the target prints it)", j.Name)
		case j.PasswordFile != "" && !j.Rsync:
			return config.Errorf(j.At, "[Job] %s: PasswordFile= is for rsync:// targets only", j.Name)
		}
		if o := jobs[j.Name]; o != nil {
			return config.Errorf(j.At, "[Job] %s is defined twice (also at %s)", j.Name, o.At)
		}
		jobs[j.Name] = j
	}
	return nil
}

const keepaliveSeconds = "the kernel counts keepalive in whole seconds"

func abs(dst *string) func(string) error { return config.AbsPath(dst) }

func span(dst *time.Duration) func(string) error { return config.Duration(dst) }

// positive accepts a time of at least a second; why says why, in an error.
func positive(dst *time.Duration, why string) func(string) error {
	return func(v string) error {
		d, err := config.ParseTimespan(v)
		if err != nil {
			return err
		}
		if d < time.Second {
			return fmt.Errorf("must be at least 1s (%s)", why)
		}
		*dst = d
		return nil
	}
}

func probes(dst *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 127 {
			return fmt.Errorf("not a number of probes from 1 to 127")
		}
		*dst = n
		return nil
	}
}

func name(dst *string) func(string) error {
	return func(v string) error {
		if err := CheckName(v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

// CheckName accepts a job or module name: letters, digits, '-', '_' and '.', not starting
// with '.', at most 64 bytes; it becomes a file name, a D-Bus path element and a log field.
func CheckName(v string) error {
	if v == "" || len(v) > 64 || v[0] == '.' {
		return fmt.Errorf("a name is 1 to 64 of a-z A-Z 0-9 - _ . and does not start with '.'")
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("a name is 1 to 64 of a-z A-Z 0-9 - _ . and does not start with '.'")
		}
	}
	return nil
}

func hostPort(dst *string) func(string) error {
	return func(v string) error {
		if v == "" {
			*dst = ""
			return nil
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("not host:port (e.g. 0.0.0.0:%d or [::]:%d)", DefaultPort, DefaultPort)
		}
		*dst = v
		return nil
	}
}

func fingerprint(dst *string) func(string) error {
	return func(v string) error {
		if err := CheckFingerprint(v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

func fingerprints(dst *[]string) func(string) error {
	return func(v string) error {
		if v != "" {
			if err := CheckFingerprint(v); err != nil {
				return err
			}
		}
		return config.List(dst)(v)
	}
}

func excludes(dst *[]string) func(string) error {
	return func(v string) error {
		if _, err := path.Match(strings.TrimPrefix(v, "/"), ""); err != nil {
			return fmt.Errorf("bad glob: %w", err)
		}
		return config.List(dst)(v)
	}
}

// bandwidth accepts bytes per second with an optional K, M or G (powers of 1024), as
// rsync's --bwlimit; 0 or empty is no limit.
func bandwidth(dst *int64) func(string) error {
	return func(v string) error {
		mult := int64(1)
		s := strings.TrimSpace(v)
		if s == "" {
			*dst = 0
			return nil
		}
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > (1<<40) {
			return fmt.Errorf("not a rate in bytes per second (e.g. 10M)")
		}
		*dst = n * mult
		return nil
	}
}

// target parses Target=: host:port/module (port defaults to 8730), or
// rsync://host[:port]/module for a plain rsync daemon.
func target(j *Job) func(string) error {
	return func(v string) error {
		rest, rsync := strings.CutPrefix(v, "rsync://")
		hostport, module, ok := strings.Cut(rest, "/")
		if !ok || hostport == "" {
			return fmt.Errorf("not host:port/module (e.g. hostb.example.com:%d/www) or rsync://host/module", DefaultPort)
		}
		module = strings.TrimSuffix(module, "/")
		if err := CheckName(module); err != nil {
			return fmt.Errorf("module %q: %w", module, err)
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			port := DefaultPort
			if rsync {
				port = 873
			}
			hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), strconv.Itoa(port))
		}
		j.Target, j.Address, j.Module, j.Rsync = v, hostport, module, rsync
		return nil
	}
}
