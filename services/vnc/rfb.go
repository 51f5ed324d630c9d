package vnc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"time"
)

// RFBClient is a VNC client of protocol 3.8 (RFC 6143) with the security types None and
// VncAuth and the raw encoding: enough to check what a viewer meets (the greeting, the
// password, the desktop's size and pixels). It always asks for a shared session, so it
// never disconnects another viewer.
type RFBClient struct {
	conn     net.Conn
	r        *bufio.Reader
	Greeting string // the server's protocol version line, e.g. "RFB 003.008"
	Width    int
	Height   int
	Name     string
}

// Security types of RFC 6143.
const (
	rfbSecNone    = 1
	rfbSecVncAuth = 2
)

// ReadGreeting reads the 12-byte protocol version the server sends first.
func ReadGreeting(r io.Reader) (string, error) {
	buf := make([]byte, 12)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("reading the RFB greeting: %w", err)
	}
	if string(buf[:4]) != "RFB " || buf[11] != '\n' {
		return "", fmt.Errorf("not an RFB greeting: %q", buf)
	}
	return string(buf[:11]), nil
}

// DialRFB connects to addr, reads the greeting, authenticates (None when the server offers
// it and password is empty, else VncAuth with password) and reads the server's init.
func DialRFB(addr, password string, timeout time.Duration) (*RFBClient, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	c := &RFBClient{conn: conn, r: bufio.NewReaderSize(conn, 1<<16)}
	if err := c.handshake(password); err != nil {
		conn.Close()
		return nil, fmt.Errorf("VNC server at %s: %w", addr, err)
	}
	return c, nil
}

// Close ends the connection.
func (c *RFBClient) Close() error { return c.conn.Close() }

func (c *RFBClient) handshake(password string) error {
	g, err := ReadGreeting(c.r)
	if err != nil {
		return err
	}
	c.Greeting = g
	if g != "RFB 003.008" {
		return fmt.Errorf("server speaks %q; this client speaks RFB 003.008 only", g)
	}
	if _, err := c.conn.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	n, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("server refused the connection: %s", c.readReason())
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(c.r, types); err != nil {
		return err
	}
	choice := byte(0)
	for _, t := range types {
		if t == rfbSecNone && password == "" || t == rfbSecVncAuth && password != "" {
			choice = t
			break
		}
	}
	if choice == 0 {
		return fmt.Errorf("server offers security types %v; this client has None (no password given) and VncAuth (password given)", types)
	}
	if _, err := c.conn.Write([]byte{choice}); err != nil {
		return err
	}
	if choice == rfbSecVncAuth {
		challenge := make([]byte, 16)
		if _, err := io.ReadFull(c.r, challenge); err != nil {
			return err
		}
		if _, err := c.conn.Write(VNCAuthResponse(password, challenge)); err != nil {
			return err
		}
	}
	var result uint32
	if err := binary.Read(c.r, binary.BigEndian, &result); err != nil {
		return fmt.Errorf("reading the security result: %w", err)
	}
	if result != 0 {
		return fmt.Errorf("authentication failed: %s", c.readReason())
	}
	if _, err := c.conn.Write([]byte{1}); err != nil { // ClientInit: shared
		return err
	}
	var init struct {
		W, H   uint16
		Format [16]byte
		NameN  uint32
	}
	if err := binary.Read(c.r, binary.BigEndian, &init); err != nil {
		return fmt.Errorf("reading ServerInit: %w", err)
	}
	if init.NameN > 1<<16 {
		return errors.New("desktop name too long")
	}
	name := make([]byte, init.NameN)
	if _, err := io.ReadFull(c.r, name); err != nil {
		return err
	}
	c.Width, c.Height, c.Name = int(init.W), int(init.H), string(name)
	return nil
}

func (c *RFBClient) readReason() string {
	var n uint32
	if binary.Read(c.r, binary.BigEndian, &n) != nil || n > 1<<16 {
		return "(no reason given)"
	}
	b := make([]byte, n)
	io.ReadFull(c.r, b)
	return string(b)
}

// Framebuffer asks for the whole screen as 32-bit true colour in raw encoding and returns
// it as an image.
func (c *RFBClient) Framebuffer(timeout time.Duration) (*image.RGBA, error) {
	c.conn.SetDeadline(time.Now().Add(timeout))
	// SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, red at 0, green at 8,
	// blue at 16: the byte order of image.RGBA.
	pf := []byte{0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0}
	enc := []byte{2, 0, 0, 1, 0, 0, 0, 0} // SetEncodings: raw only
	req := []byte{3, 0, 0, 0, 0, 0, byte(c.Width >> 8), byte(c.Width), byte(c.Height >> 8), byte(c.Height)}
	if _, err := c.conn.Write(append(append(pf, enc...), req...)); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, c.Width, c.Height))
	for {
		msg, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch msg {
		case 0: // FramebufferUpdate
			var head struct {
				Pad   byte
				Rects uint16
			}
			if err := binary.Read(c.r, binary.BigEndian, &head); err != nil {
				return nil, err
			}
			for i := 0; i < int(head.Rects); i++ {
				var r struct {
					X, Y, W, H uint16
					Enc        int32
				}
				if err := binary.Read(c.r, binary.BigEndian, &r); err != nil {
					return nil, err
				}
				if r.Enc != 0 {
					return nil, fmt.Errorf("server sent encoding %d, asked for raw only", r.Enc)
				}
				rect := image.Rect(int(r.X), int(r.Y), int(r.X)+int(r.W), int(r.Y)+int(r.H))
				if !rect.In(img.Rect) {
					return nil, fmt.Errorf("rectangle %v outside the %dx%d screen", rect, c.Width, c.Height)
				}
				for y := rect.Min.Y; y < rect.Max.Y; y++ {
					row := img.Pix[img.PixOffset(rect.Min.X, y):img.PixOffset(rect.Max.X, y)]
					if _, err := io.ReadFull(c.r, row); err != nil {
						return nil, err
					}
					for x := 3; x < len(row); x += 4 {
						row[x] = 0xff
					}
				}
			}
			return img, nil
		case 1: // SetColourMapEntries
			var h struct {
				Pad   byte
				First uint16
				N     uint16
			}
			if err := binary.Read(c.r, binary.BigEndian, &h); err != nil {
				return nil, err
			}
			if _, err := io.CopyN(io.Discard, c.r, int64(h.N)*6); err != nil {
				return nil, err
			}
		case 2: // Bell
		case 3: // ServerCutText
			var h struct {
				Pad [3]byte
				N   uint32
			}
			if err := binary.Read(c.r, binary.BigEndian, &h); err != nil {
				return nil, err
			}
			if _, err := io.CopyN(io.Discard, c.r, int64(h.N)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected server message %d", msg)
		}
	}
}
