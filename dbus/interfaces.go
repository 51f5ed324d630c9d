// Package dbus holds hostkit's D-Bus files: bus policies (*.conf), activation files
// (*.service), polkit actions (*.policy) and the introspection XML of every interface
// (*.xml). The XML is embedded here so that each service exports its interface exactly as
// written and documented.
package dbus

import (
	"embed"
	"fmt"
)

//go:embed *.xml
var interfaces embed.FS

// Introspection returns the introspection XML of the named interface, as shipped in
// dbus/NAME.xml; an unknown name is an error.
func Introspection(name string) ([]byte, error) {
	data, err := interfaces.ReadFile(name + ".xml")
	if err != nil {
		return nil, fmt.Errorf("no introspection XML for interface %s: %w", name, err)
	}
	return data, nil
}
