// Package bus is the one way a hostkit daemon appears on D-Bus: connect to the bus named by
// --bus, export an object whose interface is the introspection XML shipped in dbus/,
// keep its read-only properties and emit PropertiesChanged, check callers with polkit, and
// track the calls in flight so that the daemon can exit when idle.
package bus

import (
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	hkdbus "github.com/hostkit/hostkit/dbus"
)

// FlagUsage describes the value of the --bus flag every hostkit program takes.
const FlagUsage = `bus to use: "system", "session", or a D-Bus address such as unix:path=/run/x`

// Connect opens the bus named by spec: "system", "session" or a D-Bus address, which
// may also be a "unixexec:" address (see ExecAddress): hostkitctl -H reaches a remote
// bus through ssh and systemd-stdio-bridge that way. The connection is authenticated and
// has said Hello; errors name the bus.
func Connect(spec string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	var (
		conn *dbus.Conn
		err  error
	)
	switch spec {
	case "system":
		conn, err = dbus.ConnectSystemBus(opts...)
	case "session":
		conn, err = dbus.ConnectSessionBus(opts...)
	default:
		if strings.HasPrefix(spec, "unixexec:") {
			return connectExec(spec, opts...) // its errors name the command
		}
		conn, err = dbus.Connect(spec, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to the %s bus: %w", spec, err)
	}
	return conn, nil
}

// Object is one object a daemon exports: an interface at a path, its methods, and its
// read-only properties.
type Object struct {
	Path      dbus.ObjectPath
	Interface string
	// Methods is a value whose exported methods implement the interface's methods, in
	// godbus style: the last result is *dbus.Error, a dbus.Sender argument receives the
	// caller's unique name.
	Methods any
	// Properties holds the initial value of every property the interface declares.
	Properties map[string]any

	props *prop.Properties
}

// Export puts obj on conn: its methods, org.freedesktop.DBus.Properties and
// org.freedesktop.DBus.Introspectable, with the interface's introspection XML from dbus/.
// It refuses an object whose methods or properties differ from that XML, so the interface
// on the bus is always the one documented. Export objects before requesting the name.
func Export(conn *dbus.Conn, obj *Object) error {
	data, err := hkdbus.Introspection(obj.Interface)
	if err != nil {
		return err
	}
	var node introspect.Node
	if err := xml.Unmarshal(data, &node); err != nil {
		return fmt.Errorf("introspection XML of %s: %w", obj.Interface, err)
	}
	var iface *introspect.Interface
	for i := range node.Interfaces {
		if node.Interfaces[i].Name == obj.Interface {
			iface = &node.Interfaces[i]
		}
	}
	if iface == nil {
		return fmt.Errorf("introspection XML of %s does not declare that interface", obj.Interface)
	}
	if err := matchIntrospection(iface, obj); err != nil {
		return fmt.Errorf("%s at %s: %w", obj.Interface, obj.Path, err)
	}

	if err := conn.Export(obj.Methods, obj.Path, obj.Interface); err != nil {
		return fmt.Errorf("exporting %s at %s: %w", obj.Interface, obj.Path, err)
	}
	props := map[string]*prop.Prop{}
	for name, v := range obj.Properties {
		// Update emits one PropertiesChanged for all that changed, so prop emits none.
		props[name] = &prop.Prop{Value: v, Emit: prop.EmitFalse}
	}
	obj.props, err = prop.Export(conn, obj.Path, prop.Map{obj.Interface: props})
	if err != nil {
		return fmt.Errorf("exporting properties of %s at %s: %w", obj.Interface, obj.Path, err)
	}
	root := introspect.Node{
		Name:       string(obj.Path),
		Interfaces: []introspect.Interface{introspect.IntrospectData, prop.IntrospectData, *iface},
	}
	if err := conn.Export(introspect.NewIntrospectable(&root), obj.Path, "org.freedesktop.DBus.Introspectable"); err != nil {
		return fmt.Errorf("exporting introspection of %s at %s: %w", obj.Interface, obj.Path, err)
	}
	return nil
}

// matchIntrospection reports every difference between the XML and the Go object.
func matchIntrospection(iface *introspect.Interface, obj *Object) error {
	var problems []string
	have := map[string]introspect.Method{}
	for _, m := range introspect.Methods(obj.Methods) {
		have[m.Name] = m
	}
	for _, m := range iface.Methods {
		got, ok := have[m.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("method %s is not implemented", m.Name))
			continue
		}
		if want, gotSig := argSignature(m.Args), argSignature(got.Args); want != gotSig {
			problems = append(problems, fmt.Sprintf("method %s has arguments %s, the XML says %s", m.Name, gotSig, want))
		}
		delete(have, m.Name)
	}
	for name := range have {
		problems = append(problems, fmt.Sprintf("method %s is not in the XML", name))
	}
	declared := map[string]bool{}
	for _, p := range iface.Properties {
		declared[p.Name] = true
		v, ok := obj.Properties[p.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("property %s has no value", p.Name))
			continue
		}
		if sig := dbus.SignatureOf(v).String(); sig != p.Type {
			problems = append(problems, fmt.Sprintf("property %s is %s, the XML says %s", p.Name, sig, p.Type))
		}
		if p.Access != "read" {
			problems = append(problems, fmt.Sprintf("property %s: only read-only properties are supported", p.Name))
		}
	}
	for name := range obj.Properties {
		if !declared[name] {
			problems = append(problems, fmt.Sprintf("property %s is not in the XML", name))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("does not match its introspection XML: %v", problems)
	}
	return nil
}

func argSignature(args []introspect.Arg) string {
	s := ""
	for _, a := range args {
		s += a.Direction + ":" + a.Type + " "
	}
	return "(" + s + ")"
}

// Update sets properties of an exported object and emits one PropertiesChanged signal
// naming those whose value changed; unchanged values emit nothing.
func (obj *Object) Update(conn *dbus.Conn, values map[string]any) error {
	changed := map[string]dbus.Variant{}
	for name, v := range values {
		old, err := obj.props.Get(obj.Interface, name)
		if err != nil {
			return fmt.Errorf("property %s of %s: %s", name, obj.Interface, err.Error())
		}
		if reflect.DeepEqual(old.Value(), v) {
			continue
		}
		if dbus.SignatureOf(old.Value()) != dbus.SignatureOf(v) {
			return fmt.Errorf("property %s of %s is %s, not %s", name, obj.Interface,
				dbus.SignatureOf(old.Value()), dbus.SignatureOf(v))
		}
		obj.props.SetMust(obj.Interface, name, v)
		changed[name] = dbus.MakeVariant(v)
	}
	if len(changed) == 0 {
		return nil
	}
	return conn.Emit(obj.Path, "org.freedesktop.DBus.Properties.PropertiesChanged", obj.Interface, changed, []string{})
}

// RequestName asks for name; it is an error if another connection owns it already.
func RequestName(conn *dbus.Conn, name string) error {
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil {
		return fmt.Errorf("requesting bus name %s: %w", name, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return fmt.Errorf("bus name %s is owned by another process (is hostkit already running?)", name)
	}
	return nil
}

// Calls counts the method calls a connection is serving and remembers when the last one
// ended. Pass Options() to Connect; Idle reports how long the connection has been idle.
type Calls struct {
	mu       sync.Mutex
	inflight map[string]map[uint32]bool // sender -> serials awaiting a reply
	holders  map[string]bool            // see Hold
	last     time.Time
	drained  *sync.Cond
}

// NewCalls returns a tracker whose idle time starts now.
func NewCalls() *Calls {
	c := &Calls{inflight: map[string]map[uint32]bool{}, holders: map[string]bool{}, last: time.Now()}
	c.drained = sync.NewCond(&c.mu)
	return c
}

// Hold keeps the connection from being idle until Release(owner): for a client that
// asked to be kept informed while it stays connected (hostkit-hwd's Watch()).
func (c *Calls) Hold(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holders[owner] = true
}

// Release ends Hold(owner); the idle time starts again now. It reports whether owner
// held the connection.
func (c *Calls) Release(owner string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holders[owner] {
		return false
	}
	delete(c.holders, owner)
	c.last = time.Now()
	return true
}

// Options returns the connection options that feed c: every incoming method call that
// expects a reply is in flight until the reply or error to it is sent.
func (c *Calls) Options() []dbus.ConnOption {
	return []dbus.ConnOption{
		dbus.WithIncomingInterceptor(func(msg *dbus.Message) {
			if msg.Type == dbus.TypeMethodCall {
				sender, _ := msg.Headers[dbus.FieldSender].Value().(string)
				c.begin(sender, msg.Serial(), msg.Flags&dbus.FlagNoReplyExpected != 0)
			}
		}),
		dbus.WithOutgoingInterceptor(func(msg *dbus.Message) {
			if msg.Type == dbus.TypeMethodReply || msg.Type == dbus.TypeError {
				dest, _ := msg.Headers[dbus.FieldDestination].Value().(string)
				serial, _ := msg.Headers[dbus.FieldReplySerial].Value().(uint32)
				c.end(dest, serial)
			}
		}),
	}
}

// begin records a call from sender; one that expects no reply only counts as activity.
func (c *Calls) begin(sender string, serial uint32, noReply bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	if noReply {
		return
	}
	if c.inflight[sender] == nil {
		c.inflight[sender] = map[uint32]bool{}
	}
	c.inflight[sender][serial] = true
}

// end records the answer to dest's call serial.
func (c *Calls) end(dest string, serial uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.inflight[dest][serial] {
		return
	}
	delete(c.inflight[dest], serial)
	if len(c.inflight[dest]) == 0 {
		delete(c.inflight, dest)
	}
	c.last = time.Now()
	c.drained.Broadcast()
}

// Idle returns how long no call has been in flight; 0 while one is, or while a client
// holds the connection (Hold).
func (c *Calls) Idle() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.inflight) > 0 || len(c.holders) > 0 {
		return 0
	}
	return time.Since(c.last)
}

// Drain waits until no call is in flight, or timeout passes; it reports whether all
// calls finished.
func (c *Calls) Drain(timeout time.Duration) bool {
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.drained.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.inflight) > 0 && time.Now().Before(deadline) {
		c.drained.Wait()
	}
	return len(c.inflight) == 0
}

// ErrAccessDenied is the D-Bus error a method returns to a caller polkit did not allow.
func ErrAccessDenied(action string) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.AccessDenied",
		[]any{fmt.Sprintf("not authorized for %s (run as root, or ask an administrator for this polkit action)", action)})
}

// Failed wraps err as the D-Bus error org.freedesktop.DBus.Error.Failed.
func Failed(err error) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{err.Error()})
}

// errNoPolkit says why a non-root caller was denied without a polkit answer.
var errNoPolkit = errors.New("polkit is not available on this bus; only root is authorized")

// Unexport removes an object Export put on conn: its interface, properties and
// introspection, for objects that come and go (a connection, a job removed on reload).
func Unexport(conn *dbus.Conn, obj *Object) error {
	for _, iface := range []string{obj.Interface, "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Introspectable"} {
		if err := conn.Export(nil, obj.Path, iface); err != nil {
			return fmt.Errorf("unexporting %s at %s: %w", iface, obj.Path, err)
		}
	}
	return nil
}
