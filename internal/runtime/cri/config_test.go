package cri

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestRenderConfig(t *testing.T) {
	cfg := ContainerdConfig{
		Dir:        "/var/lib/gantry/containerd",
		CNIConfDir: "/var/lib/gantry/cni/net.d",
		Mirrors: map[string][]string{
			"localhost:5000": {"http://10.0.0.1:5000"},
			"*":              {"http://10.0.0.1:5000", "https://mirror.example"},
		},
	}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	got, err := cfg.render()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "config.toml.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("config.toml:\n%s\nwant (%s):\n%s", got, golden, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := ContainerdConfig{Dir: "data/containerd", CNIConfDir: "/etc/cni/net.d"}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(cfg.Dir) || cfg.SandboxImage != DefaultSandboxImage || cfg.CNIBinDir != "/usr/lib/cni" || cfg.Bin != "containerd" || cfg.Logger == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	for name, cfg := range map[string]ContainerdConfig{
		"no Dir":        {CNIConfDir: "/etc/cni/net.d"},
		"no CNIConfDir": {Dir: "/data/containerd"},
	} {
		if err := cfg.setDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/gantry":  `"/var/lib/gantry"`,
		`a "quoted" \path`: `"a \"quoted\" \\path"`,
		"tab\there":        `"tab\u0009here"`,
		"ünïcode":          `"ünïcode"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}
