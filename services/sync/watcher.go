package sync

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watcher turns inotify events below a source directory into queued changes. Every
// directory gets its own watch (inotify is not recursive); a new directory is watched
// first and then listed, so that a file written into it in the moment after it was made
// is either in the listing or reported by the new watch, never missed.
type Watcher struct {
	src     string
	exclude *Excluder
	emit    func(...Op)
	log     *slog.Logger

	fd    int
	file  *os.File
	paths map[int32]string // watch descriptor -> directory, relative to src
	wds   map[string]int32

	// unwatched is set when a directory could not be watched (out of inotify watches):
	// the job then rescans periodically.
	unwatched atomic.Bool
	// Overflow is set when the kernel dropped events (IN_Q_OVERFLOW): a full
	// comparison is due.
	Overflow func()

	moves map[uint32]move // IN_MOVED_FROM waiting for its IN_MOVED_TO
}

type move struct {
	path string
	dir  bool
	at   time.Time
}

const watchMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK

// NewWatcher opens an inotify instance for src; Watch("") then watches the tree.
func NewWatcher(src string, exclude *Excluder, emit func(...Op), log *slog.Logger) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w (raise fs.inotify.max_user_instances)", err)
	}
	return &Watcher{src: src, exclude: exclude, emit: emit, log: log, fd: fd,
		file: os.NewFile(uintptr(fd), "inotify"), paths: map[int32]string{}, wds: map[string]int32{}, moves: map[uint32]move{}}, nil
}

// Close stops the watcher; a Run in progress returns.
func (w *Watcher) Close() error { return w.file.Close() }

// Watch adds watches to rel and every directory below it, and calls found for each entry
// below rel listed after its directory's watch was in place (nil: no listing).
func (w *Watcher) Watch(rel string, found func(Entry)) error {
	abs := path.Join(w.src, rel)
	wd, err := unix.InotifyAddWatch(w.fd, abs, watchMask)
	if err != nil {
		if errors.Is(err, unix.ENOSPC) {
			if !w.unwatched.Load() {
				w.log.Error("out of inotify watches: the rest of the tree is rescanned periodically instead (RescanIntervalSec=); "+watchLimits(),
					"path", abs, "watches", len(w.paths))
			}
			w.unwatched.Store(true)
			return nil
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // gone, or replaced, since it was seen
		}
		return fmt.Errorf("inotify_add_watch %s: %w", abs, err)
	}
	if old, ok := w.paths[int32(wd)]; ok && old != rel {
		delete(w.wds, old)
	}
	w.paths[int32(wd)], w.wds[rel] = rel, int32(wd)
	dir, err := os.OpenFile(abs, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	defer dir.Close()
	list, err := dir.ReadDir(-1)
	if err != nil {
		return nil
	}
	for _, d := range list {
		n := d.Name()
		p := n
		if rel != "" {
			p = rel + "/" + n
		}
		if found == nil {
			// Only directories matter: the listing's own type (d_type) says which,
			// without a stat of every file.
			if d.IsDir() && !w.exclude.Excluded(p, true) {
				if err := w.Watch(p, nil); err != nil {
					return err
				}
			}
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(int(dir.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		e, ok := entryFromStat(p, &st)
		if !ok || w.exclude.Excluded(p, e.Kind == KindDir) {
			continue
		}
		if found != nil {
			found(e)
		}
		if e.Kind == KindDir {
			if err := w.Watch(p, found); err != nil {
				return err
			}
		}
	}
	return nil
}

// Unwatched reports whether some directory could not be watched for want of inotify
// watches.
func (w *Watcher) Unwatched() bool { return w.unwatched.Load() }

// Watches returns how many directories are watched.
func (w *Watcher) Watches() int { return len(w.paths) }

// Run reads events until Close, queueing a change for each.
func (w *Watcher) Run() error {
	buf := make([]byte, 256<<10)
	for {
		// A move whose IN_MOVED_TO never comes left the tree: it is a delete. The
		// pair arrives in one read in practice; the deadline bounds the wait.
		if len(w.moves) > 0 {
			w.file.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		} else {
			w.file.SetReadDeadline(time.Time{})
		}
		n, err := w.file.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.expireMoves(0)
			continue
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading inotify events: %w", err)
		}
		var ops []Op
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				raw := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				name = strings.TrimRight(string(raw), "\x00")
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
			ops = w.event(ev, name, ops)
		}
		if len(ops) > 0 {
			w.emit(ops...)
		}
		w.expireMoves(50 * time.Millisecond)
	}
}

func (w *Watcher) event(ev *unix.InotifyEvent, name string, ops []Op) []Op {
	if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
		w.log.Warn("inotify queue overflowed: changes were lost, comparing the whole tree")
		if w.Overflow != nil {
			w.Overflow()
		}
		return ops
	}
	dir, ok := w.paths[ev.Wd]
	if !ok {
		return ops
	}
	if ev.Mask&unix.IN_IGNORED != 0 {
		delete(w.paths, ev.Wd)
		if w.wds[dir] == ev.Wd {
			delete(w.wds, dir)
		}
		return ops
	}
	if name == "" {
		return ops // IN_DELETE_SELF and the like: the parent's event says it
	}
	p := name
	if dir != "" {
		p = dir + "/" + name
	}
	isDir := ev.Mask&unix.IN_ISDIR != 0
	excluded := w.exclude.Excluded(p, isDir)
	switch {
	case ev.Mask&unix.IN_MOVED_FROM != 0:
		w.moves[ev.Cookie] = move{path: p, dir: isDir, at: time.Now()}
		if excluded {
			w.moves[ev.Cookie] = move{path: "", dir: isDir, at: time.Now()}
		}
	case ev.Mask&unix.IN_MOVED_TO != 0:
		from, paired := w.moves[ev.Cookie]
		delete(w.moves, ev.Cookie)
		switch {
		case excluded && paired && from.path != "":
			ops = append(ops, Op{Kind: OpDelete, Path: from.path})
			w.forget(from.path)
		case excluded:
		case paired && from.path != "":
			// A rename inside the tree: one operation, whatever is below it.
			ops = append(ops, Op{Kind: OpRename, Path: from.path, To: p})
			if isDir {
				w.moved(from.path, p)
			}
		case isDir:
			// Moved in from outside (or from an excluded name): all of it is new.
			ops = append(ops, Op{Kind: OpTree, Path: p})
			if err := w.Watch(p, nil); err != nil {
				w.log.Warn("watching a directory moved in", "path", p, "err", err)
			}
		default:
			ops = append(ops, Op{Kind: OpSync, Path: p, Size: w.size(p)})
		}
	case excluded:
	case ev.Mask&unix.IN_CREATE != 0:
		if isDir {
			// Watch first, then list: the listing's entries are in OpTree, and what is
			// written after the watch is reported by it.
			ops = append(ops, Op{Kind: OpTree, Path: p})
			if err := w.Watch(p, nil); err != nil {
				w.log.Warn("watching a new directory", "path", p, "err", err)
			}
			return ops
		}
		// A regular file is sent once its writer closes it (IN_CLOSE_WRITE); a symlink
		// or a hard link made here has no close.
		var st unix.Stat_t
		if unix.Lstat(path.Join(w.src, p), &st) == nil && (st.Mode&unix.S_IFMT == unix.S_IFLNK || st.Nlink > 1) {
			ops = append(ops, Op{Kind: OpSync, Path: p, Size: st.Size})
		}
	case ev.Mask&unix.IN_CLOSE_WRITE != 0:
		ops = append(ops, Op{Kind: OpSync, Path: p, Size: w.size(p)})
	case ev.Mask&unix.IN_DELETE != 0:
		ops = append(ops, Op{Kind: OpDelete, Path: p})
		if isDir {
			w.forget(p)
		}
	case ev.Mask&unix.IN_ATTRIB != 0:
		ops = append(ops, Op{Kind: OpAttr, Path: p})
	}
	return ops
}

func (w *Watcher) size(p string) int64 {
	var st unix.Stat_t
	if unix.Lstat(path.Join(w.src, p), &st) != nil {
		return 0
	}
	return st.Size
}

// expireMoves turns moves older than age without their IN_MOVED_TO into deletes.
func (w *Watcher) expireMoves(age time.Duration) {
	var ops []Op
	for cookie, m := range w.moves {
		if time.Since(m.at) >= age {
			delete(w.moves, cookie)
			if m.path != "" {
				ops = append(ops, Op{Kind: OpDelete, Path: m.path})
				w.forget(m.path)
			}
		}
	}
	if len(ops) > 0 {
		w.emit(ops...)
	}
}

// moved renames the watched directories below from to below to.
func (w *Watcher) moved(from, to string) {
	for wd, p := range w.paths {
		if p == from || strings.HasPrefix(p, from+"/") {
			np := to + p[len(from):]
			delete(w.wds, p)
			w.paths[wd], w.wds[np] = np, wd
		}
	}
}

// forget drops the watches of a directory that left the tree, and of everything below it.
func (w *Watcher) forget(dir string) {
	for wd, p := range w.paths {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.paths, wd)
			delete(w.wds, p)
		}
	}
}

// watchLimits says which sysctl to raise: fs.inotify.max_user_watches, and the user
// namespace's own user.max_inotify_watches when that is lower (a container's limit).
func watchLimits() string {
	global, ns := readSysctl("fs/inotify/max_user_watches"), readSysctl("user/max_inotify_watches")
	s := "raise the limit with sysctl fs.inotify.max_user_watches (now " + global + ")"
	g, err1 := strconv.ParseInt(global, 10, 64)
	n, err2 := strconv.ParseInt(ns, 10, 64)
	if err1 == nil && err2 == nil && n < g {
		s += ", and user.max_inotify_watches of this user namespace (now " + ns + ")"
	}
	return s
}

func readSysctl(name string) string {
	data, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// Excluder decides which paths of a source are left out, from Exclude= globs: a glob
// without '/' matches the name of a file or directory at any depth (as rsync's and
// lsyncd's excludes do); one with '/' matches the path from the source's top (a leading
// '/' is allowed). What is below an excluded directory is excluded with it. A glob ending
// in '/' matches directories only.
type Excluder struct {
	names []string
	paths []string
	dirs  []string
}

// NewExcluder compiles globs (checked by the configuration loader).
func NewExcluder(globs []string) *Excluder {
	e := &Excluder{}
	for _, g := range globs {
		dirOnly := strings.HasSuffix(g, "/")
		g = strings.TrimSuffix(g, "/")
		switch {
		case dirOnly:
			e.dirs = append(e.dirs, strings.TrimPrefix(g, "/"))
		case strings.Contains(g, "/"):
			e.paths = append(e.paths, strings.TrimPrefix(g, "/"))
		default:
			e.names = append(e.names, g)
		}
	}
	return e
}

// Excluded reports whether rel (relative to the source) is left out. Callers ask for each
// path on the way down, so a parent is never asked for again here.
func (e *Excluder) Excluded(rel string, dir bool) bool {
	if e == nil {
		return false
	}
	base := path.Base(rel)
	for _, g := range e.names {
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	for _, g := range e.paths {
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
	}
	if dir {
		for _, g := range e.dirs {
			if ok, _ := path.Match(g, base); ok && !strings.Contains(g, "/") {
				return true
			}
			if ok, _ := path.Match(g, rel); ok {
				return true
			}
		}
	}
	return false
}

// ExcludedPath is Excluded for a path whose parents were not asked about: it checks
// every parent too.
func (e *Excluder) ExcludedPath(rel string, dir bool) bool {
	if e == nil || rel == "" {
		return false
	}
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		if e.Excluded(strings.Join(parts[:i], "/"), true) {
			return true
		}
	}
	return e.Excluded(rel, dir)
}
