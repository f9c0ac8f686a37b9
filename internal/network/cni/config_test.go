package cni

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{
			name: "defaults",
			cfg:  Config{PodCIDR: netip.MustParsePrefix("10.244.3.0/24")},
			want: `{
  "cniVersion": "1.0.0",
  "name": "gantry",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "gantry0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "10.244.3.0/24",
              "gateway": "10.244.3.1"
            }
          ]
        ],
        "routes": [
          {
            "dst": "0.0.0.0/0"
          }
        ]
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      },
      "snat": true
    }
  ]
}
`,
		},
		{
			name: "bridge, MTU, IPAM dir and an unmasked prefix",
			cfg: Config{PodCIDR: netip.MustParsePrefix("100.64.250.77/24"), Bridge: "gtest0", MTU: 1450,
				IPAMDataDir: "/data/cni/ipam"},
			want: `{
  "cniVersion": "1.0.0",
  "name": "gantry",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "gtest0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "mtu": 1450,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "100.64.250.0/24",
              "gateway": "100.64.250.1"
            }
          ]
        ],
        "routes": [
          {
            "dst": "0.0.0.0/0"
          }
        ],
        "dataDir": "/data/cni/ipam"
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      },
      "snat": true
    }
  ]
}
`,
		},
		{
			name: "masquerade left to the service proxy",
			cfg:  Config{PodCIDR: netip.MustParsePrefix("100.64.3.0/24"), DisableIPMasq: true},
			want: `{
  "cniVersion": "1.0.0",
  "name": "gantry",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "gantry0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "100.64.3.0/24",
              "gateway": "100.64.3.1"
            }
          ]
        ],
        "routes": [
          {
            "dst": "0.0.0.0/0"
          }
        ]
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      },
      "snat": true
    }
  ]
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := map[string]Config{
		"no pod CIDR":      {},
		"IPv6 pod CIDR":    {PodCIDR: netip.MustParsePrefix("fd00::/64")},
		"/31 pod CIDR":     {PodCIDR: netip.MustParsePrefix("10.0.0.0/31")},
		"negative MTU":     {PodCIDR: netip.MustParsePrefix("10.0.0.0/24"), MTU: -1},
		"long bridge name": {PodCIDR: netip.MustParsePrefix("10.0.0.0/24"), Bridge: "a-very-long-bridge"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Marshal(cfg); err == nil {
				t.Errorf("Marshal(%+v) succeeded, want an error", cfg)
			}
		})
	}
}

func TestWriteConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d")
	first := Config{PodCIDR: netip.MustParsePrefix("10.244.1.0/24")}
	second := Config{PodCIDR: netip.MustParsePrefix("10.244.2.0/24")}
	for _, cfg := range []Config{first, first, second} {
		if err := WriteConfig(dir, cfg); err != nil {
			t.Fatal(err)
		}
		want, _ := Marshal(cfg)
		got, err := os.ReadFile(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s holds\n%s\nwant\n%s", FileName, got, want)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("%s holds %d files, want only %s", dir, len(entries), FileName)
		}
	}
	if err := WriteConfig(dir, Config{}); err == nil {
		t.Error("WriteConfig with no pod CIDR succeeded")
	}
}
