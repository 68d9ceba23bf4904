package gwconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// readsSpecialFile reports whether b names a sharedKeyFile, certificate or
// key file that exists and is not a regular file (/dev/zero, a FIFO, ...):
// reading it could block or never end, which is the operator's business,
// not the parser's; or a pkiDir that Check would write to.
func readsSpecialFile(b []byte) bool {
	var c Config
	if yaml.NewDecoder(bytes.NewReader(b)).Decode(&c) != nil {
		return false
	}
	files := []string{}
	for _, cn := range c.Connections {
		files = append(files, cn.SharedKeyFile)
	}
	if ps := c.PointToSite; ps != nil {
		files = append(files, ps.CertificateFile, ps.KeyFile)
		if ps.PKIDir != "" {
			// A pkiDir without a certificate would be written to.
			if _, err := os.Stat(filepath.Join(ps.PKIDir, PKICertFile)); err != nil {
				return true
			}
			files = append(files, filepath.Join(ps.PKIDir, PKICertFile), filepath.Join(ps.PKIDir, PKIKeyFile))
		}
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil && !fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// FuzzParse feeds arbitrary YAML and JSON to Parse. It must not panic; it
// returns either an error wrapping ErrInvalid or a configuration that
// Check accepts again unchanged and that survives the JSON encoding the
// control plane sends and the YAML encoding an operator writes. (That the
// IKE engine accepts every checked connection is agent's FuzzPeers.)
func FuzzParse(f *testing.F) {
	f.Add([]byte(baseConfig))
	f.Add([]byte(`{"name":"gw","localAddress":"2001:db8::1","localPrefixes":["10.1.0.0/16"],"tunnel":{"mtu":1400,"addresses":["10.1.255.254/32"]},` +
		`"connections":[{"name":"c1","remoteFqdn":"vpn.example.test","remotePrefixes":["10.2.0.0/16","fd00::/8"],"sharedKey":"abc123",` +
		`"connectionMode":"initiatoronly","usePolicyBasedTrafficSelectors":true,"ikeProposals":"aes256gcm16-prfsha256-ecp256","espProposals":"aes256gcm16"}]}`))
	f.Add([]byte(baseConfig + `    ipsecPolicy:
      saLifeTimeSeconds: 27000
      saDataSizeKilobytes: 102400000
      ipsecEncryption: GCMAES256
      ipsecIntegrity: GCMAES256
      ikeEncryption: AES256
      ikeIntegrity: SHA256
      dhGroup: DHGroup14
      pfsGroup: None
    udpEncapsulation: always
    remotePort: 4500
    dpdTimeoutSeconds: 9
    localId: gw.example.test
    remoteId: 192.0.2.2
rawEsp: false
`))
	f.Add([]byte(bgpConfig))
	f.Add([]byte(`{"localAddress":"192.0.2.1","localPrefixes":["10.1.0.0/16"],"bgpSettings":{"asn":4200000000,"bgpPeeringAddress":"169.254.21.2","fastTimers":true},` +
		`"connections":[{"name":"c1","remoteAddress":"192.0.2.2","remotePrefixes":["10.2.0.0/16"],"sharedKey":"k","enableBgp":true,` +
		`"bgpPeer":{"asn":65010,"bgpPeeringAddress":"169.254.21.1"}}]}`))
	f.Add([]byte(p2sConfig("")))
	f.Add([]byte(`{"localAddress":"192.0.2.1","localPrefixes":["10.1.0.0/16"],"pointToSite":{"name":"vpn","addressPool":["192.168.50.0/29","10.9.0.0/16"],` +
		`"fqdn":"GW.vpngw.test.","pkiDir":"testdata/p2s","users":[{"name":"CORP\\alice","ntHash":"8846F7EAEE8FB117AD06BDD830B7586C"}]}}`))
	f.Add([]byte(`{"localAddress":"192.0.2.1","localPrefixes":["10.1.0.0/16"],"pointToSite":{"addressPool":["172.16.201.0/24"],"fqdn":"gw.vpngw.test",` +
		`"certificatePem":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","keyPem":"x","clientRootCertificates":["aGVsbG8="],` +
		`"revokedThumbprints":["0123456789abcdef0123456789abcdef01234567"],"radiusServers":[{"address":"10.1.0.10:1812","secret":"s","score":3}]}}`))
	if b, err := os.ReadFile("../../docs/examples/agent.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if readsSpecialFile(b) {
			t.Skip("names a special file as sharedKeyFile")
		}
		c, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if c != nil {
				t.Fatal("configuration returned with an error")
			}
			return
		}
		again, err := c.Config.Check()
		if err != nil {
			t.Fatalf("Check rejects what Parse accepted: %v", err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("Check is not idempotent:\n%+v\n%+v", c, again)
		}
		j, err := json.Marshal(c.Config)
		if err != nil {
			t.Fatalf("JSON encoding: %v", err)
		}
		y, err := yaml.Marshal(c.Config)
		if err != nil {
			t.Fatalf("YAML encoding: %v", err)
		}
		for _, enc := range [][]byte{j, y} {
			c2, err := Parse(enc)
			if err != nil {
				t.Fatalf("Parse rejects its own output %s: %v", enc, err)
			}
			// YAML, which writes nil and empty lists alike, compares.
			y2, _ := yaml.Marshal(c2.Config)
			if !bytes.Equal(y, y2) {
				t.Fatalf("round trip through %s changed the configuration:\n%s\n%s", enc, y, y2)
			}
		}
	})
}
