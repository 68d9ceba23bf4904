package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/vpngw/vpngw/internal/tstest/nstest"
)

// The portal in a real browser: chromedp drives Debian's
// chromium-headless-shell against `vpngw serve --provider lab`.
//
// Screenshots of every step are kept in memory and written to
// $VPNGW_ARTIFACTS (default: a vpngw-portal-* directory under the system
// temporary directory, named in the log) when the test fails. With
// $VPNGW_PORTAL_SHOTS set (make portal-shots) the test also writes the
// documentation's screenshots there: gateway overview, topology,
// connection.

// chromiumPaths are where Debian's chromium-headless-shell puts its binary;
// $VPNGW_CHROMIUM overrides them.
var chromiumPaths = []string{"/usr/bin/chromium-headless-shell", "/usr/lib/chromium/headless_shell", "/usr/bin/chromium"}

func chromiumPath(t *testing.T) string {
	t.Helper()
	cands := chromiumPaths
	if p := os.Getenv("VPNGW_CHROMIUM"); p != "" {
		cands = []string{p}
	}
	for _, p := range cands {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv(nstest.EnvRequirePriv) == "1" {
		t.Fatalf("no headless Chromium (%v); install chromium-headless-shell (scripts/install-deps.sh)", cands)
	}
	t.Skipf("no headless Chromium (%v)", cands)
	return ""
}

// browser is one headless Chromium tab on the portal at base.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots are the screenshots taken so far, in order, by step name.
	shots []shot
}

// shot is one screenshot of a step.
type shot struct {
	name string
	png  []byte
}

// The browser accepts exactly the server's certificate key: the test
// checks the certificate against the server's CA itself, then names its
// key's SPKI hash to chromium (which has no way to trust a CA file).
func newBrowser(t *testing.T, s *server) *browser {
	t.Helper()
	base := s.url
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("ignore-certificate-errors-spki-list", serverSPKI(t, s)))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, base: base}
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot("at-failure")
			b.saveShots()
		}
		cancel()      // closes the tab
		cancelAlloc() // stops the browser process and removes its profile
	})
	// The first action starts the browser and ties it to ctx (an action
	// on a derived context would end it with that context).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath(t), err)
	}
	b.do("viewport", 30*time.Second, chromedp.EmulateViewport(1280, 900))
	b.signIn(s)
	return b
}

// signIn signs in as the server's administrator through the portal's
// sign-in page, as a person would: a page load without a session is sent
// there, and the form brings the browser back.
func (b *browser) signIn(s *server) {
	b.t.Helper()
	cb, err := os.ReadFile(s.credentialFile())
	if err != nil {
		b.t.Fatal(err)
	}
	var c struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(cb, &c); err != nil {
		b.t.Fatal(err)
	}
	b.do("sign in", 30*time.Second,
		chromedp.Navigate(b.base+"/portal/topology"),
		chromedp.WaitVisible(chromedp.CSS("form#signin")),
		chromedp.SendKeys(chromedp.CSS("#signin-id"), c.ClientID),
		chromedp.SendKeys(chromedp.CSS("#signin-secret"), c.ClientSecret),
		chromedp.Click(chromedp.CSS("form#signin button")))
	b.wait("back on the page after sign-in", 30*time.Second, `location.pathname === "/portal/topology" && document.querySelector("main h1")`)
}

// serverSPKI is the base64 SHA-256 of the public key of the certificate s
// serves, after checking that it chains to s's CA.
func serverSPKI(t *testing.T, s *server) string {
	t.Helper()
	res, err := s.hc.Get(s.url + "/metadata/endpoints?api-version=2015-01-01")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sum := sha256.Sum256(res.TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// do runs chromedp steps bounded by timeout and fails the test on error.
func (b *browser) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// open navigates to a portal path and waits for the page.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, 30*time.Second, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// wait polls a JavaScript condition until it is true or timeout passes
// (errors while the page navigates count as false).
func (b *browser) wait(what string, timeout time.Duration, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := eval[bool](b, "(function(){try{return !!("+cond+")}catch(e){return false}})()")
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: %s: not within %v (%s; last error %v); status lines: %s", what, timeout, cond, err, b.statusLines())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reloadUntil reloads the page every two seconds until a JavaScript
// condition holds (for what the server renders, not the script).
func (b *browser) reloadUntil(what string, timeout time.Duration, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ok, err := eval[bool](b, "!!("+cond+")"); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: %s: not within %v (%s)", what, timeout, cond)
		}
		time.Sleep(2 * time.Second)
		b.do("reload", 30*time.Second, chromedp.Reload())
	}
}

// hasCell is a condition: a table cell of the page reads text (what the
// server rendered after a reload, not what a form holds).
func hasCell(text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll("td")).some(td => td.textContent.trim() == %q)`, text)
}

// statusLines are the page's operation status lines, for failure messages.
func (b *browser) statusLines() string {
	s, _ := eval[string](b, `Array.from(document.querySelectorAll('.op, .err:not([hidden])')).map(e => e.textContent).filter(Boolean).join(' | ')`)
	return s
}

// fill types text into the input with this id (replacing its value).
func (b *browser) fill(id, text string) {
	b.t.Helper()
	if _, err := eval[bool](b, fmt.Sprintf(`(document.getElementById(%q).value = "", true)`, id)); err != nil {
		b.t.Fatalf("browser: clear #%s: %v", id, err)
	}
	b.do("fill #"+id, 10*time.Second, chromedp.SendKeys(chromedp.ID(id), text))
}

// choose selects the option of a select whose label ends with label.
func (b *browser) choose(id, label string) {
	b.t.Helper()
	js := fmt.Sprintf(`(function(){const s=document.getElementById(%q);const o=Array.from(s.options).find(o=>o.textContent.trim().endsWith(%q));
		if(!o)return false;s.value=o.value;s.dispatchEvent(new Event('change',{bubbles:true}));return true})()`, id, label)
	if ok, err := eval[bool](b, js); err != nil || !ok {
		b.t.Fatalf("browser: choose %q in #%s: %v", label, id, err)
	}
}

// click clicks an element (a real mouse click).
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, 10*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// submit clicks a form's submit button.
func (b *browser) submit(form string) { b.click("#" + form + " button[type=submit]") }

// screenshot keeps a full-page screenshot of the current step.
func (b *browser) screenshot(name string) []byte {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return nil
	}
	b.shots = append(b.shots, shot{name: name, png: png})
	return png
}

// saveShots writes the screenshots to the artifacts directory.
func (b *browser) saveShots() {
	dir := os.Getenv("VPNGW_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "vpngw-portal-"+time.Now().UTC().Format("20060102-150405"))
	}
	dir = filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("artifacts: %v", err)
		return
	}
	for i, s := range b.shots {
		_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s.png", i, s.name)), s.png, 0o644)
	}
	b.t.Logf("portal screenshots of each step: %s", dir)
}

// docShot writes a screenshot for docs/portal.md when $VPNGW_PORTAL_SHOTS
// names a directory.
func (b *browser) docShot(file string) {
	b.t.Helper()
	dir := os.Getenv("VPNGW_PORTAL_SHOTS")
	png := b.screenshot(strings.TrimSuffix(file, ".png"))
	if dir == "" || png == nil {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
		b.t.Fatalf("portal shots: %v", err)
	}
}

// TestPortal walks the portal through a site-to-site deployment in the
// lab: every resource is created through the forms, a validation error
// lands on its field, the connection turns Connected with growing bytes,
// the gateway is reset, and everything is deleted.
func TestPortal(t *testing.T) {
	c := newCloud(t)
	b := newBrowser(t, c.server)
	const (
		rg  = "PortalRG"
		key = "portalKey42"
	)
	base := "/subscriptions/" + sub1 + "/resourceGroups/" + rg + "/providers/Microsoft.Network/"

	// Resource group.
	b.open("/")
	b.fill("group-name", rg)
	b.submit("form-group")
	b.wait("resource group page", 30*time.Second, `location.pathname == "/portal/rg/`+rg+`" && document.getElementById("form-vnet")`)
	b.screenshot("group-created")

	// Virtual network with a workload subnet and GatewaySubnet.
	b.fill("vnet-name", "VNet1")
	b.fill("vnet-space", "10.1.0.0/16")
	b.submit("form-vnet")
	b.wait("VNet listed", 60*time.Second, `document.getElementById("form-subnet-0")`)
	// A bad prefix is refused on its field.
	b.fill("subnet-0-name", "Workload")
	b.fill("subnet-0-prefix", "10.1.1.1/24")
	b.submit("form-subnet-0")
	b.wait("prefix error on the field", 30*time.Second,
		`document.getElementById("subnet-0-prefix").getAttribute("aria-invalid") == "true" && /10\.1\.1\.0\/24/.test(document.getElementById("subnet-0-prefix-err").textContent)`)
	b.screenshot("subnet-prefix-error")
	b.fill("subnet-0-prefix", "10.1.1.0/24")
	b.submit("form-subnet-0")
	b.wait("Workload subnet", 60*time.Second, hasCell("Workload"))
	b.fill("subnet-0-name", "GatewaySubnet")
	b.fill("subnet-0-prefix", "10.1.255.0/27")
	b.submit("form-subnet-0")
	b.wait("GatewaySubnet", 60*time.Second, hasCell("GatewaySubnet"))

	// Public IP.
	b.fill("pip-name", "VNet1-gwip")
	b.submit("form-pip")
	b.wait("public IP", 60*time.Second, hasCell("VNet1-gwip"))
	b.screenshot("network-created")

	// Gateway: first in the wrong subnet (the error lands on the subnet
	// select), then right.
	b.open("/portal/rg/" + rg + "/gateways/new")
	b.fill("gw-name", "VNet1-gw")
	b.choose("gw-sku", "VpnGw2")
	b.choose("gw-gen", "Generation2")
	b.choose("gw-subnet", "VNet1 / Workload")
	b.submit("form-gateway")
	b.wait("GatewaySubnetInvalid on the subnet field", 30*time.Second,
		`document.getElementById("gw-subnet").getAttribute("aria-invalid") == "true" && /GatewaySubnet/.test(document.getElementById("gw-subnet-err").textContent)`)
	b.screenshot("gateway-wrong-subnet")
	b.choose("gw-subnet", "VNet1 / GatewaySubnet")
	b.submit("form-gateway")
	b.wait("gateway overview", 3*time.Minute, `location.pathname == "/portal/rg/`+rg+`/gateways/VNet1-gw" && document.getElementById("reset-gateway")`)
	b.wait("gateway Succeeded", 60*time.Second, `document.querySelector("[data-poll-state]").textContent == "Succeeded"`)
	b.reloadUntil("instances listed", 60*time.Second, `document.querySelectorAll("#instances tbody tr td").length > 1`)

	// The site: strongSwan in the lab, its local network gateway and the
	// connection through the forms.
	var pip struct {
		Properties struct {
			IPAddress string `json:"ipAddress"`
		} `json:"properties"`
	}
	st, body, _, err := c.do(context.Background(), "GET", base+"publicIPAddresses/VNet1-gwip", "")
	if err != nil || st != 200 || json.Unmarshal(body, &pip) != nil {
		t.Fatalf("public IP: %d %v %s", st, err, body)
	}
	s := c.site("onprem", "192.0.2.10", "10.50.0.0/16")
	s.strongswan(t, pip.Properties.IPAddress, "10.1.0.0/16", key, nil)
	vm := c.vm(sub1, rg, "VNet1", "vm1")
	_ = vm

	b.open("/portal/rg/" + rg)
	b.fill("lng-name", "onprem")
	b.fill("lng-ip", "192.0.2.10")
	b.fill("lng-space", "10.50.0.0/16")
	b.submit("form-lng")
	b.wait("local network gateway", 60*time.Second, hasCell("onprem"))

	b.open("/portal/rg/" + rg + "/connections")
	b.fill("conn-name", "to-onprem")
	b.choose("conn-lng", "onprem")
	b.fill("conn-key", key)
	b.submit("form-connection")
	b.wait("connection page", 2*time.Minute, `location.pathname == "/portal/rg/`+rg+`/connections/to-onprem"`)
	b.wait("Connected", 90*time.Second, `document.querySelector("tr[data-id] .c-status").textContent.trim() == "Connected"`)
	html, err := eval[string](b, "document.documentElement.outerHTML")
	if err != nil || strings.Contains(html, key) {
		t.Fatalf("the connection page shows the shared key before the click (%v)", err)
	}

	// Traffic: the page's byte counters and sparkline grow.
	in0, err := eval[float64](b, `Number(document.querySelector("tr[data-id] .c-in").dataset.bytes)`)
	if err != nil {
		t.Fatal(err)
	}
	vmNS := c.vmNS(sub1, rg, "vm1")
	reachable(t, vmNS, s.host, 20*time.Second)
	if loss := pingLoss(t, vmNS, s.host, 20, "0.1"); loss > 10 {
		t.Fatalf("VM → site host: %d%% loss", loss)
	}
	b.wait("bytes grow", 20*time.Second, fmt.Sprintf(`Number(document.querySelector("tr[data-id] .c-in").dataset.bytes) > %v`, in0))
	b.wait("sparkline drawn", 20*time.Second, `document.querySelector("tr[data-id] svg.spark polyline").getAttribute("points").split(" ").length >= 2`)
	// One sparkline per tunnel (one here: the gateway is active-standby).
	b.wait("tunnel sparkline drawn", 20*time.Second, `document.querySelectorAll("table.tunnels tr[data-tunnel]").length == 1 && `+
		`document.querySelector("table.tunnels tr[data-tunnel] svg.spark polyline").getAttribute("points").split(" ").length >= 2 && `+
		`document.querySelector("table.tunnels tr[data-tunnel] .t-status").textContent.trim() == "Connected"`)

	// Download configuration: the selects come from supportedvpndevices;
	// the file is the strongSwan configuration with the gateway's address
	// and the key, and the key never enters the page.
	dl := t.TempDir()
	b.do("allow downloads", 10*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
		return err
	}))
	b.wait("device list", 10*time.Second, `document.getElementById("dev-vendor").options.length == 4 && document.getElementById("dev-family").value == "swanctl.conf"`)
	b.choose("dev-vendor", "strongSwan")
	b.submit("form-devcfg")
	b.wait("configuration downloaded", 20*time.Second, `/Downloaded to-onprem-strongSwan\.conf/.test(document.querySelector("#form-devcfg .op").textContent)`)
	var conf []byte
	nstest.WaitFor(t, 10*time.Second, func() bool {
		conf, err = os.ReadFile(filepath.Join(dl, "to-onprem-strongSwan.conf"))
		return err == nil && len(conf) > 0
	}, "downloaded file: %v", err)
	if !strings.Contains(string(conf), "remote_addrs = "+pip.Properties.IPAddress) || !strings.Contains(string(conf), `secret = "`+key+`"`) {
		t.Fatalf("downloaded configuration:\n%s", conf)
	}
	if html, _ := eval[string](b, "document.documentElement.outerHTML"); strings.Contains(html, key) {
		t.Fatal("the page shows the shared key after the download")
	}

	// The activity log is the server's: an operation started from the CLI
	// shows with its caller, and a refused one with its ARM error.
	c.cli("network", "vpn-connection", "update", "-g", rg, "-n", "to-onprem", "--dpd-timeout", "40", "-o", "none")
	b.wait("CLI operation in the activity log", 10*time.Second,
		`/Create or update connection to-onprem: Succeeded by vpngw-cli/.test(document.getElementById("activity-list").textContent)`)
	if _, err := c.cliErr("network", "local-gateway", "create", "-g", rg, "-n", "badsite", "--gateway-ip-address", "192.0.2.99",
		"--local-address-prefixes", "10.60.0.1/16"); err == nil {
		t.Fatal("a local network gateway with a bad prefix was created")
	}
	b.wait("refused CLI write in the activity log", 10*time.Second,
		`/Create or update local network gateway badsite: Failed — InvalidCIDRNotation: .*\(target properties\.localNetworkAddressSpace\.addressPrefixes\[0\]\) by vpngw-cli/.test(document.getElementById("activity-list").textContent)`)

	// The shared key, on an explicit click only.
	b.click("#reveal-key")
	b.wait("shared key revealed", 10*time.Second, `document.getElementById("shared-key").textContent == "`+key+`"`)
	b.click("#reveal-key")
	b.wait("shared key hidden", 10*time.Second, `document.getElementById("shared-key").hidden`)
	b.docShot("connection.png")
	// The same page on a phone: one column, nothing wider than the screen
	// (tables scroll inside their boxes).
	b.do("phone viewport", 10*time.Second, chromedp.EmulateViewport(390, 844))
	b.wait("phone layout", 10*time.Second, `document.documentElement.scrollWidth <= window.innerWidth + 1`)
	b.docShot("connection-phone.png")
	b.do("laptop viewport", 10*time.Second, chromedp.EmulateViewport(1280, 900))

	b.open("/portal/topology")
	b.wait("topology: connected link", 20*time.Second, `document.querySelector("svg.topology path.link.st-ok")`)
	b.wait("topology: active instance", 20*time.Second, `document.querySelector("svg.topology .inst.role-active")`)
	b.docShot("topology.png")

	// Reset the gateway (a confirming second click) and watch it finish.
	b.open("/portal/rg/" + rg + "/gateways/VNet1-gw")
	b.wait("gateway page connections", 20*time.Second, `document.getElementById("tunnels-used").textContent.trim() == "1 of 30"`)
	b.docShot("gateway.png")
	b.click("#reset-gateway")
	b.wait("reset armed", 5*time.Second, `document.getElementById("reset-gateway").classList.contains("armed")`)
	b.click("#reset-gateway")
	b.wait("reset Succeeded", 3*time.Minute, `/Reset gateway VNet1-gw: Succeeded/.test(document.getElementById("reset-gateway").parentElement.querySelector(".op").textContent)`)
	b.screenshot("gateway-reset")
	b.wait("activity log", 5*time.Second, `/Reset virtual network gateway VNet1-gw: Succeeded by vpngw-portal/.test(document.getElementById("activity-list").textContent)`)
	c.waitConnected(sub1, rg, "to-onprem", 60*time.Second)

	// Delete everything: the VM is the lab's (not an ARM resource), then
	// the resource group from its page.
	c.cli("lab", "vm", "delete", "-g", rg, "-n", "vm1", "--subscription", sub1)
	b.open("/portal/rg/" + rg)
	b.click("#rgdel-h ~ .action button")
	b.click("#rgdel-h ~ .action button")
	b.wait("group deleted", 5*time.Minute, `location.pathname == "/" && !document.querySelector('main a[href="/portal/rg/`+rg+`"]')`)
	b.screenshot("deleted")
	if st, _, _, _ := c.do(context.Background(), "GET", "/subscriptions/"+sub1+"/resourcegroups/"+rg, ""); st != 404 {
		t.Fatalf("resource group after delete: %d", st)
	}
	// The key was shown once, on the click; the server never logged it.
	if strings.Contains(c.logText(), key) {
		t.Fatal("the serve log contains the shared key")
	}
}
