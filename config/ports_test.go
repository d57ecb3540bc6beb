package config

import "testing"

func TestPorts(t *testing.T) {
	var p PortSet
	if p.Has(5060) || !p.Empty() {
		t.Fatal("zero PortSet not empty")
	}
	for _, line := range []string{"5060", "5061,5062", "5070-5072", " 6000 , 6002-6003 "} {
		if err := p.Add(line); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := p.String(), "5060-5062,5070-5072,6000,6002-6003"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	for _, port := range []uint16{5060, 5062, 5071, 6003} {
		if !p.Has(port) {
			t.Errorf("missing %d", port)
		}
	}
	for _, port := range []uint16{0, 5059, 5063, 6001, 65535} {
		if p.Has(port) {
			t.Errorf("unexpected %d", port)
		}
	}
	for _, bad := range []string{"", "0", "65536", "5070-5060", "abc", "5060-", ",", "1-2-3"} {
		before := p.String()
		if err := p.Add(bad); err == nil {
			t.Errorf("Add(%q) accepted", bad)
		}
		if p.String() != before {
			t.Errorf("Add(%q) changed the set", bad)
		}
	}
	all, err := ParsePorts("1-65535")
	if err != nil {
		t.Fatal(err)
	}
	if all.String() != "1-65535" || !all.Has(65535) || !all.Has(1) {
		t.Fatalf("full range: %q", all.String())
	}
}
