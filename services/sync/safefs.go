package sync

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hostkit/hostkit/internal/config"
)

// root is a module's directory, opened once; every path below it is reached with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) from its descriptor, and the last element is
// then handled with the *at calls on its parent's descriptor without following it. So no
// path from the wire, whatever symlinks the tree holds or another process puts there in the
// meantime, reaches anything outside the module.
type root struct {
	fd   int
	path string
}

// tmpPrefix starts the names of the receiver's temporary files: skipped in manifests.
const tmpPrefix = ".hostkit-"

func openRoot(p string) (*root, error) {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return &root{fd: fd, path: p}, nil
}

func (r *root) close() { unix.Close(r.fd) }

var beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openDir opens the directory rel ("" is the root) below r. With create, missing
// directories on the way are made (mode 0755). A symlink anywhere on the way is refused
// (ELOOP), as is anything that is not a directory (ENOTDIR).
func (r *root) openDir(rel string, create bool) (int, error) {
	if rel == "" {
		return unix.Dup(r.fd)
	}
	fd, err := r.openat2(rel, unix.O_DIRECTORY|unix.O_RDONLY)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, name := path.Split(rel)
	pfd, err := r.openDir(strings.TrimSuffix(parent, "/"), true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return r.openat2(rel, unix.O_DIRECTORY|unix.O_RDONLY)
}

func (r *root) openat2(rel string, flags int) (int, error) {
	for !noOpenat2.Load() {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: uint64(beneath)})
		switch err {
		case unix.EAGAIN, unix.EINTR: // a rename elsewhere raced the lookup
			continue
		case unix.ENOSYS, unix.EPERM:
			// A kernel before 5.6, or a seccomp filter that does not know openat2
			// (systemd-nspawn's of systemd 252, older container runtimes): walk instead.
			if err == unix.EPERM && !openat2Refused(r.fd) {
				return fd, err
			}
			noOpenat2.Store(true)
		default:
			return fd, err
		}
	}
	return r.walk(rel, flags)
}

// noOpenat2 is set once openat2(2) turned out to be unavailable.
var noOpenat2 atomic.Bool

// openat2Refused tells a seccomp EPERM from a real one: openat2 of "." must work.
func openat2Refused(dirfd int) bool {
	fd, err := unix.Openat2(dirfd, ".", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_DIRECTORY})
	if err == nil {
		unix.Close(fd)
	}
	return err == unix.ENOSYS || err == unix.EPERM
}

// walk opens rel as openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS would, one element at
// a time with O_NOFOLLOW from the root's descriptor: rel has passed CheckPath, so it has no
// "..", and a symlink anywhere on the way is refused (ELOOP, or ENOTDIR for O_DIRECTORY).
func (r *root) walk(rel string, flags int) (int, error) {
	fd, err := unix.Dup(r.fd)
	if err != nil {
		return -1, err
	}
	elems := strings.Split(rel, "/")
	for i, e := range elems {
		f := unix.O_DIRECTORY | unix.O_RDONLY
		if i == len(elems)-1 {
			f = flags
		}
		next, err := unix.Openat(fd, e, f|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		unix.Close(fd)
		if err != nil {
			if i < len(elems)-1 && err == unix.ENOTDIR {
				err = unix.ELOOP // a symlink (or a file) where a directory must be
			}
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// parent opens the directory holding rel and returns it with rel's last element.
func (r *root) parent(rel string, create bool) (int, string, error) {
	if rel == "" {
		return -1, "", errors.New("the module's root has no parent")
	}
	dir, name := path.Split(rel)
	fd, err := r.openDir(strings.TrimSuffix(dir, "/"), create)
	return fd, name, err
}

// openRegularAt opens name in dirfd for reading when it is a regular file, as
// config.OpenFile opens a file an admin names, but below a module's descriptor: it looks
// before opening (opening a device can act, a FIFO can block) and again after, without
// following a symlink or blocking. Anything else is an error wrapping config.ErrNotRegular.
func openRegularAt(dirfd int, name string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: %w", name, config.ErrNotRegular)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("%s: %w (replaced while opened)", name, config.ErrNotRegular)
	}
	return f, nil
}

// removeAt removes name in dirfd, a directory with everything in it.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readNames(fd)
	if err == nil {
		for _, n := range names {
			if err = removeAt(fd, n); err != nil {
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// readNames lists the directory fd (which stays open). It reads through a descriptor of
// its own: a dup would share fd's position, and a second listing of the same directory
// (the module's root at the next ListRequest) would find nothing.
func readNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

// setTimes sets the modification time of name in dirfd, without following a symlink.
func setTimes(dirfd int, name string, mtime int64) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime)}
	return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// replaceAt renames tmp over name in dirfd, removing a directory that is in the way (the
// sender's tree has a file or symlink there now). On failure tmp is removed.
func replaceAt(dirfd int, tmp, name string) error {
	err := unix.Renameat(dirfd, tmp, dirfd, name)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		if err = removeAt(dirfd, name); err == nil {
			err = unix.Renameat(dirfd, tmp, dirfd, name)
		}
	}
	if err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
	}
	return err
}

// setTimesFd sets the modification time of the open file fd (futimens(3): utimensat(2)
// with no path), sparing the lookup of its name.
func setTimesFd(fd int, mtime int64) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime)}
	if _, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// linkInside reports whether a symlink at rel with the given target resolves, by its text,
// to somewhere inside the module: relative, and never climbing above the root.
func linkInside(rel, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") || strings.IndexByte(target, 0) >= 0 {
		return false
	}
	depth := strings.Count(rel, "/") // directories between the root and the link
	for _, e := range strings.Split(target, "/") {
		switch e {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return false
			}
		default:
			depth++
		}
	}
	return true
}

// Entry is one thing in a tree: a manifest line.
type Entry struct {
	Path   string
	Kind   Kind
	Mode   uint32
	Size   int64
	Mtime  int64
	Target string // a symlink's
}

func entryFromStat(rel string, st *unix.Stat_t) (Entry, bool) {
	e := Entry{Path: rel, Mode: st.Mode & 0o7777, Mtime: st.Mtim.Nano()}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Kind, e.Size = KindFile, st.Size
	case unix.S_IFDIR:
		e.Kind = KindDir
	case unix.S_IFLNK:
		e.Kind, e.Size = KindSymlink, st.Size
	default:
		return e, false // devices, FIFOs and sockets are not synced
	}
	return e, true
}

// walkAt lists the tree below dirfd (rel is its path) depth first, parents before their
// contents, calling fn for each entry; skip says which relative paths to leave out.
func walkAt(dirfd int, rel string, skip func(rel string, dir bool) bool, fn func(Entry) error) error {
	names, err := readNames(dirfd)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := n
		if rel != "" {
			p = rel + "/" + n
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // gone since the listing
			}
			return err
		}
		e, ok := entryFromStat(p, &st)
		if !ok || skip(p, e.Kind == KindDir) {
			continue
		}
		if e.Kind == KindSymlink {
			buf := make([]byte, max(st.Size+1, 256))
			k, err := unix.Readlinkat(dirfd, n, buf)
			if err != nil {
				continue
			}
			e.Target = string(buf[:k])
		}
		if err := fn(e); err != nil {
			return err
		}
		if e.Kind == KindDir {
			fd, err := unix.Openat(dirfd, n, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
					continue
				}
				return err
			}
			err = walkAt(fd, p, skip, fn)
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// copyPrefix hashes the first n bytes of f into w (reading from offset 0).
func copyPrefix(w io.Writer, f *os.File, n int64) error {
	_, err := io.Copy(w, io.NewSectionReader(f, 0, n))
	return err
}

// errOutside is the refusal of a symlink that would lead out of the module.
func errOutside(rel, target string) error {
	return fmt.Errorf("symlink %s -> %s leads out of the module: refused", rel, target)
}
