package reconcile

// Point-to-site in the control plane:
//
//   - a gateway whose vpnClientConfiguration lists IkeV2 gets, once, a
//     server identity (P2SIdentity): its own CA and a certificate for its
//     FQDN, generated here (ensureIdentities), kept in the store under
//     registry.SecretKeyPrefix (sealed whole at rest, like shared keys) and
//     read back on start;
//   - Compute maps the configuration to the active instance's pointToSite
//     section (pointToSiteFor): the pool, the identity's certificate and
//     key, the roots and revoked thumbprints (Certificate), the RADIUS
//     servers (Radius), the local users' NT hashes (vpnClientLocalUsers);
//     the VNet routes the pool to that instance. An
//     active-active gateway with a third public IP runs it on both
//     instances, each with half of the pool routed to it; the third IP
//     is delivered to both, clients spread by their address
//     (GatewaySpec.P2SFrontends), and to the other alone while one is
//     silent (updateP2SFrontends);
//   - SSTP, OpenVPN and AAD are refused (Problem, Unsupported): the
//     gateway keeps running, its operation fails with the reason;
//   - the instances report their clients (agentapi.PointToSiteStatus):
//     VpnClientHealth turns them into Azure's connection health, and
//     DisconnectVpnClients hands the agents the session IDs to end
//     (GatewayState.Disconnects → Assignment.DisconnectClients).

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/agentapi"
	"github.com/vpngw/vpngw/internal/api"
	"github.com/vpngw/vpngw/internal/gwconfig"
	"github.com/vpngw/vpngw/internal/netx"
	"github.com/vpngw/vpngw/internal/p2s/mschapv2"
	"github.com/vpngw/vpngw/internal/p2s/pki"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// P2SIdentity is a gateway's point-to-site server identity: its FQDN, the
// CA clients trust (Azure's VpnServerRoot.cer) and the gateway's
// certificate and key, all PEM. Key is a secret.
type P2SIdentity struct {
	FQDN string `json:"fqdn"`
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// maxDisconnects is how many disconnected session IDs a gateway's state
// keeps (and its assignments carry): an ID never comes back, so only the
// recent ones matter.
const maxDisconnects = 64

// p2sIdentityKey is where a gateway's identity is stored (sealed).
func p2sIdentityKey(gk string) string { return registry.SecretKeyPrefix + "p2s/" + gk }

// P2SFQDN is the point-to-site identity of the gateway with key gk, in
// the shape of Azure's azuregateway-GUID.vpn.azure.com; clients connect
// to the gateway's public address and check that its certificate names
// this.
func P2SFQDN(gk string) string { return "azuregateway-" + gk + ".vpn.vpngw.internal" }

// newP2SIdentity generates a gateway's CA and server certificate.
func newP2SIdentity(gk string) (P2SIdentity, error) {
	fqdn := P2SFQDN(gk)
	ca, err := pki.NewCA("vpngw VpnServerRoot "+gk, pki.ECDSAP256)
	if err != nil {
		return P2SIdentity{}, err
	}
	srv, err := ca.IssueServer(fqdn, pki.ECDSAP256, 10*365*24*time.Hour)
	if err != nil {
		return P2SIdentity{}, err
	}
	key, err := x509.MarshalPKCS8PrivateKey(srv.Key)
	if err != nil {
		return P2SIdentity{}, err
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	return P2SIdentity{
		FQDN: fqdn,
		CA:   caPEM,
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Cert.Raw})) + caPEM,
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})),
	}, nil
}

// wantsIKEv2P2S reports whether a gateway has point-to-site with IkeV2.
func wantsIKEv2P2S(g *resource.VirtualNetworkGateway) bool {
	c := g.Properties.VpnClientConfiguration
	return c != nil && slices.Contains(c.VpnClientProtocols, resource.VpnClientIkeV2)
}

// ensureIdentities makes sure every gateway of snap that needs one has a
// point-to-site identity in the store and in snap.Identities (created
// once: with several control planes on one store the first write wins).
func (r *Reconciler) ensureIdentities(ctx context.Context, snap *Snapshot) error {
	snap.Identities = map[string]P2SIdentity{}
	for _, g := range snap.Gateways {
		id, ok := idOf(g.ID)
		if !ok || !wantsIKEv2P2S(g) {
			continue
		}
		gk := GatewayKey(id)
		r.mu.Lock()
		ident, ok := r.idents[gk]
		r.mu.Unlock()
		if !ok {
			var err error
			if ident, err = r.loadOrCreateIdentity(ctx, gk); err != nil {
				return fmt.Errorf("point-to-site identity of %s: %w", id, err)
			}
			r.mu.Lock()
			r.idents[gk] = ident
			r.mu.Unlock()
		}
		snap.Identities[gk] = ident
	}
	return nil
}

func (r *Reconciler) loadOrCreateIdentity(ctx context.Context, gk string) (P2SIdentity, error) {
	var ident P2SIdentity
	kv, err := r.cfg.Store.Get(ctx, p2sIdentityKey(gk))
	if err == nil {
		return ident, json.Unmarshal(kv.Value, &ident)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return ident, err
	}
	if ident, err = newP2SIdentity(gk); err != nil {
		return ident, err
	}
	b, _ := json.Marshal(ident)
	if _, err = r.cfg.Store.CompareAndSwap(ctx, p2sIdentityKey(gk), b, 0); errors.Is(err, store.ErrConflict) {
		return r.loadOrCreateIdentity(ctx, gk)
	}
	if err == nil {
		r.log.Info("created the point-to-site identity of a gateway", "gateway", gk, "fqdn", ident.FQDN)
	}
	return ident, err
}

// forgetIdentity deletes a deleted gateway's identity.
func (r *Reconciler) forgetIdentity(ctx context.Context, gk string) {
	r.mu.Lock()
	delete(r.idents, gk)
	r.mu.Unlock()
	if _, err := r.cfg.Store.Delete(ctx, p2sIdentityKey(gk), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.log.Warn("cannot delete a gateway's point-to-site identity", "gateway", gk, "err", err)
	}
}

// pointToSiteFor maps a gateway's vpnClientConfiguration to the agents'
// pointToSite section and the pool the VNet routes to the gateway. A nil
// section without a problem means no point-to-site.
func pointToSiteFor(g *resource.VirtualNetworkGateway, ident P2SIdentity, haveIdent bool) (*gwconfig.PointToSite, []netip.Prefix, Problem) {
	c := g.Properties.VpnClientConfiguration
	if c == nil {
		return nil, nil, Problem{}
	}
	for _, p := range c.VpnClientProtocols {
		if p != resource.VpnClientIkeV2 {
			return nil, nil, Problem{Msg: fmt.Sprintf("vpnClientConfiguration.vpnClientProtocols: %s is not served by vpngw yet; only IkeV2 is (set vpnClientProtocols to [IkeV2])", p), Unsupported: true}
		}
	}
	if slices.Contains(c.VpnAuthenticationTypes, resource.AuthAAD) {
		return nil, nil, Problem{Msg: "vpnClientConfiguration.vpnAuthenticationTypes: AAD is not served by vpngw (it needs OpenVPN)", Unsupported: true}
	}
	if !wantsIKEv2P2S(g) || c.VpnClientAddressPool == nil {
		return nil, nil, Problem{}
	}
	if !haveIdent {
		return nil, nil, Problem{Msg: "the gateway's point-to-site identity is not created yet"}
	}
	ps := &gwconfig.PointToSite{
		AddressPool:    slices.Clone(c.VpnClientAddressPool.AddressPrefixes),
		FQDN:           ident.FQDN,
		CertificatePEM: ident.Cert,
		KeyPEM:         ident.Key,
	}
	if len(c.VpnClientIpsecPolicies) > 0 {
		// Azure allows one custom policy; it replaces the default offer.
		pol := c.VpnClientIpsecPolicies[0]
		ps.IpsecPolicy = &pol
	}
	auth := c.VpnAuthenticationTypes
	// Without vpnAuthenticationTypes (the 2018 API) the fields present say.
	certs := slices.Contains(auth, resource.AuthCertificate) || len(auth) == 0 && len(c.VpnClientRootCertificates) > 0
	radius := slices.Contains(auth, resource.AuthRadius) || len(auth) == 0 && (c.RadiusServerAddress != "" || len(c.RadiusServers) > 0)
	if certs {
		for _, rc := range c.VpnClientRootCertificates {
			ps.ClientRootCertificates = append(ps.ClientRootCertificates, strings.Join(strings.Fields(rc.Properties.PublicCertData), ""))
		}
		for _, rv := range c.VpnClientRevokedCertificates {
			ps.RevokedThumbprints = append(ps.RevokedThumbprints, rv.Properties.Thumbprint)
		}
	}
	if radius {
		if c.RadiusServerAddress != "" {
			ps.RadiusServers = append(ps.RadiusServers, gwconfig.P2SRadiusServer{Address: c.RadiusServerAddress, Secret: c.RadiusServerSecret})
		}
		for _, s := range c.RadiusServers {
			ps.RadiusServers = append(ps.RadiusServers, gwconfig.P2SRadiusServer{Address: s.RadiusServerAddress, Secret: s.RadiusServerSecret, Score: s.RadiusServerScore})
		}
	}
	// Local users (a vpngw extension) go to the agents as NT hashes, all
	// EAP-MSCHAPv2 needs: the passwords stay in the store, sealed.
	for _, u := range c.VpnClientLocalUsers {
		h := mschapv2.NTPasswordHash(u.Properties.Password)
		ps.Users = append(ps.Users, gwconfig.P2SUser{Name: u.Name, NTHash: hex.EncodeToString(h[:])})
	}
	if len(ps.ClientRootCertificates) == 0 && len(ps.RadiusServers) == 0 && len(ps.Users) == 0 {
		// No client could authenticate yet (a pool set before its root
		// certificates, as az's steps go): nothing to run.
		return nil, nil, Problem{}
	}
	return ps, netx.ParsePrefixes(ps.AddressPool), Problem{}
}

// p2sDNS is what point-to-site clients are told to use for DNS: the
// VNet's custom DNS servers (dhcpOptions.dnsServers), IPv4 ones (the
// CFG_REPLY's INTERNAL_IP4_DNS); none for Azure-provided DNS.
func p2sDNS(vnet *resource.VirtualNetwork) []string {
	if vnet == nil || vnet.Properties.DhcpOptions == nil {
		return nil
	}
	var out []string
	for _, s := range vnet.Properties.DhcpOptions.DNSServers {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			out = append(out, a.String())
		}
	}
	return out
}

// p2sInstance is the first active instance of spec that runs
// point-to-site (both do on an active-active gateway with its third
// public IP, GatewaySpec.P2SAddress).
func p2sInstance(spec *GatewaySpec) *InstanceSpec {
	for _, in := range spec.Instances {
		if in.Active && in.Assignment.Config.PointToSite != nil {
			return in
		}
	}
	return nil
}

// gatewaySpec is the desired state of a gateway, nil if it is not realized.
func (r *Reconciler) gatewaySpec(gw *resource.VirtualNetworkGateway) (*GatewaySpec, resource.ID, error) {
	_, id, err := keyOf(gw)
	if err != nil {
		return nil, id, err
	}
	gk := GatewayKey(id)
	for _, g := range r.desired.Load().Gateways {
		if g.Key == gk {
			return g, id, nil
		}
	}
	return nil, id, nil
}

// VpnServer reports what a client profile needs of a gateway: its
// identity, addresses, root and routes. It fails when the gateway runs
// no IKEv2 point-to-site.
func (r *Reconciler) VpnServer(_ context.Context, gw *resource.VirtualNetworkGateway) (resource.VpnServer, error) {
	spec, id, err := r.gatewaySpec(gw)
	if err != nil {
		return resource.VpnServer{}, err
	}
	var in *InstanceSpec
	if spec != nil {
		in = p2sInstance(spec)
	}
	if in == nil {
		return resource.VpnServer{}, resource.Errorf(CodeNotRealizable, "", "gateway %s runs no IKEv2 point-to-site (vpnClientConfiguration with IkeV2 and an address pool)", id)
	}
	r.mu.Lock()
	ident := r.idents[spec.Key]
	r.mu.Unlock()
	blk, _ := pem.Decode([]byte(ident.CA))
	if blk == nil {
		return resource.VpnServer{}, resource.Errorf(CodeNotRealizable, "", "gateway %s has no point-to-site identity yet", id)
	}
	addr := in.PublicIP
	if spec.P2SAddress.IsValid() {
		addr = spec.P2SAddress // active-active: the third public IP
	}
	return resource.VpnServer{FQDN: ident.FQDN, Addresses: []string{addr.String()}, RootCertificate: blk.Bytes,
		Routes: slices.Clone(in.Assignment.Config.LocalPrefixes), DNS: slices.Clone(in.Assignment.Config.PointToSite.DNS)}, nil
}

// VpnClientHealth reports the connected point-to-site clients of a
// gateway from its instances' latest reports (Azure's
// getvpnclientconnectionhealth).
func (r *Reconciler) VpnClientHealth(_ context.Context, gw *resource.VirtualNetworkGateway) ([]resource.VpnClientConnectionHealthDetail, error) {
	spec, _, err := r.gatewaySpec(gw)
	if err != nil || spec == nil {
		return nil, err
	}
	out := []resource.VpnClientConnectionHealthDetail{}
	now := time.Now()
	for _, in := range spec.Instances {
		s, ok := r.cfg.Hub.Report(in.ID)
		if !in.Active || !ok || !r.fresh(s, now) || s.Status.PointToSite == nil {
			continue
		}
		for _, c := range r.cfg.Hub.Clients(in.ID) {
			if c.Client == nil || len(c.IKE) == 0 {
				continue
			}
			sa := c.IKE[0]
			d := resource.VpnClientConnectionHealthDetail{
				VpnConnectionID:         agentapi.VpnConnectionID(sa.SPIi),
				PublicIPAddress:         sa.Remote.String(),
				PrivateIPAddress:        c.Client.VirtualIP.String(),
				VpnUserName:             c.Client.User,
				IngressBytesTransferred: int64(c.IngressBytes),
				EgressBytesTransferred:  int64(c.EgressBytes),
			}
			if up := c.UpSince; !up.IsZero() {
				d.VpnConnectionTime = up.UTC().Format(time.RFC3339)
				d.VpnConnectionDuration = int64(now.Sub(up).Seconds())
			}
			if t := c.Traffic; t != nil {
				d.IngressPacketsTransferred, d.EgressPacketsTransferred = int64(t.RxPackets), int64(t.TxPackets)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// DisconnectVpnClients ends point-to-site sessions by vpnConnectionId
// (Azure's disconnectvirtualnetworkgatewayvpnconnections): the gateway's
// active instances get the IDs in their assignment, and it returns once
// they applied it. Unknown IDs are ignored, as sessions come and go.
func (r *Reconciler) DisconnectVpnClients(ctx context.Context, gw *resource.VirtualNetworkGateway, ids []string) error {
	spec, id, err := r.gatewaySpec(gw)
	if err != nil {
		return err
	}
	if spec == nil {
		return resource.Errorf(CodeNotRealizable, "", "gateway %s is not running", id)
	}
	st := r.state(spec.Key)
	for _, v := range ids {
		if !slices.Contains(st.Disconnects, v) {
			st.Disconnects = append(st.Disconnects, v)
		}
	}
	if n := len(st.Disconnects); n > maxDisconnects {
		st.Disconnects = slices.Clone(st.Disconnects[n-maxDisconnects:])
	}
	r.log.Info("disconnecting point-to-site clients", "gateway", id.String(), "vpnConnectionIds", ids)
	if err := r.setState(ctx, spec.Key, st); err != nil {
		return err
	}
	if err := r.pass(ctx); err != nil {
		return resource.Errorf(CodeProviderFailed, "", "disconnecting clients of %s: %v", id, err)
	}
	return r.waitApplied(ctx, "disconnecting clients of "+id.String(), r.gatewayRevisions(spec.Key))
}

// The reconciler answers the API's point-to-site actions.
var _ api.PointToSiteProvisioner = (*Reconciler)(nil)
