package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"

	"github.com/hostkit/hostkit/internal/repo"
	"github.com/hostkit/hostkit/internal/testcontainer"
)

func init() { parts = append(parts, vncPart) }

// vncShot is where the demo leaves the display's screenshot, on the host.
const vncShot = "build/demo-vnc-screenshot.png"

// vncPart: a display configured, listening with no Xvnc, started by the first viewer,
// looked at over the bus, photographed, killed and back.
func vncPart(d *demo) []step {
	user := testcontainer.TestUser
	conf := fmt.Sprintf("[Display]\nNumber=1\nUser=%s\nGeometry=1024x768\nSession=xterm -geometry 80x24+40+40\n", user)
	return []step{
		{
			Title:   "A VNC password for " + user,
			Explain: "The display's viewers log in with the password vncpasswd writes to ~/.vnc/passwd, readable by its user only.",
			User:    user,
			Command: "mkdir -p ~/.vnc && echo demo-pw1 | vncpasswd -f > ~/.vnc/passwd && chmod 600 ~/.vnc/passwd && ls -l ~/.vnc/passwd",
			Expect:  []string{"-rw-------"},
		},
		{
			Title: "One [Display] in /etc/hostkit/vnc.conf",
			Explain: "Instead of vncserver.users and a tigervncserver@:1 unit to enable: the display's number, " +
				"its user and its session. See vnc.conf(5).",
			Shown: "cat > /etc/hostkit/vnc.conf <<EOF\n" + conf + "EOF",
			Do:    func() error { return d.c.WriteFile("/etc/hostkit/vnc.conf", []byte(conf), 0o644) },
		},
		{
			Title: "Apply it: the display listens, nothing runs",
			Explain: "hostkitctl vnc reload checks the file and the password, has the generator write " +
				"hostkit-vnc@1.socket and starts it. Until someone connects, the socket is all there is.",
			Command: "hostkitctl vnc reload && systemctl is-active hostkit-vnc@1.socket && (pgrep -l Xvnc || echo 'no Xvnc')",
			Expect:  []string{"waiting", "active", "no Xvnc"},
		},
		{
			Title: "The first viewer starts the display and gets the greeting",
			Explain: "Xvnc takes the listening socket from systemd and serves the viewer waiting in its queue, " +
				"without a reconnect.",
			Command: "timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5901; head -c 12 <&3'",
			Expect:  []string{"RFB 003.008"},
		},
		{
			Title:   "Its state on the bus",
			Command: "sleep 1; busctl get-property org.hostkit.VNC1 /org/hostkit/VNC1/display/1 org.hostkit.VNC1.Display State User MainPID Clients Blank; hostkitctl vnc status",
			Expect:  []string{`s "running"`, `s "` + user + `"`, "b false"},
		},
		{
			Title:   "Its screenshot, as " + user + ": your own display needs no password",
			User:    user,
			Command: "hostkitctl vnc screenshot :1 -o /tmp/desk.png",
			Expect:  []string{"wrote /tmp/desk.png"},
		},
		{
			Title: "The screenshot, out of the container",
			Shown: "cp CONTAINER:/tmp/desk.png " + vncShot,
			Do: func() error {
				data, err := d.c.Exec("cat", "/tmp/desk.png")
				if err != nil {
					return err
				}
				img, err := png.Decode(bytes.NewReader([]byte(data)))
				if err != nil {
					return fmt.Errorf("the screenshot is not a PNG: %w", err)
				}
				root, err := repo.Root()
				if err != nil {
					return err
				}
				path := filepath.Join(root, vncShot)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
					return err
				}
				fmt.Printf("    wrote %s, %dx%d\n", path, img.Bounds().Dx(), img.Bounds().Dy())
				return nil
			},
		},
		{
			Title: "kill -9 of Xvnc: recorded, and back by itself",
			Explain: "Debian's tigervncserver@ unit ends up inactive with Result=success here. " +
				"hostkit's display is restarted by systemd and says what happened.",
			Command: "kill -9 $(busctl get-property org.hostkit.VNC1 /org/hostkit/VNC1/display/1 org.hostkit.VNC1.Display MainPID | cut -d' ' -f2); " +
				"sleep 2; hostkitctl vnc status :1",
			Expect: []string{"running", "signal KILL"},
		},
	}
}
