package vnc

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hostkit/hostkit/internal/config"
)

// XSessionsDir holds the desktop files of installed X sessions.
const XSessionsDir = "/usr/share/xsessions"

// ResolveSession turns Session= into the shell command to run. A value that names a
// desktop file in dir ("xfce", "xfce.desktop") runs that file's Exec=; anything else is
// the command itself, run with /bin/sh -c. from says which it was, for the log.
func ResolveSession(session, dir string) (command, from string, err error) {
	name := strings.TrimSuffix(session, ".desktop")
	if name != "" && !strings.ContainsAny(name, " \t/") {
		path := filepath.Join(dir, name+".desktop")
		if data, err := config.ReadFile(path, config.MaxFileSize); err == nil {
			exec, err := DesktopExec(data)
			if err != nil {
				return "", "", fmt.Errorf("%s: %w", path, err)
			}
			return exec, path, nil
		}
	}
	if strings.HasSuffix(session, ".desktop") {
		return "", "", fmt.Errorf("no desktop file %s in %s (Session=)", session, dir)
	}
	return session, "Session=", nil
}

// DesktopExec returns the Exec= of a desktop file's [Desktop Entry], without the field
// codes (%f, %U, ...) that only file managers fill in.
func DesktopExec(data []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = line == "[Desktop Entry]"
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok || strings.TrimSpace(k) != "Exec" {
			continue
		}
		var words []string
		for _, w := range strings.Fields(v) {
			if len(w) == 2 && w[0] == '%' {
				continue
			}
			words = append(words, w)
		}
		if len(words) == 0 {
			break
		}
		return strings.Join(words, " "), nil
	}
	return "", fmt.Errorf("no Exec= in [Desktop Entry]")
}
