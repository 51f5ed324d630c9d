// Package config loads hostkit configuration: /etc/hostkit/NAME.conf plus the drop-ins in
// /etc/hostkit/NAME.conf.d/*.conf, in systemd's INI syntax (see hostkit.conf(5)).
//
// Every service declares the keys it knows as Options; Load parses the main file and then
// each drop-in in lexical order, so a later assignment overrides an earlier one. An unknown
// section or key, a malformed line or a bad value is an error naming file and line.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Dir is where hostkit's configuration lives.
const Dir = "/etc/hostkit"

// Path returns the main configuration file of service name, e.g. /etc/hostkit/hwd.conf.
func Path(name string) string { return filepath.Join(Dir, name+".conf") }

// Option is one key a service understands. Set parses a value and stores it; its error
// is reported with the file and line the value came from. Key "*" takes every key of the
// section, for a section another program checks (the generator's [Rules] in
// boot-order.conf, which the daemon must accept without judging).
type Option struct {
	Section string
	Key     string
	Set     func(value string) error
}

// Error is a problem at a place in a configuration file.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Assignment is one "Key=Value" line as read from a file.
type Assignment struct {
	File    string
	Line    int
	Section string
	Header  int // the line of the [Section] header above it
	Key     string
	Value   string
}

// header is a "[Section]" line.
type header struct {
	Section string
	Line    int
}

// Place is where something was written in a configuration file: a key, or the header of
// a repeated section's item.
type Place struct {
	File string
	Line int
}

func (p Place) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Errorf returns an *Error at p, for checks a service makes after Load (an item that lacks
// a key, two items that collide).
func Errorf(p Place, format string, args ...any) error {
	return &Error{p.File, p.Line, fmt.Errorf(format, args...)}
}

// Repeated declares a section of which every occurrence is a new item, as the [Address]
// sections of systemd-networkd: each [Section] header, in the main file or a drop-in,
// starts an item, and the keys below it set that item only. New is called at each header
// with its place and returns the item's options (their Section field is ignored). A
// drop-in adds items; it cannot change an item of another file.
type Repeated struct {
	Section string
	New     func(at Place) []Option
}

// MaxFileSize caps every configuration file Load reads; a larger one is an error.
const MaxFileSize = 1 << 20

// Load reads path and then path+".d/*.conf" in lexical order and applies every assignment
// to opts, or to the item of a repeated section it belongs to. A missing main file or
// drop-in directory is not an error: the defaults apply. Only regular files are read (a
// FIFO or device is an error, never a hang), each at most MaxFileSize. Parsing stops at
// the first error, which names file and line.
func Load(path string, opts []Option, repeated ...Repeated) error {
	files := []string{path}
	dropins, err := filepath.Glob(filepath.Join(path+".d", "*.conf"))
	if err != nil {
		return fmt.Errorf("%s.d: %w", path, err)
	}
	sort.Strings(dropins)
	files = append(files, dropins...)

	byName := map[string]Option{}
	for _, o := range opts {
		byName[o.Section+"\x00"+o.Key] = o
	}
	newItem := map[string]func(Place) []Option{}
	for _, r := range repeated {
		newItem[r.Section] = r.New
	}
	for _, f := range files {
		data, err := ReadFile(f, MaxFileSize)
		if errors.Is(err, fs.ErrNotExist) && f == path {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading configuration: %w", err)
		}
		assignments, headers, err := parse(f, data)
		if err != nil {
			return err
		}
		// The items of this file's repeated sections, by the line of their header.
		items := map[int][]Option{}
		for _, h := range headers {
			if n, ok := newItem[h.Section]; ok {
				items[h.Line] = n(Place{f, h.Line})
			}
		}
		for _, a := range assignments {
			var o Option
			ok := false
			if _, rep := newItem[a.Section]; rep {
				item := items[a.Header]
				for _, opt := range item {
					if opt.Key == a.Key {
						o, ok = opt, true
					}
				}
				if !ok {
					return &Error{a.File, a.Line, unknownItemKey(a, item)}
				}
			} else if o, ok = byName[a.Section+"\x00"+a.Key]; !ok {
				o, ok = byName[a.Section+"\x00*"]
			}
			if !ok {
				return &Error{a.File, a.Line, unknownKey(a, opts, repeated)}
			}
			if err := o.Set(a.Value); err != nil {
				return &Error{a.File, a.Line, fmt.Errorf("[%s] %s=%s: %w", a.Section, a.Key, a.Value, err)}
			}
		}
	}
	return nil
}

// ErrNotRegular is wrapped by the error of OpenFile for what it refuses to read: a
// directory, device, socket, or (unless pipes are allowed) a FIFO.
var ErrNotRegular = errors.New("not a regular file")

// OpenFile opens path for reading the way every hostkit program opens what it is given
// (configuration, SMBIOS tables and dumps, init scripts): what is not a regular file is
// not opened at all (some devices act when opened), the rest without blocking, so that
// a FIFO without a writer is never waited on, and with flags added to the open flags
// (syscall.O_NOFOLLOW, say: then a final symbolic link is refused, not followed). It returns the file only when it is a regular file,
// or, with pipes, a pipe or FIFO (such as /dev/stdin), which the caller reads to its end
// with ReadAtMost. Anything else is closed again and is an error wrapping ErrNotRegular
// that names path and says what it is. Errors are *fs.PathError, naming path.
func OpenFile(path string, flags int, pipes bool) (*os.File, error) {
	// Look before opening: opening some devices has effects (a watchdog arms, a tape
	// rewinds). The check after opening covers a file replaced in between.
	stat := os.Stat
	if flags&syscall.O_NOFOLLOW != 0 {
		stat = os.Lstat
	}
	if info, err := stat(path); err != nil {
		return nil, err // an *fs.PathError, naming path
	} else if err := readable(path, info.Mode(), pipes); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flags, 0)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil {
		err = readable(path, info.Mode(), pipes)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readable says why a file of mode is not one OpenFile returns (nil when it is).
func readable(path string, mode fs.FileMode, pipes bool) error {
	if mode.IsRegular() || pipes && mode&fs.ModeNamedPipe != 0 {
		return nil
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w but %s", ErrNotRegular, kind(mode))}
}

// kind names what a file that is not regular is, for errors.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "of type " + m.Type().String()
}

// ReadAtMost reads f to its end, at most limit bytes: more is an error naming f (an
// *fs.PathError, as every error it returns). A pipe is read until its writer closes it.
func ReadAtMost(f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err // an *fs.PathError, naming f
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: f.Name(), Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return data, nil
}

// ReadFile reads the regular file at path, of at most limit bytes, as OpenFile opens it.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := OpenFile(path, 0, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAtMost(f, limit)
}

func unknownItemKey(a Assignment, item []Option) error {
	var keys []string
	for _, o := range item {
		keys = append(keys, o.Key+"=")
	}
	return fmt.Errorf("unknown key %s= in [%s] (known: %s)", a.Key, a.Section, strings.Join(keys, " "))
}

func unknownKey(a Assignment, opts []Option, repeated []Repeated) error {
	var keys []string
	sectionKnown := false
	for _, o := range opts {
		if o.Section == a.Section {
			sectionKnown = true
			keys = append(keys, o.Key+"=")
		}
	}
	if !sectionKnown {
		var sections []string
		seen := map[string]bool{}
		for _, o := range opts {
			if !seen[o.Section] {
				seen[o.Section] = true
				sections = append(sections, "["+o.Section+"]")
			}
		}
		for _, r := range repeated {
			sections = append(sections, "["+r.Section+"]")
		}
		return fmt.Errorf("unknown section [%s] (known: %s)", a.Section, strings.Join(sections, " "))
	}
	return fmt.Errorf("unknown key %s= in [%s] (known: %s)", a.Key, a.Section, strings.Join(keys, " "))
}

// Parse splits data, the contents of file, into assignments. It accepts systemd's INI
// syntax: [Section] headers, Key=Value lines, comments starting with # or ;, blank lines,
// and a trailing backslash continuing a value on the next line; a UTF-8 byte-order mark
// at the start is skipped. Whitespace around keys
// and values is trimmed; a value may be empty.
func Parse(file string, data []byte) ([]Assignment, error) {
	out, _, err := parse(file, data)
	return out, err
}

// parse is Parse, also returning every section header in order.
func parse(file string, data []byte) ([]Assignment, []header, error) {
	var (
		out     []Assignment
		headers []header
		section string
		at      int
		pending *Assignment // a value continued with a trailing backslash
	)
	// A byte-order mark is not part of the first line: editors on Windows write one, and
	// systemd's parser skips it too.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if pending != nil {
			trimmed := strings.TrimSpace(text)
			if strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") {
				continue // systemd ignores comments inside a continued value
			}
			trimmed = stripComment(trimmed)
			more := strings.HasSuffix(trimmed, "\\")
			pending.Value += " " + strings.TrimSpace(strings.TrimSuffix(trimmed, "\\"))
			if !more {
				pending.Value = strings.TrimSpace(pending.Value)
				out = append(out, *pending)
				pending = nil
			}
			continue
		}
		trimmed := strings.TrimSpace(text)
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case trimmed[0] == '[':
			// "[Job]   # a comment", as sync.conf(5)'s example is written.
			if i := strings.Index(trimmed, "]"); i > 0 && i < len(trimmed)-1 {
				if rest := strings.TrimSpace(trimmed[i+1:]); rest != "" && (rest[0] == '#' || rest[0] == ';') {
					trimmed = trimmed[:i+1]
				}
			}
			if !strings.HasSuffix(trimmed, "]") || len(trimmed) < 3 {
				return nil, nil, &Error{file, line, fmt.Errorf("malformed section header %q", trimmed)}
			}
			section, at = trimmed[1:len(trimmed)-1], line
			headers = append(headers, header{section, line})
			continue
		}
		key, value, ok := strings.Cut(trimmed, "=")
		if !ok {
			return nil, nil, &Error{file, line, fmt.Errorf("expected Key=Value or [Section], got %q", trimmed)}
		}
		key = strings.TrimSpace(key)
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, nil, &Error{file, line, fmt.Errorf("malformed key %q", key)}
		}
		if section == "" {
			return nil, nil, &Error{file, line, fmt.Errorf("%s= outside of any [Section]", key)}
		}
		a := Assignment{File: file, Line: line, Section: section, Header: at, Key: key, Value: stripComment(strings.TrimSpace(value))}
		if strings.HasSuffix(a.Value, "\\") {
			a.Value = strings.TrimSpace(strings.TrimSuffix(a.Value, "\\"))
			pending = &a
			continue
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, &Error{file, line + 1, err}
	}
	if pending != nil {
		out = append(out, *pending) // a backslash on the last line continues into nothing
	}
	return out, headers, nil
}

// stripComment returns the trimmed value v without a comment after it: a "#" that follows
// white space starts one ("Delete=yes   # mirrored", as the examples in the issues and man
// pages are written), and a value that is only a comment ("Listen=   # none") is empty.
// A "#" inside a value ("Exclude=#*#", "a#b") is part of it.
func stripComment(v string) string {
	if v == "#" || strings.HasPrefix(v, "# ") || strings.HasPrefix(v, "#\t") {
		return ""
	}
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i])
		}
	}
	return v
}

// String returns a setter storing the value as is.
func String(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

// List returns a setter for a key that may be given several times: each value is
// appended, and an empty value empties the list (as systemd does for list settings).
func List(dst *[]string) func(string) error {
	return func(v string) error {
		if v == "" {
			*dst = nil
		} else {
			*dst = append(*dst, v)
		}
		return nil
	}
}

// AbsPath returns a setter accepting an absolute path, or empty for "unset".
func AbsPath(dst *string) func(string) error {
	return func(v string) error {
		if v != "" && !filepath.IsAbs(v) {
			return fmt.Errorf("not an absolute path")
		}
		*dst = v
		return nil
	}
}

// Bool returns a setter accepting systemd's booleans (1/yes/true/on, 0/no/false/off).
func Bool(dst *bool) func(string) error {
	return func(v string) error {
		switch strings.ToLower(v) {
		case "1", "yes", "y", "true", "t", "on":
			*dst = true
		case "0", "no", "n", "false", "f", "off":
			*dst = false
		default:
			return fmt.Errorf("not a boolean (use yes or no)")
		}
		return nil
	}
}

// Duration returns a setter accepting a systemd time span ("30", "30s", "5min", "1h 30min",
// "500ms"; a bare number is seconds). "infinity" stores 0, as does "0": the caller reads 0
// as "never".
func Duration(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := ParseTimespan(v)
		if err != nil {
			return err
		}
		*dst = d
		return nil
	}
}

var timespanUnits = map[string]time.Duration{
	"us": time.Microsecond, "usec": time.Microsecond,
	"ms": time.Millisecond, "msec": time.Millisecond,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseTimespan parses a systemd time span as Duration does.
func ParseTimespan(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if s == "infinity" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad time span %q (use e.g. 30s, 5min)", v)
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("bad time span %q: %w", v, err)
		}
		s = strings.TrimLeft(s[i:], " ")
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		unit := time.Second
		if j > 0 {
			u, ok := timespanUnits[s[:j]]
			if !ok {
				return 0, fmt.Errorf("bad time span %q: unknown unit %q", v, s[:j])
			}
			unit = u
		}
		if n*float64(unit) > float64(1<<62) {
			return 0, fmt.Errorf("time span %q too large", v)
		}
		total += time.Duration(n * float64(unit))
		s = strings.TrimLeft(s[j:], " ")
	}
	return total, nil
}

// DefaultIdleTimeout is how long a daemon waits without a call before it exits.
const DefaultIdleTimeout = 30 * time.Second

// DaemonOptions are the keys of the [Daemon] section every hostkit daemon understands:
// IdleTimeoutSec= (idle exit period; 0 or infinity: never exit when idle).
func DaemonOptions(idleTimeout *time.Duration) []Option {
	return []Option{{Section: "Daemon", Key: "IdleTimeoutSec", Set: Duration(idleTimeout)}}
}
