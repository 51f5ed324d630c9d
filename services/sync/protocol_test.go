package sync

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	hash := bytes.Repeat([]byte{7}, 32)
	msgs := []*Msg{
		{Type: MsgHello, Size: ProtocolVersion, Path2: "www", Text: "job"},
		{Type: MsgWelcome, Size: 1},
		{Type: MsgRefused, Text: "no"},
		{Type: MsgListRequest},
		{Type: MsgEntry, Path: "a/b", Kind: KindSymlink, Mode: 0o777, Size: 3, Mtime: -5, Path2: "../x"},
		{Type: MsgListEnd},
		{Type: MsgMkdir, Seq: 1, Path: "d", Mode: 0o755, Mtime: 1 << 60},
		{Type: MsgSymlink, Seq: 2, Path: "l", Path2: "/etc/passwd"},
		{Type: MsgFileBegin, Seq: 3, Path: "f", Mode: 0o4755, Size: 1 << 40, Offset: 12, Flag: true},
		{Type: MsgData, Data: []byte("hello")},
		{Type: MsgFileEnd, Hash: hash},
		{Type: MsgRename, Seq: 4, Path: "a", Path2: "b/c"},
		{Type: MsgDelete, Seq: 5, Path: "x"},
		{Type: MsgAttr, Seq: 6, Path: "", Mode: 0o700},
		{Type: MsgAck, Seq: 7},
		{Type: MsgOpError, Seq: 8, Flag: true, Text: "disk full"},
		{Type: MsgPing, Seq: 9},
		{Type: MsgPong, Seq: 9},
		{Type: MsgResumeQuery, Seq: 10, Path: "big", Size: 100, Mtime: 3},
		{Type: MsgResumeOffer, Seq: 10, Offset: 50, Hash: hash},
		{Type: MsgCopy, Offset: 65536, Size: 131072},
		{Type: MsgSignature, Seq: 11, Size: 5000, Block: 2048, Strong: 2, Data: make([]byte, 3*6)},
		{Type: MsgHashRequest, Path: "a/b"},
		{Type: MsgHashReply, Path: "a/b", Hash: hash},
		{Type: MsgHashReply, Path: "gone"},
	}
	var buf []byte
	for _, m := range msgs {
		buf = AppendMsg(buf, m)
	}
	r := bufio.NewReader(bytes.NewReader(buf))
	for i, want := range msgs {
		got, err := ReadMsg(r)
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, want.Type, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("case %d (%s): got %+v, want %+v", i, want.Type, got, want)
		}
	}
	if _, err := ReadMsg(r); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	frame := func(m *Msg) []byte { return AppendMsg(nil, m) }
	for i, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"absolute", frame(&Msg{Type: MsgFileBegin, Path: "/etc/passwd"}), "absolute path"},
		{"dotdot", frame(&Msg{Type: MsgMkdir, Path: "a/../../b"}), "'..' element"},
		{"dotdot rename target", frame(&Msg{Type: MsgRename, Path: "a", Path2: ".."}), "'..' element"},
		{"nul", frame(&Msg{Type: MsgDelete, Path: "a\x00b"}), "NUL"},
		{"empty element", frame(&Msg{Type: MsgSymlink, Path: "a//b"}), "empty or '.' element"},
		{"trailing slash", frame(&Msg{Type: MsgSymlink, Path: "a/"}), "empty or '.' element"},
		{"dot", frame(&Msg{Type: MsgAttr, Path: "./a"}), "empty or '.' element"},
		{"long element", frame(&Msg{Type: MsgDelete, Path: strings.Repeat("x", 256)}), "longer than 255"},
		{"unknown type", []byte{99, 0}, "unknown frame type 99"},
		{"too large", []byte{byte(MsgData), 0x80, 0x80, 0x80, 0x01}, "at most"},
		{"truncated", []byte{byte(MsgAck), 5, 1}, "unexpected EOF"},
		{"trailing bytes", []byte{byte(MsgAck), 2, 1, 1}, "after the last field"},
		{"bad mode", frame(&Msg{Type: MsgMkdir, Path: "d", Mode: 0o7777 + 1}), "mode"},
		{"short hash", frame(&Msg{Type: MsgFileEnd, Hash: []byte{1}}), "hash of 1 bytes"},
		{"bad kind", frame(&Msg{Type: MsgEntry, Path: "a", Kind: 9}), "kind 9"},
		{"hash request outside", frame(&Msg{Type: MsgHashRequest, Path: "../x"}), "'..' element"},
		{"short hash reply", frame(&Msg{Type: MsgHashReply, Path: "x", Hash: []byte{1}}), "hash of 1 bytes"},
		{"signature of too few sums", frame(&Msg{Type: MsgSignature, Size: 5000, Block: 2048, Strong: 2, Data: make([]byte, 12)}), "12 bytes of sums for 3 blocks"},
	} {
		_, err := ReadMsg(bufio.NewReader(bytes.NewReader(c.data)))
		if err == nil || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d (%s): %v, want ErrProtocol with %q", i, c.name, err, c.want)
		}
	}
}

// FuzzDecode feeds arbitrary frames to the decoder: it must never panic, must refuse every
// path CheckPath refuses, and what it accepts must encode back to the same frame.
func FuzzDecode(f *testing.F) {
	f.Add(AppendMsg(nil, &Msg{Type: MsgFileBegin, Seq: 3, Path: "a/b", Mode: 0o644, Size: 10}))
	f.Add(AppendMsg(nil, &Msg{Type: MsgRename, Seq: 3, Path: "a/b", Path2: "c"}))
	f.Add(AppendMsg(nil, &Msg{Type: MsgEntry, Path: "x", Kind: KindFile}))
	f.Add(AppendMsg(nil, &Msg{Type: MsgFileEnd, Hash: make([]byte, 32)}))
	f.Add([]byte{byte(MsgHello), 3, 1, 0, 0})
	f.Add(AppendMsg(nil, &Msg{Type: MsgSignature, Seq: 2, Size: 5000, Block: 2048, Strong: 2, Data: make([]byte, 18)}))
	f.Add(AppendMsg(nil, &Msg{Type: MsgHashRequest, Path: "a/b"}))
	f.Add(AppendMsg(nil, &Msg{Type: MsgHashReply, Path: "a/b", Hash: make([]byte, 32)}))
	f.Add(AppendMsg(nil, &Msg{Type: MsgResumeOffer, Seq: 2, Offset: 10, Hash: make([]byte, 32)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			m, err := ReadMsg(r)
			if err != nil {
				return
			}
			if pathFields[m.Type] && CheckPath(m.Path) != nil {
				t.Fatalf("accepted path %q", m.Path)
			}
			if m.Type == MsgRename && CheckPath(m.Path2) != nil {
				t.Fatalf("accepted rename target %q", m.Path2)
			}
			if m.Type == MsgSignature {
				// What the sender indexes without further checks must hold together.
				sig := SignatureOf(m)
				if sig.blocks() != int((m.Size+m.Block-1)/m.Block) || sig.BlockSize <= 0 {
					t.Fatalf("accepted a signature of %d sums for %d bytes in blocks of %d", sig.blocks(), m.Size, m.Block)
				}
				if sig.blocks() > 0 {
					newMatcher(sig)
				}
			}
			again, err := ReadMsg(bufio.NewReader(bytes.NewReader(AppendMsg(nil, m))))
			if err != nil {
				t.Fatalf("re-encoded %+v does not decode: %v", m, err)
			}
			if !reflect.DeepEqual(m, again) {
				t.Fatalf("round trip changed %+v into %+v", m, again)
			}
		}
	})
}
