package config

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/CONFIG.md from the key table")

// TestConfigDoc fails when docs/CONFIG.md differs from the key table.
func TestConfigDoc(t *testing.T) {
	const path = "../docs/CONFIG.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run make docs)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make docs`", path)
	}
}
