package main

// hostkit-syncd against lsyncd (at delay 0 and at its default delay) driving rsync into an
// rsync daemon, and against `rsync -a` into that daemon: same machine, same data, over
// loopback, one run each, printed side by side with ratios (issue 7's Performance list).
// The dead peer part runs in two network namespaces the bench makes, joined by a veth
// pair, the target's namespace dropping every packet with nft.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hostkit/hostkit/internal/repo"
)

// syncParts picks items of issue 7's Performance list by number (-sync-parts 4,6), so
// that one of them can be measured again alone; "" runs them all.
var syncParts = flag.String("sync-parts", "", "with -sync-only: the items of issue 7's list to run, e.g. 4 or 4,6 (5 and 6 send the file 4 makes; default: all)")

// issueItem is the number in issue 7's list of each part benchSync runs, in its order.
var issueItem = []int{1, 2, 3, 4, 6, 7, 5}

// syncBench is the bench's work directory and its anchors.
type syncBench struct {
	dir       string
	bin       string
	rsyncPort string
	rsyncd    *exec.Cmd
	password  string
	lines     []string // the summary, printed at the end
}

func benchSync() error {
	for _, tool := range [][2]string{{"rsync", "rsync"}, {"lsyncd", "lsyncd"}, {"ip", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			return fmt.Errorf("sync: %s not found: apt-get install %s (make deps does)", tool[0], tool[1])
		}
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	b := &syncBench{bin: filepath.Join(root, "bin", "hostkit-syncd")}
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("sync: %s missing: make build", b.bin)
	}
	if b.dir, err = os.MkdirTemp("", "hostkit-bench-sync-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	unmount, err := scratchFS(b.dir)
	if err != nil {
		return err
	}
	defer unmount()
	if err := b.startRsyncd(); err != nil {
		return err
	}
	defer func() { b.rsyncd.Process.Kill(); b.rsyncd.Wait() }()

	fmt.Println("hostkit-syncd against lsyncd + rsync daemon and rsync -a, loopback, one run each")
	parts := []func() error{b.latency, b.burst, b.initial, b.largeFile, b.killResume, b.memory, b.deadPeer}
	for i, part := range parts {
		if *syncParts != "" && !slices.Contains(strings.Split(*syncParts, ","), strconv.Itoa(issueItem[i])) {
			continue
		}
		if err := part(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	fmt.Println("\nsummary:")
	for _, l := range b.lines {
		fmt.Println("  " + l)
	}
	return nil
}

// scratchFS mounts a new ext4 file system on dir, made by mkfs.ext4 with its defaults
// (journaled, as on a server) in a sparse image beside dir, for every contender's files.
// This machine's root file system has no journal, and there ext4 skips inodes deleted in the
// last minutes when it creates a file, a scan that made each create cost more the more the
// bench (or anything before it) had deleted: rsync -a took 0.47 s or 3-5 s for the same
// 10,000 files, depending on that.
func scratchFS(dir string) (unmount func(), err error) {
	img := dir + ".img"
	f, err := os.Create(img)
	if err == nil {
		err = f.Truncate(32 << 30)
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("scratch file system: %w", err)
	}
	for _, argv := range [][]string{{"mkfs.ext4", "-q", "-F", "-i", "16384", img}, {"mount", "-o", "loop", img, dir}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			os.Remove(img)
			return nil, fmt.Errorf("scratch file system: %s: %v: %s (the bench needs root and e2fsprogs)", argv[0], err, bytes.TrimSpace(out))
		}
	}
	fmt.Printf("files on a new ext4 file system (mkfs.ext4 defaults, journaled) mounted on %s\n", dir)
	return func() {
		exec.Command("umount", dir).Run()
		os.Remove(img)
	}, nil
}

// syncFS makes what is written on p's file system durable (sync -f: syncfs(2)), as
// hostkit-syncd does before it calls a file received.
func syncFS(p string) error {
	if out, err := exec.Command("sync", "-f", p).CombinedOutput(); err != nil {
		return fmt.Errorf("sync -f %s: %v: %s", p, err, out)
	}
	return nil
}

func (b *syncBench) summary(format string, args ...any) {
	l := fmt.Sprintf(format, args...)
	b.lines = append(b.lines, l)
	fmt.Println("  " + l)
}

// startRsyncd runs an rsync daemon with one module per target directory below dir/rsync,
// with auth users and a secrets file, as lsyncd setups do.
func (b *syncBench) startRsyncd() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	_, b.rsyncPort, _ = net.SplitHostPort(l.Addr().String())
	l.Close()
	b.password = filepath.Join(b.dir, "password")
	os.WriteFile(filepath.Join(b.dir, "secrets"), []byte("bench:pw\n"), 0o600)
	os.WriteFile(b.password, []byte("pw\n"), 0o600)
	var conf strings.Builder
	fmt.Fprintf(&conf, "use chroot = no\npid file = %s/rsyncd.pid\n", b.dir)
	for _, m := range []string{"lat0", "latdef", "burst", "init", "initfsync", "large", "largefsync"} {
		os.MkdirAll(filepath.Join(b.dir, "rsync", m), 0o755)
		fmt.Fprintf(&conf, "[%s]\npath = %s/rsync/%s\nread only = no\nuid = root\ngid = root\nauth users = bench\nsecrets file = %s/secrets\n", m, b.dir, m, b.dir)
	}
	os.WriteFile(filepath.Join(b.dir, "rsyncd.conf"), []byte(conf.String()), 0o644)
	b.rsyncd = exec.Command("rsync", "--daemon", "--no-detach", "--config="+filepath.Join(b.dir, "rsyncd.conf"), "--address=127.0.0.1", "--port="+b.rsyncPort)
	if err := b.rsyncd.Start(); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+b.rsyncPort); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the rsync daemon did not listen")
}

func (b *syncBench) rsyncURL(module string) string {
	return "rsync://bench@127.0.0.1:" + b.rsyncPort + "/" + module + "/"
}

// proc is a process the bench started, with its output kept.
type proc struct {
	cmd *exec.Cmd
	out *lockedOut
}

type lockedOut struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedOut) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedOut) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func start(prefix []string, argv ...string) (*proc, error) {
	argv = append(append([]string{}, prefix...), argv...)
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), out: &lockedOut{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return p, p.cmd.Start()
}

func (p *proc) stop(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	p.cmd.Wait()
}

// lsyncd runs lsyncd with default.rsync from src to module at the given delay (-1: its
// default) and waits for its initial rsync to finish.
func (b *syncBench) lsyncd(name, src, module string, delay int) (*proc, error) {
	d := ""
	if delay >= 0 {
		d = fmt.Sprintf("delay = %d,", delay)
	}
	conf := filepath.Join(b.dir, name+".lua")
	text := fmt.Sprintf(`settings { nodaemon = true, logfile = "%s/%s.log", statusFile = "%s/%s.status" }
sync { default.rsync, source = "%s", target = "%s", %s rsync = { password_file = "%s", archive = true } }
`, b.dir, name, b.dir, name, src, b.rsyncURL(module), d, b.password)
	os.WriteFile(conf, []byte(text), 0o644)
	p, err := start(nil, "lsyncd", conf)
	if err != nil {
		return nil, err
	}
	// lsyncd logs "Startup of ... finished" after its first rsync.
	if !waitFor(60*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(b.dir, name+".log"))
		return bytes.Contains(data, []byte("finished"))
	}) {
		p.stop(syscall.SIGTERM)
		return nil, fmt.Errorf("lsyncd %s did not finish its startup: %s", name, p.out.String())
	}
	return p, nil
}

// hostkitPair runs a receiver (module into dst) and a sender (src) of hostkit-syncd on
// loopback, or in the namespaces of prefixA/prefixB, and returns them once the sender's
// first comparison is done.
type hostkitPair struct {
	a, b       *proc
	aConf      string
	src, dst   string
	state      string
	prefixA    []string
	senderConf string
	// started is when the sender was started, the receiver running: the time an rsync
	// client's run is measured from, its daemon running.
	started time.Time
}

func (b *syncBench) hostkit(name, src, dst, listen string, prefixA, prefixB []string, sync, job string) (*hostkitPair, error) {
	dir := filepath.Join(b.dir, "hk-"+name)
	os.MkdirAll(dir, 0o755)
	aConf, bConf := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	os.WriteFile(aConf, []byte("[Sync]\nStateDirectory="+dir+"/a\n"), 0o644)
	os.WriteFile(bConf, []byte("[Sync]\nStateDirectory="+dir+"/b\n"), 0o644)
	id := func(conf string) (string, error) {
		out, err := exec.Command(b.bin, "id", "--config", conf).Output()
		return strings.TrimSpace(string(out)), err
	}
	fa, err := id(aConf)
	if err != nil {
		return nil, err
	}
	fb, err := id(bConf)
	if err != nil {
		return nil, err
	}
	os.WriteFile(bConf, []byte(fmt.Sprintf("[Sync]\nStateDirectory=%s/b\nListen=%s\n%s\n[Module]\nName=m\nPath=%s\nPeer=%s\n", dir, listen, sync, dst, fa)), 0o644)
	senderConf := fmt.Sprintf("[Sync]\nStateDirectory=%s/a\n%s\n[Job]\nName=%s\nSource=%s\nTarget=%s/m\nPeer=%s\n%s\n", dir, sync, name, src, listen, fb, job)
	os.WriteFile(aConf, []byte(senderConf), 0o644)
	p := &hostkitPair{aConf: aConf, src: src, dst: dst, state: dir + "/a", prefixA: prefixA, senderConf: senderConf}
	if p.b, err = start(prefixB, b.bin, "--config", bConf, "--bus", "none"); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond)
	return p, p.startSender(b.bin)
}

func (p *hostkitPair) startSender(bin string) error {
	var err error
	p.started = time.Now()
	if p.a, err = start(p.prefixA, bin, "--config", p.aConf, "--bus", "none"); err != nil {
		return err
	}
	if !waitFor(120*time.Second, func() bool { return strings.Contains(p.a.out.String(), "msg=compared") }) {
		return fmt.Errorf("hostkit-syncd did not compare within 120 s: %s\n%s", p.a.out.String(), p.b.out.String())
	}
	return nil
}

func (p *hostkitPair) close() {
	if p.a != nil {
		p.a.stop(syscall.SIGTERM)
	}
	p.b.stop(syscall.SIGTERM)
}

// sentBytes is what the sender's last stop line says it sent and received.
func sentBytes(out string) int64 {
	m := regexp.MustCompile(`msg=stopped .*bytes_sent=(\d+) bytes_received=(\d+)`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return -1
	}
	s, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	r, _ := strconv.ParseInt(m[len(m)-1][2], 10, 64)
	return s + r
}

func waitFor(d time.Duration, cond func() bool) bool { return waitEvery(d, 200*time.Microsecond, cond) }

// waitEvery is waitFor asking every interval: 2 ms for a transfer of seconds, where asking
// 5000 times a second would take CPU from the daemons measured (rsync's time is its
// exit, which costs the bench nothing).
func waitEvery(d, interval time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(interval) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func sameContent(p string, want []byte) bool {
	got, err := os.ReadFile(p)
	return err == nil && bytes.Equal(got, want)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(math.Ceil(p*float64(len(s))))-1]
}

func msf(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// writeLatencies writes n small files into src one after the other and times each until
// it is identical at dst.
func writeLatencies(src, dst string, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("lat-%03d.txt", i)
		data := []byte(fmt.Sprintf("small file %d written at %s\n", i, time.Now().Format(time.RFC3339Nano)))
		t0 := time.Now()
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return nil, err
		}
		if !waitFor(60*time.Second, func() bool { return sameContent(filepath.Join(dst, name), data) }) {
			return nil, fmt.Errorf("%s did not arrive within 60 s", name)
		}
		ds = append(ds, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	return ds, nil
}

// 1. One small file written -> identical at the target: p50 and p95 over 50 writes.
func (b *syncBench) latency() error {
	fmt.Println("\n1. one small file written -> identical at the target (50 writes; lsyncd at its default delay: 3)")
	type row struct {
		name     string
		p50, p95 time.Duration
	}
	var rows []row
	for _, c := range []struct {
		name  string
		n     int
		delay int
	}{{"hostkit-syncd", 50, 0}, {"lsyncd delay=0", 50, 0}, {"lsyncd default delay", 3, -1}} {
		src, dst := filepath.Join(b.dir, "lat-src-"+strconv.Itoa(len(rows))), ""
		os.MkdirAll(src, 0o755)
		var stop func()
		if c.name == "hostkit-syncd" {
			dst = filepath.Join(b.dir, "lat-hk")
			p, err := b.hostkit("lat", src, dst, "127.0.0.1:18931", nil, nil, "", "")
			if err != nil {
				return err
			}
			stop = p.close
		} else {
			module := "lat0"
			if c.delay < 0 {
				module = "latdef"
			}
			dst = filepath.Join(b.dir, "rsync", module)
			p, err := b.lsyncd("lat-"+module, src, module, c.delay)
			if err != nil {
				return err
			}
			stop = func() { p.stop(syscall.SIGTERM) }
		}
		ds, err := writeLatencies(src, dst, c.n)
		stop()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		rows = append(rows, row{c.name, percentile(ds, 0.5), percentile(ds, 0.95)})
	}
	fmt.Printf("  %-22s %12s %12s %14s\n", "", "p50", "p95", "p50 ratio")
	for _, r := range rows {
		fmt.Printf("  %-22s %12s %12s %13.3fx\n", r.name, msf(r.p50), msf(r.p95), float64(rows[0].p50)/float64(r.p50))
	}
	b.summary("small file latency: hostkit p50 %s p95 %s; lsyncd delay=0 p50 %s p95 %s (hostkit/lsyncd %.3fx); lsyncd default p50 %s (%.4fx); goal p50 <= 5 ms",
		msf(rows[0].p50), msf(rows[0].p95), msf(rows[1].p50), msf(rows[1].p95), float64(rows[0].p50)/float64(rows[1].p50), msf(rows[2].p50), float64(rows[0].p50)/float64(rows[2].p50))
	return nil
}

// writeTree writes n files of size bytes into dirs new directories below root.
func writeTree(root string, n, dirs, size int) error {
	data := make([]byte, size)
	for i := 0; i < n; i++ {
		d := filepath.Join(root, fmt.Sprintf("d%03d", i%dirs))
		if i < dirs {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		data[0], data[1] = byte(i), byte(i>>8)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// countFiles counts regular files of size bytes below root (temporary files excluded).
func countFiles(root string, size int64) int {
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			if info, err := d.Info(); err == nil && info.Size() == size {
				n++
			}
		}
		return nil
	})
	return n
}

// 2. A burst of 10,000 x 4 KiB files in 100 new directories.
func (b *syncBench) burst() error {
	fmt.Println("\n2. burst of 10,000 x 4 KiB files in 100 new directories -> all identical at the target")
	measure := func(src, dst string) (time.Duration, error) {
		t0 := time.Now()
		if err := writeTree(filepath.Join(src, "burst"), 10000, 100, 4096); err != nil {
			return 0, err
		}
		if !waitFor(120*time.Second, func() bool { return countFiles(filepath.Join(dst, "burst"), 4096) == 10000 }) {
			return 0, fmt.Errorf("the burst did not arrive within 120 s (%d files)", countFiles(dst, 4096))
		}
		return time.Since(t0), nil
	}
	srcH := filepath.Join(b.dir, "burst-src-hk")
	os.MkdirAll(srcH, 0o755)
	p, err := b.hostkit("burst", srcH, filepath.Join(b.dir, "burst-hk"), "127.0.0.1:18932", nil, nil, "", "")
	if err != nil {
		return err
	}
	th, err := measure(srcH, filepath.Join(b.dir, "burst-hk"))
	p.close()
	if err != nil {
		return fmt.Errorf("hostkit: %w", err)
	}
	srcL := filepath.Join(b.dir, "burst-src-ls")
	os.MkdirAll(srcL, 0o755)
	l, err := b.lsyncd("burst", srcL, "burst", 0)
	if err != nil {
		return err
	}
	tl, err := measure(srcL, filepath.Join(b.dir, "rsync", "burst"))
	l.stop(syscall.SIGTERM)
	if err != nil {
		return fmt.Errorf("lsyncd: %w", err)
	}
	fmt.Printf("  hostkit-syncd %.2f s, lsyncd delay=0 %.2f s: ratio %.2fx (goal <= 0.5x)\n", th.Seconds(), tl.Seconds(), th.Seconds()/tl.Seconds())
	b.summary("burst 10,000 x 4 KiB in 100 dirs: hostkit %.2f s, lsyncd delay=0 %.2f s, ratio %.2fx (goal <= 0.5x)", th.Seconds(), tl.Seconds(), th.Seconds()/tl.Seconds())
	return nil
}

// 3. Initial sync of 10,000 x 4 KiB files, in initialRounds rounds of the three contenders
// into empty targets. Each starts after `sync`, so that none pays for writing back what the
// one before it left dirty; the medians are compared.
const initialRounds = 5

func (b *syncBench) initial() error {
	fmt.Printf("\n3. initial sync of 10,000 x 4 KiB files into an empty target (median of %d rounds)\n", initialRounds)
	src := filepath.Join(b.dir, "init-src")
	if err := writeTree(src, 10000, 100, 4096); err != nil {
		return err
	}
	// rsync runs rsync -a with extra into module; with durable, the clock stops after a
	// `sync -f` of the target's file system, when its files are as safe as hostkit's.
	rsync := func(module string, durable bool, extra ...string) (time.Duration, error) {
		dir := filepath.Join(b.dir, "rsync", module)
		if err := os.RemoveAll(dir); err != nil {
			return 0, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
		exec.Command("sync").Run()
		args := append([]string{"-a"}, extra...)
		args = append(args, "--password-file="+b.password, src+"/", b.rsyncURL(module))
		t0 := time.Now()
		if out, err := exec.Command("rsync", args...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("rsync %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if durable {
			if err := syncFS(dir); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	var tr, ts, tf, th []time.Duration
	for round := range initialRounds {
		d, err := rsync("init", false)
		if err != nil {
			return err
		}
		tr = append(tr, d)
		// hostkit-syncd makes every file durable before it is visible; rsync -a does not,
		// rsync -a then sync -f does (one syncfs at the end), and so does rsync --fsync
		// (one fsync per file).
		if d, err = rsync("init", true); err != nil {
			return err
		}
		ts = append(ts, d)
		if d, err = rsync("initfsync", false, "--fsync"); err != nil {
			return err
		}
		tf = append(tf, d)
		exec.Command("sync").Run()
		name := fmt.Sprintf("init%d", round)
		dst := filepath.Join(b.dir, name+"-hk")
		p, err := b.hostkit(name, src, dst, "127.0.0.1:18933", nil, nil, "", "")
		if err != nil {
			return err
		}
		// The sender says when all is acknowledged; counting 10,000 files every 200 µs
		// meanwhile would take a core from the daemons.
		if !waitEvery(120*time.Second, 2*time.Millisecond, func() bool { return strings.Contains(p.a.out.String(), "msg=\"in step with the target") }) {
			p.close()
			return errors.New("hostkit's initial sync did not finish within 120 s")
		}
		th = append(th, time.Since(p.started))
		if n := countFiles(dst, 4096); n != 10000 {
			p.close()
			return fmt.Errorf("hostkit said it was in step with %d of 10,000 files at the target", n)
		}
		p.close()
		fmt.Printf("  round %d: hostkit-syncd %.2f s (from the sender's start), rsync -a %.2f s, rsync -a + sync -f %.2f s, rsync -a --fsync %.2f s\n",
			round+1, th[round].Seconds(), tr[round].Seconds(), ts[round].Seconds(), tf[round].Seconds())
	}
	// The disk's speed drifts between rounds here; a round's own ratio compares
	// contenders that ran a few seconds apart.
	var ratios []float64
	for i := range th {
		ratios = append(ratios, th[i].Seconds()/tr[i].Seconds())
	}
	slices.Sort(ratios)
	h, r, y, f := median(th).Seconds(), median(tr).Seconds(), median(ts).Seconds(), median(tf).Seconds()
	fmt.Printf("  medians: hostkit-syncd %.2f s, rsync -a %.2f s: ratio %.2fx (goal <= 1x), median of the rounds' ratios %.2fx; rsync -a + sync -f %.2f s: ratio %.2fx; rsync -a --fsync %.2f s: ratio %.2fx\n",
		h, r, h/r, ratios[len(ratios)/2], y, h/y, f, h/f)
	b.summary("initial sync 10,000 x 4 KiB, median of %d: hostkit %.2f s, rsync -a %.2f s, ratio %.2fx (goal <= 1x), median of the rounds' ratios %.2fx; as durable: rsync -a + sync -f %.2f s, ratio %.2fx; rsync -a --fsync %.2f s, ratio %.2fx",
		initialRounds, h, r, h/r, ratios[len(ratios)/2], y, h/y, f, h/f)
	return nil
}

func writeLarge(p string, size int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		rand.Read(buf)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

var rsyncTotals = regexp.MustCompile(`(?m)^Total bytes (sent|received): ([\d,]+)`)

func rsyncWire(out []byte) int64 {
	var n int64
	for _, m := range rsyncTotals.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseInt(strings.ReplaceAll(string(m[2]), ",", ""), 10, 64)
		n += v
	}
	return n
}

// 4. One 1 GiB file: throughput, then 4 KiB changed in its middle: bytes on the wire.
func (b *syncBench) largeFile() error {
	const size = 1 << 30
	fmt.Println("\n4. one 1 GiB file: throughput; then 4 KiB changed in its middle: bytes on the wire (both directions)")
	src := filepath.Join(b.dir, "large-src")
	os.MkdirAll(src, 0o755)
	big := filepath.Join(src, "disk.img")
	if err := writeLarge(big, size); err != nil {
		return err
	}
	// Three runs of each, in turn, each into an empty target after a sync(1), so that
	// neither the machine's other load nor the writeback of the run before decides it;
	// the medians are compared. (rsync -a leaves its file in the page cache, unsynced;
	// hostkit-syncd, rsync -a followed by sync -f, and rsync --fsync make it durable within
	// the time measured.) A local copy with dd conv=fsync, no network and no tool between,
	// is the file system's own rate for a copy made durable: what bounds every contender
	// that makes the file durable before it is done.
	const runs = 3
	dst := filepath.Join(b.dir, "large-hk")
	local := filepath.Join(b.dir, "large-local", "disk.img")
	os.MkdirAll(filepath.Dir(local), 0o755)
	var tr, ts, tf, th, tl []time.Duration
	var p *hostkitPair
	for i := 0; i < runs; i++ {
		// timed runs argv into target; with durable, the clock stops after a sync -f.
		timed := func(target string, durable bool, argv ...string) (time.Duration, error) {
			os.RemoveAll(target)
			exec.Command("sync").Run()
			t0 := time.Now()
			if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("%s: %v: %s", strings.Join(argv[:len(argv)-2], " "), err, out)
			}
			if durable {
				if err := syncFS(target); err != nil {
					return 0, err
				}
			}
			return time.Since(t0), nil
		}
		rsyncA := []string{"rsync", "-a", "--password-file=" + b.password, src + "/", b.rsyncURL("large")}
		d, err := timed(filepath.Join(b.dir, "rsync", "large", "disk.img"), false, rsyncA...)
		if err != nil {
			return err
		}
		tr = append(tr, d)
		if d, err = timed(filepath.Join(b.dir, "rsync", "large", "disk.img"), true, rsyncA...); err != nil {
			return err
		}
		ts = append(ts, d)
		if d, err = timed(filepath.Join(b.dir, "rsync", "largefsync", "disk.img"), false, "rsync", "-a", "--fsync", "--password-file="+b.password, src+"/", b.rsyncURL("largefsync")); err != nil {
			return err
		}
		tf = append(tf, d)
		if d, err = timed(local, false, "dd", "if="+big, "of="+local, "bs=1M", "conv=fsync", "status=none"); err != nil {
			return err
		}
		tl = append(tl, d)
		os.RemoveAll(dst)
		exec.Command("sync").Run()
		if p, err = b.hostkit("large", src, dst, "127.0.0.1:18934", nil, nil, "", ""); err != nil {
			return err
		}
		if !waitEvery(300*time.Second, 2*time.Millisecond, func() bool {
			info, err := os.Stat(filepath.Join(dst, "disk.img"))
			return err == nil && info.Size() == size
		}) {
			p.close()
			return errors.New("hostkit did not send 1 GiB within 300 s")
		}
		th = append(th, time.Since(p.started))
		if i < runs-1 {
			p.close()
		}
	}
	os.RemoveAll(filepath.Join(b.dir, "rsync", "largefsync", "disk.img"))
	os.RemoveAll(local)
	p.a.stop(syscall.SIGTERM)
	list := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, fmt.Sprintf("%.0f", float64(size)/(1<<20)/d.Seconds()))
		}
		return strings.Join(s, " ")
	}
	fmt.Printf("  MiB/s of each run: hostkit-syncd %s; rsync -a %s; rsync -a + sync -f %s; rsync -a --fsync %s; local dd conv=fsync %s\n", list(th), list(tr), list(ts), list(tf), list(tl))
	th1, tr1, ts1, tf1, tl1 := median(th), median(tr), median(ts), median(tf), median(tl)
	mibs := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	fmt.Printf("  throughput, medians: hostkit-syncd %.0f MiB/s, rsync -a %.0f MiB/s: ratio %.2fx (goal >= 1x); rsync -a + sync -f %.0f MiB/s: ratio %.2fx; rsync -a --fsync %.0f MiB/s: ratio %.2fx; local dd conv=fsync %.0f MiB/s: ratio %.2fx\n",
		mibs(th1), mibs(tr1), mibs(th1)/mibs(tr1), mibs(ts1), mibs(th1)/mibs(ts1), mibs(tf1), mibs(th1)/mibs(tf1), mibs(tl1), mibs(th1)/mibs(tl1))
	b.summary("1 GiB file, medians of %d runs: hostkit %.0f MiB/s, rsync -a %.0f MiB/s, ratio %.2fx (goal >= 1x); as durable: rsync -a + sync -f %.0f MiB/s, ratio %.2fx; rsync -a --fsync %.0f MiB/s, ratio %.2fx; the file system's durable copy rate (local dd conv=fsync) %.0f MiB/s, ratio %.2fx",
		runs, mibs(th1), mibs(tr1), mibs(th1)/mibs(tr1), mibs(ts1), mibs(th1)/mibs(ts1), mibs(tf1), mibs(th1)/mibs(tf1), mibs(tl1), mibs(th1)/mibs(tl1))

	f, err := os.OpenFile(big, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	chunk := make([]byte, 4096)
	rand.Read(chunk)
	f.WriteAt(chunk, size/2+12345)
	f.Close()
	out, err := exec.Command("rsync", "-a", "--stats", "--password-file="+b.password, src+"/", b.rsyncURL("large")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rsync -a: %v: %s", err, out)
	}
	wr := rsyncWire(out)
	if err := p.startSender(b.bin); err != nil {
		return err
	}
	want, _ := os.ReadFile(big)
	if !waitFor(120*time.Second, func() bool { return sameContent(filepath.Join(dst, "disk.img"), want) }) {
		p.close()
		return errors.New("hostkit did not send the change within 120 s")
	}
	p.close()
	wh := sentBytes(p.a.out.String())
	fmt.Printf("  4 KiB changed: hostkit-syncd %d bytes, rsync -a %d bytes: ratio %.2fx (goal <= 1x)\n", wh, wr, float64(wh)/float64(wr))
	b.summary("4 KiB changed in 1 GiB: hostkit %d bytes, rsync -a %d bytes on the wire, ratio %.2fx (goal <= 1x)", wh, wr, float64(wh)/float64(wr))
	os.RemoveAll(dst)
	os.RemoveAll(filepath.Join(b.dir, "rsync", "large"))
	return nil
}

// 6. kill -9 at 50% of the 1 GiB file: bytes sent again after the restart.
func (b *syncBench) killResume() error {
	const size = 1 << 30
	fmt.Println("\n6. kill -9 of the sender at 50% of the 1 GiB file: bytes sent again after its restart")
	src := filepath.Join(b.dir, "large-src")
	dst := filepath.Join(b.dir, "kill-hk")
	p, err := b.hostkit("kill", src, dst, "127.0.0.1:18935", nil, nil, "", "BandwidthLimit=200M")
	if err != nil {
		return err
	}
	var at int64
	if !waitFor(120*time.Second, func() bool {
		parts, _ := filepath.Glob(filepath.Join(dst, ".hostkit-part-*"))
		if len(parts) == 1 {
			if info, err := os.Stat(parts[0]); err == nil && info.Size() >= size/2 {
				at = info.Size()
				return true
			}
		}
		return false
	}) {
		p.close()
		return errors.New("the part file did not reach half within 120 s")
	}
	p.a.stop(syscall.SIGKILL)
	os.WriteFile(p.aConf, []byte(strings.Replace(p.senderConf, "BandwidthLimit=200M", "", 1)), 0o644)
	if err := p.startSender(b.bin); err != nil {
		return err
	}
	if !waitFor(120*time.Second, func() bool {
		info, err := os.Stat(filepath.Join(dst, "disk.img"))
		return err == nil && info.Size() == size
	}) {
		p.close()
		return errors.New("the file did not complete after the restart")
	}
	p.close()
	// What the restarted sender sent beyond the part the target still lacked was sent
	// twice (framing and the resume question included).
	after := sentBytes(p.a.out.String())
	again := after - (size - at)
	fmt.Printf("  killed with %d of %d bytes at the target; the restarted sender sent %d bytes, %d of them again = %.3f%% of the file (goal <= 5%%)\n",
		at, int64(size), after, again, 100*float64(again)/size)
	b.summary("kill -9 at %.0f%%: %d bytes = %.3f%% of the 1 GiB file sent again (goal <= 5%%)", 100*float64(at)/size, again, 100*float64(again)/size)
	os.RemoveAll(dst)
	return nil
}

func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return -1
}

// 7. Memory of an idle sender watching 100,000 files, beside lsyncd's.
func (b *syncBench) memory() error {
	fmt.Println("\n7. RSS of an idle sender watching 100,000 files in 1,000 directories")
	src := filepath.Join(b.dir, "mem-src")
	if err := writeTree(src, 100000, 1000, 16); err != nil {
		return err
	}
	p, err := b.hostkit("mem", src, filepath.Join(b.dir, "mem-hk"), "127.0.0.1:18936", nil, nil, "", "")
	if err != nil {
		return err
	}
	if !waitFor(300*time.Second, func() bool { return countFiles(filepath.Join(b.dir, "mem-hk"), 16) == 100000 }) {
		p.close()
		return errors.New("hostkit did not sync 100,000 files within 300 s")
	}
	time.Sleep(3 * time.Second)
	rh := rss(p.a.cmd.Process.Pid)
	p.close()
	os.MkdirAll(filepath.Join(b.dir, "rsync", "lat0", "mem"), 0o755)
	l, err := b.lsyncd("mem", src, "lat0", 0)
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	rl := rss(l.cmd.Process.Pid)
	l.stop(syscall.SIGTERM)
	fmt.Printf("  hostkit-syncd %d KiB, lsyncd %d KiB: ratio %.2fx\n", rh, rl, float64(rh)/float64(rl))
	b.summary("idle sender watching 100,000 files: hostkit RSS %d KiB, lsyncd %d KiB, ratio %.2fx", rh, rl, float64(rh)/float64(rl))
	os.RemoveAll(src)
	return nil
}

// 5. Dead peer during a busy transfer: detection with the defaults, and with the kernel's
// (TCP_USER_TIMEOUT off), whose bound is shown with tcp_retries2 shortened in the
// sender's namespace.
func (b *syncBench) deadPeer() error {
	fmt.Println("\n5. dead peer during a busy transfer: time until the sender reports it")
	var r [3]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	na, nb := "hkb-a-"+id, "hkb-b-"+id
	run := func(args ...string) error {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	defer exec.Command("ip", "netns", "del", na).Run()
	defer exec.Command("ip", "netns", "del", nb).Run()
	for _, c := range [][]string{
		{"ip", "netns", "add", na}, {"ip", "netns", "add", nb},
		{"ip", "-n", na, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", nb},
		{"ip", "-n", na, "addr", "add", "10.231.9.1/24", "dev", "veth-a"}, {"ip", "-n", nb, "addr", "add", "10.231.9.2/24", "dev", "veth-b"},
		{"ip", "-n", na, "link", "set", "veth-a", "up"}, {"ip", "-n", nb, "link", "set", "veth-b", "up"},
		{"ip", "-n", na, "link", "set", "lo", "up"}, {"ip", "-n", nb, "link", "set", "lo", "up"},
		{"ip", "netns", "exec", na, "sysctl", "-q", "-w", "net.ipv4.tcp_retries2=5"},
	} {
		if err := run(c...); err != nil {
			return err
		}
	}
	src := filepath.Join(b.dir, "large-src")
	measure := func(name, settings string) (time.Duration, string, error) {
		dst := filepath.Join(b.dir, "dead-"+name)
		p, err := b.hostkit("dead-"+name, src, dst, "10.231.9.2:8730", []string{"ip", "netns", "exec", na}, []string{"ip", "netns", "exec", nb}, settings, "BandwidthLimit=20M")
		if err != nil {
			return 0, "", err
		}
		defer func() { p.close(); os.RemoveAll(dst) }()
		if !waitFor(60*time.Second, func() bool {
			parts, _ := filepath.Glob(filepath.Join(dst, ".hostkit-part-*"))
			return len(parts) == 1
		}) {
			return 0, "", errors.New("the transfer did not start")
		}
		time.Sleep(2 * time.Second)
		if err := run("ip", "netns", "exec", nb, "nft", "add table inet hk; add chain inet hk in { type filter hook input priority 0; policy drop; }; add chain inet hk out { type filter hook output priority 0; policy drop; }"); err != nil {
			return 0, "", err
		}
		cut := time.Now()
		re := regexp.MustCompile(`msg="target unavailable, retrying".*err="([^"]*)"`)
		var m []string
		if !waitFor(300*time.Second, func() bool { m = re.FindStringSubmatch(p.a.out.String()); return m != nil }) {
			return 0, "", errors.New("no dead peer within 300 s")
		}
		took := time.Since(cut)
		run("ip", "netns", "exec", nb, "nft", "delete table inet hk")
		return took, m[1], nil
	}
	td, why, err := measure("defaults", "")
	if err != nil {
		return err
	}
	fmt.Printf("  defaults (keepalive 30 s + 3 x 1 s, TCP_USER_TIMEOUT 33 s): %.1f s (goal <= 35 s): %s\n", td.Seconds(), why)
	tk, why, err := measure("kernel", "UserTimeoutSec=0")
	if err != nil {
		return err
	}
	// The kernel's bound for tcp_retries2=N, RTO from 200 ms doubling to at most 120 s.
	bound := func(n int) float64 {
		t, rto := 0.0, 0.2
		for i := 0; i <= n; i++ {
			t += rto
			rto = math.Min(2*rto, 120)
		}
		return t
	}
	fmt.Printf("  kernel defaults (no TCP_USER_TIMEOUT), tcp_retries2=5 in the namespace: %.1f s (bound %.1f s): %s\n", tk.Seconds(), bound(5), why)
	fmt.Printf("  with the kernel's tcp_retries2=15 that bound is %.0f s (%.1f min); rsync without --timeout waits that long too\n", bound(15), bound(15)/60)
	b.summary("dead peer in a busy transfer: %.1f s with the defaults (goal <= 35 s); kernel defaults %.1f s at tcp_retries2=5, i.e. %.0f s at the default 15 (ratio %.3fx)",
		td.Seconds(), tk.Seconds(), bound(15), td.Seconds()/bound(15))
	return nil
}
