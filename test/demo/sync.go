package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
)

// syncPart shows hostkit-syncd: a tree on this host (the demo's host plays host A) pushed
// into the container (host B), which receives through hostkit-syncd.socket. The container
// has only its own loopback, so the sender runs here in the container's network namespace
// and connects to 127.0.0.1:8730 there.
func syncPart(d *demo) []step {
	root, _ := repo.Root()
	bin := filepath.Join(root, "bin", "hostkit-syncd")
	dir, err := os.MkdirTemp("", "hostkit-demo-sync-")
	if err != nil {
		return []step{{Title: "hostkit-syncd", Do: func() error { return err }, Shown: "mkdir"}}
	}
	src := filepath.Join(dir, "www")
	hostConf := filepath.Join(dir, "sync.conf")
	state := filepath.Join(dir, "state")
	var containerFP, hostFP string
	var sender *exec.Cmd

	return []step{
		{
			Title:   "hostkit-syncd: this machine's fingerprint",
			Explain: "Hosts know each other by key: the first `hostkit-syncd id` makes this host's key and prints its fingerprint.",
			Command: "hostkit-syncd id | tee /root/fingerprint",
			Expect:  []string{"SHA256:"},
		},
		{
			Title:   "The other host's fingerprint (the demo's host plays it)",
			Explain: "On host A, the same command; A keeps its key in its own state directory.",
			Shown:   "hostkit-syncd id   # on host A",
			Do: func() error {
				os.WriteFile(hostConf, []byte("[Sync]\nStateDirectory="+state+"\n"), 0o644)
				out, err := exec.Command(bin, "id", "--config", hostConf).CombinedOutput()
				if err != nil {
					return fmt.Errorf("hostkit-syncd id: %v: %s", err, out)
				}
				hostFP = strings.TrimSpace(string(out))
				fmt.Printf("      %s\n", hostFP)
				data, err := os.ReadFile(filepath.Join(d.c.Root, "root/fingerprint"))
				containerFP = strings.TrimSpace(string(data))
				return err
			},
		},
		{
			Title:   "B receives into /srv/www from A",
			Explain: "A [Module] names the directory and the senders allowed to write there, by fingerprint.",
			Shown:   "printf '[Module]\\nName=www\\nPath=/srv/www\\nPeer=SHA256:...A...\\n' > /etc/hostkit/sync.conf.d/www.conf",
			Do: func() error {
				return d.c.WriteFile("/etc/hostkit/sync.conf.d/www.conf", []byte("[Module]\nName=www\nPath=/srv/www\nPeer="+hostFP+"\n"), 0o644)
			},
		},
		{
			Title:   "Enable the receiver's socket",
			Explain: "hostkit-syncd.socket listens on 8730 with keepalive; the first connection starts hostkit-syncd.service.",
			Command: "systemctl enable --now hostkit-syncd.socket && systemctl is-active hostkit-syncd.socket hostkit-syncd.service",
			Expect:  []string{"active\ninactive"},
		},
		{
			Title:   "A sends /srv/www to B",
			Explain: "A [Job] on A: the source, the target host:port/module, and the key B must present. A watches the tree with inotify and sends every change as it happens.",
			Shown:   "printf '[Job]\\nName=www\\nSource=/srv/www\\nTarget=127.0.0.1:8730/www\\nPeer=SHA256:...B...\\n' > /etc/hostkit/sync.conf.d/www.conf; hostkit-syncd   # on host A",
			Do: func() error {
				os.MkdirAll(filepath.Join(src, "img"), 0o755)
				os.WriteFile(filepath.Join(src, "index.html"), []byte("<h1>hello from host A</h1>\n"), 0o644)
				os.WriteFile(filepath.Join(src, "img/logo.svg"), []byte("<svg/>\n"), 0o644)
				conf := fmt.Sprintf("[Sync]\nStateDirectory=%s\n[Job]\nName=www\nSource=%s\nTarget=127.0.0.1:8730/www\nPeer=%s\n", state, src, containerFP)
				if err := os.WriteFile(hostConf, []byte(conf), 0o644); err != nil {
					return err
				}
				sender = exec.Command("nsenter", "-t", strconv.Itoa(d.c.Leader), "-n", "--", bin, "--config", hostConf, "--bus", "none")
				// The sender dies with the demo, whatever happens to the demo.
				sender.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
				return sender.Start()
			},
		},
		{
			Title:   "The tree arrived",
			Explain: "The first connection started hostkit-syncd.service on B; the initial comparison sent what B lacked.",
			Command: "sleep 2; find /srv/www -type f | sort; cat /srv/www/index.html; systemctl is-active hostkit-syncd.service",
			Expect:  []string{"/srv/www/img/logo.svg", "hello from host A", "active"},
		},
		{
			Title:   "A change on A arrives at once",
			Explain: "Written and closed on A, the file is at B within milliseconds: no 15 s batch delay as lsyncd's default.",
			Shown:   "echo 'written on A at <time>' > /srv/www/news.txt   # on host A",
			Do: func() error {
				return os.WriteFile(filepath.Join(src, "news.txt"), []byte("written on A at "+time.Now().Format(time.TimeOnly)+"\n"), 0o644)
			},
		},
		{
			Title:   "... and here it is",
			Command: "sleep 1; cat /srv/www/news.txt",
			Expect:  []string{"written on A at"},
		},
		{
			Title:   "hostkitctl sync status",
			Explain: "B's view: the module, and A connected to it with A's fingerprint (a sending host shows its jobs here too).",
			Command: "hostkitctl sync status",
			Expect:  []string{"Receiving on", "connected: "},
		},
		{
			Title:   "Stop A's sender",
			Explain: "`systemctl stop hostkit-syncd` is how a stuck sync is ended: SIGTERM, and it is gone within seconds.",
			Shown:   "systemctl stop hostkit-syncd   # on host A",
			Do: func() error {
				defer os.RemoveAll(dir)
				if sender == nil || sender.Process == nil {
					return nil
				}
				sender.Process.Signal(syscall.SIGTERM)
				return sender.Wait()
			},
		},
	}
}
