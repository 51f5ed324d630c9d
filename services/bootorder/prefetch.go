package bootorder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sync"
	"syscall"

	"github.com/hostkit/hostkit/internal/config"
)

// The scan is a few thousand system calls on a system with many scripts (a readlink per
// rcN.d link, an open, stat and read per script), and on a virtual machine each costs
// microseconds. They are independent, so they are made in parallel ahead of the
// sequential walk, which then finds them in the caches; results and warnings do not
// depend on the order in which they were made.

// parallel calls f(0..n-1) on up to two workers per CPU. A panic in f is raised again
// in the caller's goroutine, where the generator's recover logs it as a bug, instead of
// ending the process from a worker.
func parallel(n int, f func(i int)) {
	workers := min(2*runtime.GOMAXPROCS(0), n)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		panicked any
	)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					once.Do(func() { panicked = fmt.Errorf("in a worker: %v", r) })
				}
			}()
			for i := range next {
				f(i)
			}
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}

// prefetchLinks reads the targets of the symbolic links among entries of dir (a resolved
// target path) into the lstat cache.
func (r *rootFS) prefetchLinks(dir string, entries []os.DirEntry) {
	var links []string
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if res, ok := r.lstat[p]; ok && res.mode&fs.ModeSymlink != 0 && !res.read {
			links = append(links, p)
		}
	}
	targets := make([]lstatResult, len(links))
	parallel(len(links), func(i int) {
		t, err := os.Readlink(r.host(links[i]))
		targets[i] = lstatResult{mode: fs.ModeSymlink, target: t, read: true, err: err}
	})
	for i, p := range links {
		r.lstat[p] = targets[i]
	}
}

// scriptFile is a script's header bytes as readScript wants them.
type scriptFile struct {
	data      []byte
	mode      fs.FileMode
	regular   bool
	truncated bool
	openErr   error // from open or stat
	readErr   error
}

// readScriptFile reads the header of the host file, which must be a regular file: a FIFO
// or a device in /etc/init.d (or a link to one) is not opened at all, since opening a FIFO
// blocks and opening some devices has effects (a watchdog arms); a generator must never
// hang a boot.
func readScriptFile(host string) scriptFile {
	fi, err := os.Lstat(host)
	if err != nil {
		return scriptFile{openErr: err}
	}
	if !fi.Mode().IsRegular() {
		return scriptFile{mode: fi.Mode()}
	}
	return readRegularFile(host)
}

// readRegularFile reads at most maxHeaderBytes of host, a file ReadDir or Lstat saw as
// regular. It opens without following a link and without blocking, and reads only if the
// opened file is still regular, in case the entry changed in between.
func readRegularFile(host string) scriptFile {
	f, err := openRegular(host)
	if err != nil {
		return scriptFile{openErr: err}
	}
	if f == nil {
		return scriptFile{} // not regular (any more): not a script
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scriptFile{openErr: err}
	}
	sf := scriptFile{mode: fi.Mode(), regular: true}
	sf.data, sf.readErr = io.ReadAll(io.LimitReader(f, maxHeaderBytes+1))
	if len(sf.data) > maxHeaderBytes {
		sf.data, sf.truncated = sf.data[:maxHeaderBytes], true
	}
	return sf
}

// openRegular opens host for reading as config.OpenFile does, without following a final
// symbolic link, and returns (nil, nil) when what it opened is not a regular file.
func openRegular(host string) (*os.File, error) {
	f, err := config.OpenFile(host, syscall.O_NOFOLLOW, false)
	if errors.Is(err, config.ErrNotRegular) {
		return nil, nil
	}
	return f, err
}

// prefetchScripts reads the regular files among entries of dir (a resolved target path)
// into files, keyed by host path.
func (r *rootFS) prefetchScripts(dir string, entries []os.DirEntry, files map[string]scriptFile) {
	var hosts []string
	for _, e := range entries {
		if e.Type().IsRegular() && !notScript(e.Name()) {
			hosts = append(hosts, r.host(path.Join(dir, e.Name())))
		}
	}
	read := make([]scriptFile, len(hosts))
	parallel(len(hosts), func(i int) { read[i] = readRegularFile(hosts[i]) })
	for i, h := range hosts {
		files[h] = read[i]
	}
}
