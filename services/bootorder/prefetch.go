package bootorder

import (
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sync"
)

// The scan is a few thousand system calls on a system with many scripts (a readlink per
// rcN.d link, an open, stat and read per script), and on a virtual machine each costs
// microseconds. They are independent, so they are made in parallel ahead of the
// sequential walk, which then finds them in the caches; results and warnings do not
// depend on the order in which they were made.

// parallel calls f(0..n-1) on up to two workers per CPU.
func parallel(n int, f func(i int)) {
	workers := min(2*runtime.GOMAXPROCS(0), n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	wg.Wait()
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

// readScriptFile opens the host file and reads at most maxHeaderBytes of it.
func readScriptFile(host string) scriptFile {
	f, err := os.Open(host)
	if err != nil {
		return scriptFile{openErr: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scriptFile{openErr: err}
	}
	sf := scriptFile{mode: fi.Mode(), regular: fi.Mode().IsRegular()}
	if !sf.regular {
		return sf
	}
	sf.data, sf.readErr = io.ReadAll(io.LimitReader(f, maxHeaderBytes+1))
	if len(sf.data) > maxHeaderBytes {
		sf.data, sf.truncated = sf.data[:maxHeaderBytes], true
	}
	return sf
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
	parallel(len(hosts), func(i int) { read[i] = readScriptFile(hosts[i]) })
	for i, h := range hosts {
		files[h] = read[i]
	}
}
