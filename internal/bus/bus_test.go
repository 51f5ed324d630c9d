package bus

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

const testXML = `<node><interface name="org.hostkit.Test1">
 <method name="Describe"><arg name="json" type="s" direction="out"/></method>
 <method name="Reload"/>
 <property name="Count" type="u" access="read"/>
</interface></node>`

type good struct{}

func (good) Describe(dbus.Sender) (string, *dbus.Error) { return "", nil }
func (good) Reload(dbus.Sender) *dbus.Error             { return nil }

type wrongArgs struct{}

func (wrongArgs) Describe(int32) (string, *dbus.Error) { return "", nil }
func (wrongArgs) Reload() *dbus.Error                  { return nil }
func (wrongArgs) Extra() *dbus.Error                   { return nil }

func TestMatchIntrospection(t *testing.T) {
	var node introspect.Node
	if err := xml.Unmarshal([]byte(testXML), &node); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		methods any
		props   map[string]any
		want    []string // substrings of the error; none means no error
	}{
		{"matches", good{}, map[string]any{"Count": uint32(1)}, nil},
		{"wrong property type", good{}, map[string]any{"Count": "one"}, []string{"property Count is s, the XML says u"}},
		{"missing and extra property", good{}, map[string]any{"Other": true}, []string{"property Count has no value", "property Other is not in the XML"}},
		{"wrong methods", wrongArgs{}, map[string]any{"Count": uint32(1)}, []string{"method Describe has arguments", "method Extra is not in the XML"}},
	}
	for i, c := range cases {
		err := matchIntrospection(&node.Interfaces[0], &Object{Methods: c.methods, Properties: c.props})
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("case %d (%s): %v", i, c.name, err)
			}
			continue
		}
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("case %d (%s): error %v, want it to contain %q", i, c.name, err, w)
			}
		}
	}
}

func TestCallsTracksInFlight(t *testing.T) {
	c := NewCalls()
	c.begin(":1.5", 7, false)
	c.begin(":1.6", 7, false)
	c.begin(":1.6", 8, true) // never answered: must not count
	if c.Idle() != 0 {
		t.Fatal("idle while two calls are in flight")
	}
	c.end(":1.5", 7)
	if c.Idle() != 0 {
		t.Fatal("idle while :1.6's call is in flight")
	}
	if c.Drain(50 * time.Millisecond) {
		t.Fatal("Drain reported done with a call in flight")
	}
	go func() { time.Sleep(20 * time.Millisecond); c.end(":1.6", 7) }()
	if !c.Drain(5 * time.Second) {
		t.Fatal("Drain did not see the last reply")
	}
	time.Sleep(10 * time.Millisecond)
	if c.Idle() < 10*time.Millisecond {
		t.Errorf("Idle() = %v after 10 ms without calls", c.Idle())
	}
}

func TestCallsHold(t *testing.T) {
	c := NewCalls()
	c.Hold(":1.7")
	time.Sleep(10 * time.Millisecond)
	if c.Idle() != 0 {
		t.Fatal("idle while a client holds the connection")
	}
	if c.Release(":1.8") {
		t.Error("Release of a client that held nothing reported true")
	}
	if !c.Release(":1.7") {
		t.Error("Release of the holder reported false")
	}
	time.Sleep(10 * time.Millisecond)
	if c.Idle() < 10*time.Millisecond {
		t.Errorf("Idle() = %v 10 ms after the last holder left", c.Idle())
	}
}
