package hardware

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// FuzzDecode feeds arbitrary entry points and tables to Decode, seeded with synthetic
// tables and the real dumps. Decode must not panic or hang, must return either an error
// or a usable report, and WriteText and WithoutSecrets must handle whatever it returns.
func FuzzDecode(f *testing.F) {
	b := sampleTable()
	f.Add(b.entry32(2, 8), b.bytes())
	f.Add(b.entry64(3, 3, 0), b.bytes())
	f.Add(b.entry32(2, 8), b.bytes()[:100])

	dumps, err := filepath.Glob(filepath.Join(repo.SMBIOSDumpsT(f), "*.bin"))
	if err != nil || len(dumps) == 0 {
		f.Fatalf("no real SMBIOS dumps in %s (set HOSTKIT_SMBIOS_DUMPS): %v", repo.SMBIOSDumpsT(f), err)
	}
	for _, dump := range dumps {
		data, err := os.ReadFile(dump)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:entryPointBytes], data[entryPointBytes:])
	}

	f.Fuzz(func(t *testing.T, ep, table []byte) {
		r, err := Decode(ep, table)
		if err != nil {
			if r != nil {
				t.Fatalf("Decode returned both a report and error %v", err)
			}
			return
		}
		if !r.Available || r.Processors == nil || r.Memory.Arrays == nil || r.Memory.MappedRanges == nil {
			t.Fatalf("Decode returned an unusable report: %+v", r)
		}
		if err := WriteText(io.Discard, r); err != nil {
			t.Fatalf("WriteText: %v", err)
		}
		if _, err := json.Marshal(r.WithoutSecrets()); err != nil {
			t.Fatalf("marshal: %v", err)
		}
		r.Summary()
	})
}
