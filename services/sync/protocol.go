package sync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The wire protocol, inside TLS: a stream of frames, each a type byte, the payload's length
// as a uvarint, and the payload, whose fields are listed per type in schema. Numbers are
// uvarints (signed ones zig-zag), strings and byte strings a uvarint length and the bytes.
//
// A sender opens with Hello; the receiver answers Welcome or Refused. The sender may ask
// for the module's manifest (ListRequest, answered by Entry... ListEnd) and for the BLAKE3
// of files there (HashRequest, answered by HashReply), and sends operations numbered by Seq
// without waiting (pipelined): the receiver answers each with Ack once it is durable, or
// OpError. A file is FileBegin, Data..., FileEnd with its BLAKE3-256 (NewContentHash); one
// of DeltaMinSize or more first asks ResumeQuery, answered with a Signature of the file it
// replaces, if there is one (see delta.go), and a ResumeOffer of what a cut-off transfer
// left; then only what the target lacks is sent as Data, and the rest as Copy frames naming
// bytes of the old file. Ping is answered with Pong by either side: the application
// heartbeat.

// ProtocolVersion is sent in Hello and Welcome; a receiver refuses another.
//
// Version 2 replaced version 1's fixed-block signature (which found no insertion) with the
// rolling one of delta.go and added HashRequest and HashReply.
const ProtocolVersion = 2

// MaxPayload bounds one frame's payload; Data frames carry at most DataChunk bytes.
const (
	MaxPayload = 1 << 20
	DataChunk  = 256 << 10
	maxPath    = 4096
)

// MsgType is the first byte of a frame.
type MsgType uint8

const (
	MsgHello MsgType = iota + 1
	MsgWelcome
	MsgRefused
	MsgListRequest
	MsgEntry
	MsgListEnd
	MsgMkdir
	MsgSymlink
	MsgFileBegin
	MsgData
	MsgFileEnd
	MsgRename
	MsgDelete
	MsgAttr
	MsgAck
	MsgOpError
	MsgPing
	MsgPong
	MsgResumeQuery
	MsgResumeOffer
	MsgCopy
	MsgSignature
	MsgHashRequest
	MsgHashReply
	msgLast
)

var msgNames = [...]string{"", "Hello", "Welcome", "Refused", "ListRequest", "Entry", "ListEnd",
	"Mkdir", "Symlink", "FileBegin", "Data", "FileEnd", "Rename", "Delete", "Attr", "Ack",
	"OpError", "Ping", "Pong", "ResumeQuery", "ResumeOffer", "Copy", "Signature", "HashRequest", "HashReply"}

func (t MsgType) String() string {
	if t > 0 && t < msgLast {
		return msgNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Kind is what an Entry is.
type Kind uint8

const (
	KindFile Kind = iota + 1
	KindDir
	KindSymlink
)

// Msg is one frame, decoded. Which fields a type uses is in schema; the rest are zero.
type Msg struct {
	Type   MsgType
	Seq    uint64
	Path   string // the path relative to the module, always
	Path2  string // Rename's new path, Symlink's target, Hello's module
	Text   string // Hello's job, Refused's and OpError's reason
	Mode   uint32 // permission bits (07777)
	Kind   Kind
	Size   uint64
	Offset uint64
	Mtime  int64 // nanoseconds since the epoch
	Flag   bool  // OpError: worth retrying (a full disk), not a refusal
	Hash   []byte
	Data   []byte
	Block  uint64 // Signature: the block size
	Strong uint8  // Signature: bytes of each block's strong hash
}

type field uint8

const (
	fSeq field = iota
	fPath
	fPath2
	fText
	fMode
	fKind
	fSize
	fOffset
	fMtime
	fFlag
	fHash
	fData
	fBlock
	fStrong
)

var schema = map[MsgType][]field{
	MsgHello:       {fSize, fPath2, fText}, // Size: protocol version
	MsgWelcome:     {fSize},
	MsgRefused:     {fText},
	MsgListRequest: {},
	MsgEntry:       {fPath, fKind, fMode, fSize, fMtime, fPath2},
	MsgListEnd:     {},
	MsgMkdir:       {fSeq, fPath, fMode, fMtime},
	MsgSymlink:     {fSeq, fPath, fPath2, fMtime},
	MsgFileBegin:   {fSeq, fPath, fMode, fMtime, fSize, fOffset, fFlag}, // Flag: a delta, Copy may follow
	MsgData:        {fData},
	MsgFileEnd:     {fHash},
	MsgRename:      {fSeq, fPath, fPath2},
	MsgDelete:      {fSeq, fPath},
	MsgAttr:        {fSeq, fPath, fMode, fMtime},
	MsgAck:         {fSeq},
	MsgOpError:     {fSeq, fFlag, fText},
	MsgPing:        {fSeq},
	MsgPong:        {fSeq},
	MsgResumeQuery: {fSeq, fPath, fSize, fMtime},
	MsgResumeOffer: {fSeq, fOffset, fHash},
	MsgCopy:        {fOffset, fSize}, // bytes of the file being replaced
	// Size: the old file's; Data: per block its weak checksum (4 bytes) and Strong bytes
	// of its BLAKE3 (see delta.go).
	MsgSignature:   {fSeq, fSize, fBlock, fStrong, fData},
	MsgHashRequest: {fPath},
	MsgHashReply:   {fPath, fHash}, // no Hash: not a regular file there (any more)
}

// pathFields are the fields that hold a path into the module and are checked on decode.
var pathFields = map[MsgType]bool{MsgEntry: true, MsgMkdir: true, MsgSymlink: true,
	MsgFileBegin: true, MsgRename: true, MsgDelete: true, MsgAttr: true, MsgResumeQuery: true,
	MsgHashRequest: true, MsgHashReply: true}

// AppendMsg appends m's frame to buf.
func AppendMsg(buf []byte, m *Msg) []byte {
	var p []byte
	for _, f := range schema[m.Type] {
		switch f {
		case fSeq:
			p = binary.AppendUvarint(p, m.Seq)
		case fPath:
			p = appendString(p, m.Path)
		case fPath2:
			p = appendString(p, m.Path2)
		case fText:
			p = appendString(p, m.Text)
		case fMode:
			p = binary.AppendUvarint(p, uint64(m.Mode))
		case fKind:
			p = append(p, byte(m.Kind))
		case fSize:
			p = binary.AppendUvarint(p, m.Size)
		case fOffset:
			p = binary.AppendUvarint(p, m.Offset)
		case fMtime:
			p = binary.AppendVarint(p, m.Mtime)
		case fFlag:
			b := byte(0)
			if m.Flag {
				b = 1
			}
			p = append(p, b)
		case fHash:
			p = appendString(p, string(m.Hash))
		case fData:
			p = append(p, m.Data...) // the rest of the frame
		case fBlock:
			p = binary.AppendUvarint(p, m.Block)
		case fStrong:
			p = append(p, m.Strong)
		}
	}
	buf = append(buf, byte(m.Type))
	buf = binary.AppendUvarint(buf, uint64(len(p)))
	return append(buf, p...)
}

func appendString(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

// ErrProtocol marks a frame that breaks the protocol; the connection is dropped.
var ErrProtocol = errors.New("protocol error")

// ReadMsg reads one frame. A frame that is too large, of an unknown type, malformed, or
// with a path that could leave the module (see CheckPath) is an error wrapping
// ErrProtocol; io.EOF means the peer closed between frames.
func ReadMsg(r *bufio.Reader) (*Msg, error) { return readMsg(r, nil) }

func readMsg(r *bufio.Reader, buf *[]byte) (*Msg, error) {
	t, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("%w: frame length: %v", ErrProtocol, noEOF(err))
	}
	if n > MaxPayload {
		return nil, fmt.Errorf("%w: %s frame of %d bytes (at most %d)", ErrProtocol, MsgType(t), n, MaxPayload)
	}
	var payload []byte
	if buf != nil {
		if uint64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		payload = (*buf)[:n]
	} else {
		payload = make([]byte, n)
	}
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("%w: %s frame: %v", ErrProtocol, MsgType(t), noEOF(err))
	}
	return DecodeMsg(MsgType(t), payload)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// DecodeMsg decodes a frame's payload.
func DecodeMsg(t MsgType, p []byte) (*Msg, error) {
	fields, ok := schema[t]
	if !ok {
		return nil, fmt.Errorf("%w: unknown frame type %d", ErrProtocol, uint8(t))
	}
	m := &Msg{Type: t}
	d := decoder{p: p}
	for _, f := range fields {
		switch f {
		case fSeq:
			m.Seq = d.uvarint()
		case fPath:
			m.Path = d.string(maxPath)
		case fPath2:
			m.Path2 = d.string(maxPath)
		case fText:
			m.Text = d.string(maxPath)
		case fMode:
			v := d.uvarint()
			if v > 0o7777 {
				d.fail("mode %o", v)
			}
			m.Mode = uint32(v)
		case fKind:
			m.Kind = Kind(d.byte())
			if m.Kind < KindFile || m.Kind > KindSymlink {
				d.fail("kind %d", m.Kind)
			}
		case fSize:
			m.Size = d.uvarint()
		case fOffset:
			m.Offset = d.uvarint()
		case fMtime:
			m.Mtime = d.varint()
		case fFlag:
			b := d.byte()
			if b > 1 {
				d.fail("flag %d", b)
			}
			m.Flag = b == 1
		case fHash:
			h := d.string(64)
			if h != "" {
				m.Hash = []byte(h)
			}
		case fData:
			m.Data, d.p = d.p, nil
		case fBlock:
			m.Block = d.uvarint()
		case fStrong:
			m.Strong = d.byte()
		}
	}
	if d.err == nil && len(d.p) > 0 {
		d.fail("%d bytes after the last field", len(d.p))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %s frame: %v", ErrProtocol, t, d.err)
	}
	if pathFields[t] {
		if err := CheckPath(m.Path); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, t, err)
		}
		if t == MsgRename {
			if err := CheckPath(m.Path2); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, t, err)
			}
		}
	}
	if t == MsgFileEnd && len(m.Hash) != 32 || (t == MsgResumeOffer || t == MsgHashReply) && m.Hash != nil && len(m.Hash) != 32 {
		return nil, fmt.Errorf("%w: %s: hash of %d bytes", ErrProtocol, t, len(m.Hash))
	}
	if t == MsgSignature {
		if err := checkSignature(m); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, t, err)
		}
	}
	return m, nil
}

// checkSignature accepts a Signature frame whose entries are exactly one per block of the
// file it describes, so that the sender can index them without further checks.
func checkSignature(m *Msg) error {
	if m.Strong < minStrong || m.Strong > maxStrong {
		return fmt.Errorf("strong hashes of %d bytes (%d to %d)", m.Strong, minStrong, maxStrong)
	}
	if m.Block == 0 || m.Block > maxBlockSize {
		return fmt.Errorf("block size %d (1 to %d)", m.Block, maxBlockSize)
	}
	blocks := m.Size / m.Block
	if m.Size%m.Block != 0 {
		blocks++
	}
	if blocks > MaxPayload || blocks*(4+uint64(m.Strong)) != uint64(len(m.Data)) {
		return fmt.Errorf("%d bytes of sums for %d blocks of %d bytes", len(m.Data), blocks, 4+m.Strong)
	}
	return nil
}

type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.p) == 0 {
		d.fail("truncated")
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *decoder) string(limit int) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(d.p)) {
		d.fail("string of %d bytes", n)
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}

// CheckPath accepts a path from the wire only in the one form a sender produces: relative,
// slash-separated, without NUL (any other bytes are a Linux name), without empty, "." or ".." elements, and with no
// element longer than 255 bytes. "" is the module's root. Everything else is refused before
// it comes near the file system; the receiver still opens every path so that nothing,
// symlinks included, resolves outside the module (see Receiver).
func CheckPath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > maxPath {
		return fmt.Errorf("path of %d bytes", len(p))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("path %q has a NUL byte", p)
	}
	if p[0] == '/' {
		return fmt.Errorf("absolute path %q", p)
	}
	for _, e := range strings.Split(p, "/") {
		switch {
		case e == "" || e == ".":
			return fmt.Errorf("path %q has an empty or '.' element", p)
		case e == "..":
			return fmt.Errorf("path %q has a '..' element", p)
		case len(e) > 255:
			return fmt.Errorf("path %q has an element longer than 255 bytes", p)
		}
	}
	return nil
}
