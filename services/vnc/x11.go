package vnc

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// A display's desktop is looked at through X itself: the windows mapped on the root
// window (QueryTree, GetWindowAttributes) and the root window's pixels (GetImage), which
// are the framebuffer Xvnc serves to every VNC client. That needs no RFB connection, so a
// screenshot or a blank check is never one of the display's clients and never disturbs a
// viewer (-NeverShared, -QueryConnect). Only the few requests below are implemented.

// Cookie is an MIT-MAGIC-COOKIE-1.
type Cookie []byte

// NewCookie returns 16 random bytes.
func NewCookie() (Cookie, error) {
	c := make(Cookie, 16)
	if _, err := rand.Read(c); err != nil {
		return nil, err
	}
	return c, nil
}

const cookieName = "MIT-MAGIC-COOKIE-1"

// familyWild matches every host address in an Xauthority entry, so the entry holds
// whatever the machine's name becomes.
const familyWild = 0xffff

// WriteXauthority writes an Xauthority file with one entry: display n's cookie, for any
// host. Xvnc reads it (-auth) and so does every X client of the session (XAUTHORITY).
func WriteXauthority(path string, n int, cookie Cookie) error {
	var b []byte
	field := func(s []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint16(b, familyWild)
	field(nil)
	field([]byte(strconv.Itoa(n)))
	field([]byte(cookieName))
	field(cookie)
	return writeFileMode(path, b, 0o600)
}

// ReadXauthority returns the cookie for display n from an Xauthority file (an entry for
// display n, or one without a display number).
func ReadXauthority(path string, n int) (Cookie, error) {
	data, err := readRuntime(path, maxRuntimeFile)
	if err != nil {
		return nil, err
	}
	if c := parseXauthority(data, n); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%s: no %s for display :%d", path, cookieName, n)
}

// parseXauthority finds display n's cookie in the entries of an Xauthority file.
func parseXauthority(data []byte, n int) Cookie {
	want := strconv.Itoa(n)
	for len(data) > 0 {
		var fields [4][]byte
		if len(data) < 2 {
			break
		}
		data = data[2:] // family
		ok := true
		for i := range fields {
			if len(data) < 2 {
				ok = false
				break
			}
			l := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+l {
				ok = false
				break
			}
			fields[i], data = data[2:2+l], data[2+l:]
		}
		if !ok {
			break
		}
		if string(fields[2]) == cookieName && (string(fields[1]) == want || len(fields[1]) == 0) {
			return Cookie(fields[3])
		}
	}
	return nil
}

// XConn is a connection to an X server.
type XConn struct {
	c      net.Conn
	r      *bufio.Reader
	seq    uint16
	Root   uint32
	Width  int
	Height int
	Depth  int
	// bits per pixel of the root depth's ZPixmap format
	bpp int
	// the root visual's masks, to read pixels as colours
	red, green, blue uint32
}

// DialX connects to display n through the socket file under tmp (the abstract socket
// needs the display's network namespace; the file needs only the file system).
func DialX(tmp string, n int, cookie Cookie, timeout time.Duration) (*XConn, error) {
	path := SocketPath(tmp, n)
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to X display :%d: %w", n, err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	x := &XConn{c: c, r: bufio.NewReaderSize(c, 1<<16)}
	if err := x.setup(cookie); err != nil {
		c.Close()
		return nil, fmt.Errorf("display :%d: X: %w", n, err)
	}
	return x, nil
}

// Close ends the connection.
func (x *XConn) Close() error { return x.c.Close() }

// SetDeadline bounds the requests that follow.
func (x *XConn) SetDeadline(t time.Time) { x.c.SetDeadline(t) }

func pad4(n int) int { return (4 - n%4) % 4 }

func (x *XConn) setup(cookie Cookie) error {
	req := []byte{'l', 0}
	req = binary.LittleEndian.AppendUint16(req, 11)
	req = binary.LittleEndian.AppendUint16(req, 0)
	req = binary.LittleEndian.AppendUint16(req, uint16(len(cookieName)))
	req = binary.LittleEndian.AppendUint16(req, uint16(len(cookie)))
	req = append(req, 0, 0)
	req = append(req, cookieName...)
	req = append(req, make([]byte, pad4(len(cookieName)))...)
	req = append(req, cookie...)
	req = append(req, make([]byte, pad4(len(cookie)))...)
	if _, err := x.c.Write(req); err != nil {
		return err
	}
	head := make([]byte, 8)
	if _, err := io.ReadFull(x.r, head); err != nil {
		return fmt.Errorf("reading the connection setup: %w", err)
	}
	body := make([]byte, 4*int(binary.LittleEndian.Uint16(head[6:])))
	if _, err := io.ReadFull(x.r, body); err != nil {
		return fmt.Errorf("reading the connection setup: %w", err)
	}
	if head[0] != 1 {
		reason := string(body)
		if head[0] == 0 && int(head[1]) <= len(body) {
			reason = string(body[:head[1]])
		}
		return fmt.Errorf("connection refused by the X server: %q", reason)
	}
	le := binary.LittleEndian
	if len(body) < 32 {
		return errors.New("short connection setup")
	}
	vendorLen := int(le.Uint16(body[16:]))
	nScreens, nFormats := int(body[20]), int(body[21])
	off := 32 + vendorLen + pad4(vendorLen)
	formats := map[int]int{}
	for i := 0; i < nFormats; i++ {
		if off+8 > len(body) {
			return errors.New("short pixmap formats")
		}
		formats[int(body[off])] = int(body[off+1])
		off += 8
	}
	if nScreens < 1 || off+40 > len(body) {
		return errors.New("no screen")
	}
	s := body[off:]
	x.Root = le.Uint32(s[0:])
	x.Width, x.Height = int(le.Uint16(s[20:])), int(le.Uint16(s[22:]))
	visual := le.Uint32(s[32:])
	x.Depth = int(s[38])
	x.bpp = formats[x.Depth]
	// Find the root visual among the screen's depths for its colour masks.
	nDepths := int(s[39])
	p := 40
	for i := 0; i < nDepths && p+8 <= len(s); i++ {
		nVisuals := int(le.Uint16(s[p+2:]))
		p += 8
		for j := 0; j < nVisuals && p+24 <= len(s); j++ {
			if le.Uint32(s[p:]) == visual {
				x.red, x.green, x.blue = le.Uint32(s[p+8:]), le.Uint32(s[p+12:]), le.Uint32(s[p+16:])
			}
			p += 24
		}
	}
	return nil
}

// request sends one request and reads its reply: the 32-byte header and what follows.
func (x *XConn) request(req []byte) ([]byte, error) {
	if _, err := x.c.Write(req); err != nil {
		return nil, err
	}
	x.seq++
	for {
		head := make([]byte, 32)
		if _, err := io.ReadFull(x.r, head); err != nil {
			return nil, err
		}
		switch head[0] {
		case 0:
			return nil, fmt.Errorf("the X server answered error %d to request %d", head[1], req[0])
		case 1:
			extra := make([]byte, 4*int(binary.LittleEndian.Uint32(head[4:])))
			if _, err := io.ReadFull(x.r, extra); err != nil {
				return nil, err
			}
			return append(head, extra...), nil
		}
		// An event: none is selected, but skip whatever comes.
	}
}

func x11Request(opcode byte, data byte, words ...uint32) []byte {
	b := []byte{opcode, data}
	b = binary.LittleEndian.AppendUint16(b, uint16(1+len(words)))
	for _, w := range words {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// MappedWindows counts the viewable children of the root window: top-level windows, or
// a window manager's frames around them.
func (x *XConn) MappedWindows() (int, error) {
	reply, err := x.request(x11Request(15, 0, x.Root)) // QueryTree
	if err != nil {
		return 0, fmt.Errorf("QueryTree: %w", err)
	}
	n := int(binary.LittleEndian.Uint16(reply[16:]))
	if len(reply) < 32+4*n {
		return 0, errors.New("QueryTree: short reply")
	}
	mapped := 0
	for i := 0; i < n; i++ {
		w := binary.LittleEndian.Uint32(reply[32+4*i:])
		attrs, err := x.request(x11Request(3, 0, w)) // GetWindowAttributes
		if err != nil {
			continue // the window went away in between
		}
		if attrs[26] == 2 { // map-state Viewable
			mapped++
		}
	}
	return mapped, nil
}

// Image returns the root window's pixels (GetImage, ZPixmap), which is what Xvnc sends
// its VNC clients.
func (x *XConn) Image() (*image.RGBA, error) {
	if x.bpp != 32 && x.bpp != 16 {
		return nil, fmt.Errorf("GetImage: %d bits per pixel are not supported", x.bpp)
	}
	img := image.NewRGBA(image.Rect(0, 0, x.Width, x.Height))
	// Bands of rows keep each reply well below the server's limits.
	rows := max(1, (4<<20)/(x.Width*x.bpp/8))
	for y := 0; y < x.Height; y += rows {
		h := min(rows, x.Height-y)
		req := []byte{73, 2} // GetImage, ZPixmap
		req = binary.LittleEndian.AppendUint16(req, 5)
		req = binary.LittleEndian.AppendUint32(req, x.Root)
		req = binary.LittleEndian.AppendUint16(req, 0)
		req = binary.LittleEndian.AppendUint16(req, uint16(y))
		req = binary.LittleEndian.AppendUint16(req, uint16(x.Width))
		req = binary.LittleEndian.AppendUint16(req, uint16(h))
		req = binary.LittleEndian.AppendUint32(req, 0xffffffff)
		reply, err := x.request(req)
		if err != nil {
			return nil, fmt.Errorf("GetImage: %w", err)
		}
		data := reply[32:]
		stride := x.Width * x.bpp / 8
		stride += pad4(stride)
		if len(data) < stride*h {
			return nil, errors.New("GetImage: short reply")
		}
		for row := 0; row < h; row++ {
			line := data[row*stride:]
			for col := 0; col < x.Width; col++ {
				var v uint32
				if x.bpp == 32 {
					v = binary.LittleEndian.Uint32(line[4*col:])
				} else {
					v = uint32(binary.LittleEndian.Uint16(line[2*col:]))
				}
				img.SetRGBA(col, y+row, color.RGBA{scale(v, x.red), scale(v, x.green), scale(v, x.blue), 0xff})
			}
		}
	}
	return img, nil
}

// scale reads the channel mask selects from v as 8 bits.
func scale(v, mask uint32) uint8 {
	if mask == 0 {
		return 0
	}
	shift := 0
	for mask>>shift&1 == 0 {
		shift++
	}
	maxV := mask >> shift
	return uint8((v & mask >> shift) * 255 / maxV)
}

// Uniform reports whether every pixel of img has one colour.
func Uniform(img *image.RGBA) bool {
	if len(img.Pix) < 4 {
		return true
	}
	first := img.Pix[:4]
	for i := 4; i+4 <= len(img.Pix); i += 4 {
		if img.Pix[i] != first[0] || img.Pix[i+1] != first[1] || img.Pix[i+2] != first[2] {
			return false
		}
	}
	return true
}

// XauthorityPath is where a display's session keeps its cookie, in the display's runtime
// directory.
func XauthorityPath(runtimeDir string) string { return filepath.Join(runtimeDir, "Xauthority") }
