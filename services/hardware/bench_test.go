package hardware

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// BenchmarkReadDump reads, decodes and encodes as JSON every shared dump: the work of
// `hostkit-hwd report --json` and of Describe() without process start or bus.
func BenchmarkReadDump(b *testing.B) {
	files, err := filepath.Glob(filepath.Join(repo.SMBIOSDumpsT(b), "*.bin"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no dumps in %s", repo.SMBIOSDumpsT(b))
	}
	for _, f := range files {
		b.Run(filepath.Base(f), func(b *testing.B) {
			for b.Loop() {
				r, err := ReadDump(f)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
