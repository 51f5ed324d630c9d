package sync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testReceiver runs a Receiver with one module "m" that allows the returned client
// identity, on 127.0.0.1.
func testReceiver(t testing.TB) (addr string, r *Receiver, client *Identity, module string) {
	t.Helper()
	server, err := LoadIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err = LoadIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	module = filepath.Join(t.TempDir(), "module")
	r = &Receiver{ID: server, KeepAlive: KeepAlive{Time: 30 * time.Second, Interval: time.Second, Probes: 3, UserTimeout: 33 * time.Second},
		Modules: []*Module{{Name: "m", Path: module, Peers: []string{client.Fingerprint}}}}
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return l.Addr().String(), r, client, module
}

// rawClient speaks the protocol frame by frame, as a hostile or buggy sender could.
type rawClient struct {
	t *testing.T
	c *tls.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string, id *Identity, serverFP, module string) (*rawClient, *Msg) {
	t.Helper()
	conf := id.ClientTLS(serverFP)
	conf.VerifyConnection = nil // these tests are about the receiver
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.send(&Msg{Type: MsgHello, Size: ProtocolVersion, Path2: module, Text: "test"})
	return rc, rc.read()
}

func (rc *rawClient) send(ms ...*Msg) {
	var buf []byte
	for _, m := range ms {
		buf = AppendMsg(buf, m)
	}
	rc.raw(buf)
}

func (rc *rawClient) raw(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) read() *Msg {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := ReadMsg(rc.r)
	if err != nil {
		rc.t.Fatalf("reading from the receiver: %v", err)
	}
	return m
}

// expect reads until a message of type t, skipping Acks, and returns it.
func (rc *rawClient) expect(t MsgType) *Msg {
	rc.t.Helper()
	for {
		m := rc.read()
		if m.Type == t {
			return m
		}
		if m.Type != MsgAck {
			rc.t.Fatalf("got %s %+v, want %s", m.Type, m, t)
		}
	}
}

func file(seq uint64, path string, content []byte) []*Msg {
	sum := ContentSum(content)
	return []*Msg{
		{Type: MsgFileBegin, Seq: seq, Path: path, Mode: 0o640, Mtime: 1e18, Size: uint64(len(content))},
		{Type: MsgData, Data: content},
		{Type: MsgFileEnd, Hash: sum[:]},
	}
}

func TestReceiverRefusesUnknownPeer(t *testing.T) {
	addr, r, _, _ := testReceiver(t)
	stranger, _ := LoadIdentity(t.TempDir())
	_, m := dialRaw(t, addr, stranger, r.ID.Fingerprint, "m")
	if m.Type != MsgRefused || !strings.Contains(m.Text, stranger.Fingerprint) {
		t.Errorf("stranger got %s %q, want Refused naming its fingerprint", m.Type, m.Text)
	}
	_, m = dialRaw(t, addr, stranger, r.ID.Fingerprint, "nosuch")
	if m.Type != MsgRefused || !strings.Contains(m.Text, `no module "nosuch"`) {
		t.Errorf("unknown module: %s %q", m.Type, m.Text)
	}
}

func TestReceiverWritesFiles(t *testing.T) {
	addr, r, client, module := testReceiver(t)
	rc, m := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	if m.Type != MsgWelcome {
		t.Fatalf("got %s %q", m.Type, m.Text)
	}
	rc.send(file(1, "a/b/c.txt", []byte("content"))...)
	bad := file(2, "bad", []byte("content"))
	bad[2].Hash = make([]byte, 32)
	rc.send(bad...)
	rc.send(&Msg{Type: MsgSymlink, Seq: 3, Path: "a/link", Path2: "b/c.txt", Mtime: 5e17},
		&Msg{Type: MsgMkdir, Seq: 4, Path: "d", Mode: 0o750},
		&Msg{Type: MsgRename, Seq: 5, Path: "a/b", Path2: "d/b2"},
		&Msg{Type: MsgPing, Seq: 77})
	if e := rc.expect(MsgOpError); e.Seq != 2 || e.Flag || !strings.Contains(e.Text, "hash differs") {
		t.Errorf("bad hash: %+v", e)
	}
	if p := rc.expect(MsgPong); p.Seq != 77 {
		t.Errorf("pong %d", p.Seq)
	}
	if a := rc.expect(MsgAck); a.Seq != 5 {
		t.Errorf("ack %d, want 5", a.Seq)
	}
	data, err := os.ReadFile(filepath.Join(module, "d/b2/c.txt"))
	if string(data) != "content" || err != nil {
		t.Errorf("d/b2/c.txt: %q %v", data, err)
	}
	info, _ := os.Stat(filepath.Join(module, "d/b2/c.txt"))
	if info.Mode().Perm() != 0o640 || info.ModTime().UnixNano() != 1e18 {
		t.Errorf("mode %v mtime %v", info.Mode(), info.ModTime())
	}
	if target, _ := os.Readlink(filepath.Join(module, "a/link")); target != "b/c.txt" {
		t.Errorf("symlink -> %q", target)
	}
	if _, err := os.Lstat(filepath.Join(module, "bad")); err == nil {
		t.Error("a file whose hash differs was put in place")
	}
	if info, _ := os.Stat(filepath.Join(module, "d")); info.Mode().Perm() != 0o750 {
		t.Errorf("d mode %v", info.Mode())
	}
	rc.send(&Msg{Type: MsgListRequest})
	var paths []string
	for m := rc.expect(MsgEntry); m.Type == MsgEntry; m = rc.read() {
		paths = append(paths, m.Path)
	}
	if strings.Join(paths, " ") == "" || strings.Contains(strings.Join(paths, " "), tmpPrefix) {
		t.Errorf("manifest %v", paths)
	}
	// A second listing on the same connection (a Resync) lists the module again.
	rc.send(&Msg{Type: MsgListRequest})
	var again []string
	for m := rc.expect(MsgEntry); m.Type == MsgEntry; m = rc.read() {
		again = append(again, m.Path)
	}
	if strings.Join(again, " ") != strings.Join(paths, " ") {
		t.Errorf("second manifest %v, first %v", again, paths)
	}
}

// TestReceiverReplaces sends files whose names are taken at the target: by a file, a
// symlink leading out of the module, an empty and a full directory. Each is replaced (the
// symlink itself, not what it points to), and no temporary file is left beside them.
func TestReceiverReplaces(t *testing.T) {
	addr, r, client, module := testReceiver(t)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(module, "full", "sub"), 0o755)
	os.MkdirAll(filepath.Join(module, "empty"), 0o755)
	os.WriteFile(filepath.Join(module, "file"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(module, "full", "sub", "x"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644)
	if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(module, "link")); err != nil {
		t.Fatal(err)
	}
	rc, _ := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	names := []string{"file", "link", "empty", "full", "new"}
	for i, name := range names {
		rc.send(file(uint64(i+1), name, []byte("new "+name))...)
	}
	for a := rc.expect(MsgAck); a.Seq < uint64(len(names)); a = rc.expect(MsgAck) {
	}
	for _, name := range names {
		info, err := os.Lstat(filepath.Join(module, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !info.Mode().IsRegular() {
			t.Errorf("%s is %v, want a regular file", name, info.Mode())
			continue
		}
		if data, _ := os.ReadFile(filepath.Join(module, name)); string(data) != "new "+name {
			t.Errorf("%s: %q", name, data)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "victim")); string(data) != "keep" {
		t.Errorf("written through the symlink: %q", data)
	}
	entries, _ := os.ReadDir(module)
	if len(entries) != len(names) {
		t.Errorf("module holds %v, want only %v", entries, names)
	}
}

// TestReceiverDirectoryMoved sends, in one stream, a file into d, a rename of d, a new d
// and a file into it: the second file goes into the new d, not after the first into the
// renamed one (the receiver shares a directory's descriptor between files in a row).
func TestReceiverDirectoryMoved(t *testing.T) {
	addr, r, client, module := testReceiver(t)
	rc, _ := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	var ops []*Msg
	ops = append(ops, &Msg{Type: MsgMkdir, Seq: 1, Path: "d", Mode: 0o755})
	ops = append(ops, file(2, "d/x", []byte("x"))...)
	ops = append(ops, &Msg{Type: MsgRename, Seq: 3, Path: "d", Path2: "e"}, &Msg{Type: MsgMkdir, Seq: 4, Path: "d", Mode: 0o755})
	ops = append(ops, file(5, "d/y", []byte("y"))...)
	rc.send(ops...)
	for a := rc.expect(MsgAck); a.Seq < 5; a = rc.expect(MsgAck) {
	}
	for _, want := range []string{"e/x", "d/y"} {
		if _, err := os.Stat(filepath.Join(module, want)); err != nil {
			t.Errorf("%s: %v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(module, "e/y")); err == nil {
		t.Error("d/y was written into the renamed directory e")
	}
}

// TestReceiverPathSafety sends what a hostile sender could: paths out of the module,
// symlinks leading out, writes through a symlinked directory. Nothing may appear outside
// the module, and nothing may follow the symlink an admin left inside it.
func TestReceiverPathSafety(t *testing.T) {
	addr, r, client, module := testReceiver(t)
	outside := t.TempDir()
	os.MkdirAll(module, 0o755)
	if err := os.Symlink(outside, filepath.Join(module, "escape")); err != nil {
		t.Fatal(err)
	}
	rc, _ := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	refusedOps := [][]*Msg{
		file(1, "escape/x", []byte("x")),
		{{Type: MsgMkdir, Seq: 2, Path: "escape/d", Mode: 0o755}},
		{{Type: MsgSymlink, Seq: 3, Path: "abs", Path2: "/etc/passwd"}},
		{{Type: MsgSymlink, Seq: 4, Path: "a/up", Path2: "../../x"}},
		{{Type: MsgRename, Seq: 5, Path: "escape/anything", Path2: "mine"}},
		{{Type: MsgDelete, Seq: 6, Path: "escape/victim"}},
		{{Type: MsgAttr, Seq: 7, Path: "escape/victim", Mode: 0o777}},
	}
	os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o600)
	for i, ops := range refusedOps {
		rc.send(ops...)
		if e := rc.expect(MsgOpError); e.Flag {
			t.Errorf("case %d: refusal marked retryable: %q", i, e.Text)
		}
	}
	// A symlink that stays inside is fine, and so is writing it over "escape" itself.
	rc.send(&Msg{Type: MsgSymlink, Seq: 8, Path: "a/in", Path2: "../b"}, &Msg{Type: MsgDelete, Seq: 9, Path: "escape"})
	for a := rc.expect(MsgAck); a.Seq < 9; a = rc.expect(MsgAck) {
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 || entries[0].Name() != "victim" {
		t.Errorf("outside the module: %v", entries)
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "victim")); string(data) != "keep" {
		t.Errorf("victim changed: %q", data)
	}
	if info, _ := os.Stat(filepath.Join(outside, "victim")); info.Mode().Perm() != 0o600 {
		t.Errorf("victim mode changed: %v", info.Mode())
	}
	if _, err := os.Lstat(filepath.Join(module, "escape")); err == nil {
		t.Error("Delete of the symlink itself did not remove it")
	}
	// Frames the decoder refuses, and a file begun inside another, close the connection.
	for i, raw := range [][]byte{
		AppendMsg(AppendMsg(nil, &Msg{Type: MsgFileBegin, Seq: 10, Path: "f", Size: 1}), &Msg{Type: MsgFileBegin, Seq: 11, Path: "g", Size: 1}),
		AppendMsg(nil, &Msg{Type: MsgFileBegin, Seq: 10, Path: "../outside", Size: 1}),
		AppendMsg(nil, &Msg{Type: MsgMkdir, Seq: 10, Path: "/abs"}),
		AppendMsg(nil, &Msg{Type: MsgRename, Seq: 10, Path: "a", Path2: "a/../../x"}),
		AppendMsg(nil, &Msg{Type: MsgDelete, Seq: 10, Path: "a\x00b"}),
	} {
		rc, _ := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
		rc.raw(raw)
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var timeout net.Error
		if m, err := ReadMsg(rc.r); err == nil {
			t.Errorf("case %d: the receiver answered %s instead of closing", i, m.Type)
		} else if errors.As(err, &timeout) && timeout.Timeout() {
			t.Errorf("case %d: the receiver neither answered nor closed in 10 s", i)
		}
	}
	entries, _ = os.ReadDir(filepath.Dir(module))
	if len(entries) != 1 {
		t.Errorf("beside the module: %v", entries)
	}
}

// TestReceiverResume cuts a large file off half way and sends the rest on a new
// connection: the receiver offers what it kept, with its hash.
func TestReceiverResume(t *testing.T) {
	addr, r, client, module := testReceiver(t)
	content := bytes.Repeat([]byte("0123456789abcdef"), (ResumeMinSize+ResumeMinSize/2)/16)
	half := len(content) / 2
	sum := ContentSum(content)
	begin := &Msg{Type: MsgFileBegin, Seq: 1, Path: "big", Mode: 0o644, Mtime: 42, Size: uint64(len(content))}

	rc, _ := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	rc.send(begin)
	for off := 0; off < half; off += DataChunk {
		rc.send(&Msg{Type: MsgData, Data: content[off:min(off+DataChunk, half)]})
	}
	rc.send(&Msg{Type: MsgPing, Seq: 1})
	rc.expect(MsgPong)
	rc.c.Close()

	rc, _ = dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	rc.send(&Msg{Type: MsgResumeQuery, Seq: 1, Path: "big", Size: uint64(len(content)), Mtime: 42})
	offer := rc.expect(MsgResumeOffer)
	prefix := ContentSum(content[:offer.Offset])
	if offer.Offset != uint64(half) || !bytes.Equal(offer.Hash, prefix[:]) {
		t.Fatalf("offer at %d (want %d), hash matches: %v", offer.Offset, half, bytes.Equal(offer.Hash, prefix[:]))
	}
	if _, err := os.Lstat(filepath.Join(module, "big")); err == nil {
		t.Fatal("the cut-off file is visible under its real name")
	}
	b := *begin
	b.Offset = offer.Offset
	rc.send(&b)
	for off := half; off < len(content); off += DataChunk {
		rc.send(&Msg{Type: MsgData, Data: content[off:min(off+DataChunk, len(content))]})
	}
	rc.send(&Msg{Type: MsgFileEnd, Hash: sum[:]})
	rc.expect(MsgAck)
	got, err := os.ReadFile(filepath.Join(module, "big"))
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("resumed file: %v, equal %v", err, bytes.Equal(got, content))
	}
	left, _ := filepath.Glob(filepath.Join(module, tmpPrefix+"*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestReceiverPathSafetyWithoutOpenat2 runs the same refusals through the fallback used
// where a seccomp filter hides openat2 (systemd-nspawn of systemd 252).
func TestReceiverPathSafetyWithoutOpenat2(t *testing.T) {
	noOpenat2.Store(true)
	defer noOpenat2.Store(false)
	TestReceiverPathSafety(t)
	TestReceiverWritesFiles(t)
}

// slowReader gives a byte every delay.
type slowReader struct{ delay time.Duration }

func (r slowReader) Read(p []byte) (int, error) {
	time.Sleep(r.delay)
	return 1, nil
}

// TestBeatingWhileBusy: while the receiver reads a file at length (hashing many GiB), the
// sender hears a Pong every second, so that its heartbeat does not drop a receiver that is
// only busy.
func TestBeatingWhileBusy(t *testing.T) {
	here, there := net.Pipe()
	defer here.Close()
	defer there.Close()
	s := &rsession{w: newWire(here)}
	pongs := make(chan *Msg, 10)
	go func() {
		r := bufio.NewReader(there)
		for {
			m, err := ReadMsg(r)
			if err != nil {
				close(pongs)
				return
			}
			pongs <- m
		}
	}()
	if _, err := io.CopyN(io.Discard, s.beating(slowReader{300 * time.Millisecond}), 8); err != nil {
		t.Fatal(err)
	}
	here.Close()
	var n int
	for m := range pongs {
		if m.Type != MsgPong {
			t.Errorf("got %s while busy, want Pong", m.Type)
		}
		n++
	}
	if n < 1 || n > 3 {
		t.Errorf("%d Pongs over 2.4 s of reading, want one a second", n)
	}
}

// TestReceiverModes: every mode arrives as sent, whether the file can be created with it
// (the umask takes nothing from it) or needs fchmod after (the umask would strip bits, or
// sticky), with set-user/group-ID always cleared; the process's umask is read, not changed.
func TestReceiverModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	addr, r, client, module := testReceiver(t)
	rc, m := dialRaw(t, addr, client, r.ID.Fingerprint, "m")
	if m.Type != MsgWelcome {
		t.Fatalf("got %s %q", m.Type, m.Text)
	}
	modes := []struct{ sent, want uint32 }{
		{0o644, 0o644}, {0o600, 0o600}, {0o000, 0o000}, {0o666, 0o666}, {0o777, 0o777},
		{0o1644, 0o1644}, {0o4755, 0o755}, {0o2750, 0o750},
	}
	for i, c := range modes {
		msgs := file(uint64(i+1), fmt.Sprintf("f%d", i), []byte("x"))
		msgs[0].Mode = c.sent
		rc.send(msgs...)
	}
	for rc.expect(MsgAck).Seq != uint64(len(modes)) { // acknowledged in one commit or more
	}
	for i, c := range modes {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(module, fmt.Sprintf("f%d", i)), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != c.want {
			t.Errorf("case %d: sent mode %04o, got %04o, want %04o", i, c.sent, st.Mode&0o7777, c.want)
		}
	}
	if got := syscall.Umask(0o022); got != 0o022 {
		t.Errorf("umask %04o after receiving, want 0022", got)
	}
}
