// Package radiustest runs a real FreeRADIUS server (Debian's freeradius
// 3.2) on loopback for tests: a copy of the packaged configuration in a
// temporary directory, with the test's users, EAP-MSCHAPv2 as the default
// EAP type (EAP-TLS with the test's certificates when Options.TLS is set)
// and only the sites and modules that need nothing else. The server is
// stopped by its PID when the test ends.
package radiustest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/tstest"
	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// Binary and packaged configuration directory.
const (
	Binary    = "/usr/sbin/freeradius"
	ConfigDir = "/etc/freeradius/3.0"
)

// Require skips the test when FreeRADIUS is not installed, or fails it
// under VPNGW_REQUIRE_PRIV=1 (make test and CI install it).
func Require(t testing.TB) {
	t.Helper()
	_, err1 := os.Stat(Binary)
	_, err2 := os.Stat(filepath.Join(ConfigDir, "radiusd.conf"))
	if err1 != nil || err2 != nil {
		if os.Getenv(nstest.EnvRequirePriv) == "1" {
			t.Fatal("FreeRADIUS (Debian package freeradius) is not installed")
		}
		t.Skip("FreeRADIUS is not installed")
	}
}

// Server is a running FreeRADIUS.
type Server struct {
	// Addr is where it answers Access-Requests.
	Addr netip.AddrPort
	// Secret is the shared secret of loopback clients.
	Secret string
	dir    string
	log    string
	proc   *tstest.Proc
}

// minimalEAP replaces the packaged eap module: MD5 and MSCHAPv2 only (the
// TLS-based types need certificates the package does not ship).
const minimalEAP = `eap {
	default_eap_type = mschapv2
	timer_expire = 60
	ignore_unknown_eap_types = no
	cisco_accounting_username_bug = no
	max_sessions = ${max_requests}
	md5 {
	}
	mschapv2 {
		send_error = no
	}
}
`

// tlsEAP is the eap module with EAP-TLS (the default type) and
// EAP-MSCHAPv2: the server's certificate and key, and the roots client
// certificates must chain to (files written by StartWith), and the
// highest TLS version (TLS.MaxVersion: by default 1.2, as the packaged
// configuration and strongSwan's eap-tls).
const tlsEAP = `eap {
	default_eap_type = tls
	timer_expire = 60
	ignore_unknown_eap_types = no
	cisco_accounting_username_bug = no
	max_sessions = ${max_requests}
	tls-config tls-common {
		private_key_file = %s
		certificate_file = %s
		ca_file = %s
		cipher_list = "DEFAULT"
		tls_min_version = "1.2"
		tls_max_version = "%s"
		ecdh_curve = "prime256v1"
		fragment_size = 1024
		include_length = yes
		cache {
			enable = no
		}
		ocsp {
			enable = no
		}
	}
	tls {
		tls = tls-common
	}
	mschapv2 {
		send_error = no
	}
}
`

// NewTLS makes what EAP-TLS needs for a test: a CA ("RADIUS CA", whose
// certificate the client must trust) and the server's certificate for
// name from it, with clientRoot as the root client certificates must
// chain to.
func NewTLS(t testing.TB, name string, clientRoot *x509.Certificate) (*TLS, *pki.CA) {
	t.Helper()
	ca, err := pki.NewCA("RADIUS CA", pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer(name, pki.ECDSAP256, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(srv.Key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return &TLS{CertPEM: certPEM(srv.Cert), KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), ClientCAPEM: certPEM(clientRoot)}, ca
}

// TLS is what EAP-TLS needs: PEM files' contents.
type TLS struct {
	// CertPEM and KeyPEM are the server's certificate (chain) and key.
	CertPEM, KeyPEM []byte
	// ClientCAPEM are the roots that client certificates must chain to.
	ClientCAPEM []byte
	// MaxVersion is the eap module's tls_max_version ("1.2" when empty,
	// or "1.3").
	MaxVersion string
}

// site is the one virtual server: authentication on a loopback port,
// users from the files module, EAP.
const site = `server default {
listen {
	type = auth
	ipaddr = %s
	port = %d
}
authorize {
	files
	eap {
		ok = return
	}
}
authenticate {
	Auth-Type MS-CHAP {
		mschap
	}
	eap
}
post-auth {
}
}
`

// Start runs FreeRADIUS with users (name → cleartext password), on a free
// loopback UDP port, secret "testing123".
func Start(t testing.TB, users map[string]string) *Server {
	t.Helper()
	return StartWith(t, Options{Users: users})
}

// Options say where a server runs.
type Options struct {
	// Users maps names to cleartext passwords.
	Users map[string]string
	// NS, when set, is the namespace it runs in (else the test's).
	NS *nstest.NS
	// Addr is the address it listens on, port 1812 (default: loopback,
	// a free port).
	Addr netip.Addr
	// Clients are the networks allowed to ask, with the secret
	// "testing123" (loopback always is).
	Clients []netip.Prefix
	// TLS, when set, makes EAP-TLS the default EAP type with these
	// certificates.
	TLS *TLS
}

// StartWith runs FreeRADIUS as o says.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	users := o.Users
	dir := t.TempDir()
	conf := filepath.Join(dir, "raddb")
	if out, err := exec.Command("cp", "-a", ConfigDir, conf).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v %s", ConfigDir, err, out)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Remove(filepath.Join(conf, "mods-enabled", "eap")))
	eapConf := minimalEAP
	if o.TLS != nil {
		files := [3]string{filepath.Join(dir, "server.key"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "client-ca.pem")}
		for i, b := range [][]byte{o.TLS.KeyPEM, o.TLS.CertPEM, o.TLS.ClientCAPEM} {
			must(os.WriteFile(files[i], b, 0o600))
		}
		maxVersion := o.TLS.MaxVersion
		if maxVersion == "" {
			maxVersion = "1.2"
		}
		eapConf = fmt.Sprintf(tlsEAP, files[0], files[1], files[2], maxVersion)
	}
	must(os.WriteFile(filepath.Join(conf, "mods-enabled", "eap"), []byte(eapConf), 0o600))
	_ = os.Remove(filepath.Join(conf, "sites-enabled", "inner-tunnel"))
	addr, port := netip.MustParseAddr("127.0.0.1"), uint16(1812)
	if o.Addr.IsValid() {
		addr = o.Addr
	} else {
		port = freeUDPPort(t)
	}
	must(os.Remove(filepath.Join(conf, "sites-enabled", "default")))
	must(os.WriteFile(filepath.Join(conf, "sites-enabled", "default"), []byte(fmt.Sprintf(site, addr, port)), 0o600))
	if len(o.Clients) > 0 {
		f, err := os.OpenFile(filepath.Join(conf, "clients.conf"), os.O_APPEND|os.O_WRONLY, 0)
		must(err)
		for i, p := range o.Clients {
			fmt.Fprintf(f, "\nclient test%d {\n\tipaddr = %s\n\tsecret = testing123\n}\n", i, p)
		}
		must(f.Close())
	}
	// Stay root: the test's temporary directory is not readable by the
	// packaged freerad user.
	rc := filepath.Join(conf, "radiusd.conf")
	b, err := os.ReadFile(rc)
	must(err)
	var kept []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "user" || f[0] == "group") && f[1] == "=" {
			continue
		}
		kept = append(kept, line)
	}
	must(os.WriteFile(rc, []byte(strings.Join(kept, "\n")), 0o600))
	var u strings.Builder
	for name, pw := range users {
		fmt.Fprintf(&u, "%q Cleartext-Password := %q\n", name, pw)
	}
	must(os.WriteFile(filepath.Join(conf, "mods-config", "files", "authorize"), []byte(u.String()), 0o600))
	s := &Server{Addr: netip.AddrPortFrom(addr, port), Secret: "testing123", dir: dir,
		log: filepath.Join(dir, "radiusd.log")}
	logf, err := os.Create(s.log)
	must(err)
	t.Cleanup(func() { logf.Close() })
	if o.NS != nil {
		cmd := o.NS.Command(context.Background(), Binary, "-X", "-d", conf)
		cmd.Stdout, cmd.Stderr = logf, logf
		if s.proc, err = o.NS.StartProc(cmd, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.proc.Stop(syscall.SIGTERM, 2*time.Second) })
	} else {
		cmd := exec.Command(Binary, "-X", "-d", conf)
		cmd.Stdout, cmd.Stderr = logf, logf
		s.proc = tstest.StartT(t, cmd, 2*time.Second)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("freeradius log (last 6 kB):\n%s", b[max(0, len(b)-6<<10):])
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(s.log)
		if strings.Contains(string(b), "Ready to process requests") {
			return s
		}
		if !s.proc.Running() || time.Now().After(deadline) {
			t.Fatalf("freeradius did not start (%v):\n%s", s.proc.Err(), b[max(0, len(b)-6<<10):])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// freeUDPPort returns a loopback UDP port that was free a moment ago (and
// the one after it: a test may use it as a port where nothing listens).
func freeUDPPort(t testing.TB) uint16 {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		c.Close()
		if port == 65535 {
			continue
		}
		if c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port) + 1}); err == nil {
			c2.Close()
			return port
		}
	}
	t.Fatal("no free UDP port pair on loopback")
	return 0
}
