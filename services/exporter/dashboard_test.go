package exporter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hostkit/hostkit/internal/repo"
)

// TestGrafanaDashboard lints packaging/grafana/hostkit.json: it is JSON, its panels have
// queries, and every hostkit_ series a query names is one this package exports.
func TestGrafanaDashboard(t *testing.T) {
	root := repo.RootT(t)
	data, err := os.ReadFile(filepath.Join(root, "packaging/grafana/hostkit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		UID    string
		Panels []struct {
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("packaging/grafana/hostkit.json is not JSON: %v", err)
	}
	known := map[string]bool{}
	sources, _ := filepath.Glob(filepath.Join(root, "services/exporter/*.go"))
	for _, f := range sources {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`NewDesc\("(hostkit_[a-z_]+)"`).FindAllSubmatch(b, -1) {
			known[string(m[1])] = true
		}
	}
	known["hostkit_exporter_build_info"] = true // cmd/hostkit-exporter's own
	series := regexp.MustCompile(`hostkit_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			for _, name := range series.FindAllString(q.Expr, -1) {
				if !known[name] {
					t.Errorf("panel %q queries %s, which hostkit-exporter does not export", p.Title, name)
				}
			}
		}
	}
	if dash.UID == "" || queries < 10 {
		t.Errorf("dashboard uid %q with %d queries: not the dashboard expected", dash.UID, queries)
	}
}
