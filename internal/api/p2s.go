package api

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/p2s/profile"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
	"github.com/vpngw/vpngw/internal/transform"
)

// PointToSiteProvisioner is what a Provisioner that runs point-to-site
// also offers (the reconciler does; --provider none does not): the
// gateway actions of point-to-site are answered from it.
type PointToSiteProvisioner interface {
	// VpnServer is what a client profile needs of a gateway.
	VpnServer(ctx context.Context, gw *resource.VirtualNetworkGateway) (resource.VpnServer, error)
	// VpnClientHealth lists the connected clients.
	VpnClientHealth(ctx context.Context, gw *resource.VirtualNetworkGateway) ([]resource.VpnClientConnectionHealthDetail, error)
	// DisconnectVpnClients ends sessions by vpnConnectionId and returns
	// once the gateway's instances applied it.
	DisconnectVpnClients(ctx context.Context, gw *resource.VirtualNetworkGateway, ids []string) error
}

// Client packages (generatevpnprofile) are kept this long, like the hour
// Azure's SAS URLs last, and at most maxPackages at once.
const (
	packageTTL  = time.Hour
	maxPackages = 256
	// maxDisconnectIDs bounds one disconnect request.
	maxDisconnectIDs = 100
	paramPackage     = "packageId"
)

// packageKeyPrefix is where client packages are kept: in the store, so
// that the URL generatevpnprofile returns is served by every replica of a
// replicated control plane, and under registry.SecretKeyPrefix, so that
// they are sealed whole at rest (the URL is the capability to fetch one,
// as Azure's SAS URL is).
const packageKeyPrefix = registry.SecretKeyPrefix + "vpnclientpackages/"

// clientPackage is a stored client package.
type clientPackage struct {
	// Zip is the package.
	Zip []byte `json:"zip"`
	// Name is the gateway's name (the file name's start).
	Name string `json:"name"`
	// Gateway is the gateway's ID key (resource.ID.Key): what
	// getvpnprofilepackageurl finds the gateway's latest package by.
	Gateway string `json:"gateway,omitempty"`
	// Expires is when the URL stops working (packageTTL after it was
	// built).
	Expires time.Time `json:"expires"`
}

// putPackage stores a client package under its random ID, first deleting
// expired ones and, beyond maxPackages, the oldest.
func (s *Server) putPackage(ctx context.Context, id string, c clientPackage) error {
	kvs, _, err := s.st.List(ctx, packageKeyPrefix)
	if err != nil {
		return err
	}
	type stored struct {
		key     string
		expires time.Time
	}
	var live []stored
	for _, kv := range kvs {
		var p clientPackage
		if json.Unmarshal(kv.Value, &p) != nil || s.now().After(p.Expires) {
			if _, err := s.st.Delete(ctx, kv.Key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			continue
		}
		live = append(live, stored{kv.Key, p.Expires})
	}
	slices.SortFunc(live, func(a, b stored) int { return a.expires.Compare(b.expires) })
	for len(live) >= maxPackages {
		if _, err := s.st.Delete(ctx, live[0].key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		live = live[1:]
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.st.Put(ctx, packageKeyPrefix+id, b)
	return err
}

// getPackage returns the client package stored under id, if it has not
// expired.
func (s *Server) getPackage(ctx context.Context, id string) (clientPackage, bool, error) {
	var c clientPackage
	if id == "" || strings.ContainsAny(id, "/") {
		return c, false, nil
	}
	kv, err := s.st.Get(ctx, packageKeyPrefix+id)
	if errors.Is(err, store.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return c, false, err
	}
	return c, !s.now().After(c.Expires), nil
}

// p2sProvisioner returns the provisioner's point-to-site side, or the
// error a request gets without one.
func (s *Server) p2sProvisioner() (PointToSiteProvisioner, error) {
	if p, ok := s.prov.(PointToSiteProvisioner); ok {
		return p, nil
	}
	return nil, errorf(http.StatusBadRequest, armerr.CodeVpnClientConfiguration, "",
		"Point-to-site is not available with provider %s: no gateway runs.", s.prov.Name())
}

// p2sGateway loads the request's gateway and the point-to-site provisioner.
func (s *Server) p2sGateway(r *request) (*resource.VirtualNetworkGateway, PointToSiteProvisioner, error) {
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return nil, nil, err
	}
	gw, err := s.loadGateway(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if gw.Properties.VpnClientConfiguration == nil {
		return nil, nil, errNoVpnClientConfiguration()
	}
	p, err := s.p2sProvisioner()
	return gw, p, err
}

// radiusServerRoot parses VpnClientParameters.radiusServerAuthCertificate:
// the CA certificate (Base64 DER, as publicCertData, or PEM) that issued
// the RADIUS server's certificate, which an EAP-TLS client checks.
func radiusServerRoot(data string) ([]byte, error) {
	const field = "radiusServerAuthCertificate"
	if strings.TrimSpace(data) == "" {
		return nil, errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, field,
			"%s is required for authenticationMethod EAPTLS on a gateway with Radius authentication: the certificate (Base64 DER or PEM) of the CA that issued the RADIUS server's certificate.", field)
	}
	der := []byte(nil)
	if blk, _ := pem.Decode([]byte(data)); blk != nil {
		der = blk.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
		if err != nil {
			return nil, errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, field, "%s is neither PEM nor Base64: %v", field, err)
		}
		der = b
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, field, "%s is not an X.509 certificate: %v", field, err)
	}
	return der, nil
}

// generateVpnProfile serves POST generatevpnprofile and
// generatevpnclientpackage: it builds the gateway's client package (see
// package profile) and answers with the URL it is served at for an hour,
// as a JSON string: a long-running operation whose result is that string
// (answerAction).
func (s *Server) generateVpnProfile(w http.ResponseWriter, r *request) error {
	var in resource.VpnClientParameters
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidRequestContent, "", "Reading the request body failed: %v", err)
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := resource.DecodeStrict(b, &in); err != nil {
			return err
		}
	}
	gw, p, err := s.p2sGateway(r)
	if err != nil {
		return err
	}
	c := gw.Properties.VpnClientConfiguration
	auth := profile.AuthEAPMSCHAPv2
	certs := slices.Contains(c.VpnAuthenticationTypes, resource.AuthCertificate) || len(c.VpnAuthenticationTypes) == 0 && len(c.VpnClientRootCertificates) > 0
	radius := slices.Contains(c.VpnAuthenticationTypes, resource.AuthRadius)
	if certs {
		auth = profile.AuthCertificate
	}
	var radiusRoot []byte
	switch {
	case in.AuthenticationMethod == "" || strings.EqualFold(in.AuthenticationMethod, "EAPTLS") && certs:
	case strings.EqualFold(in.AuthenticationMethod, "EAPTLS") && radius:
		// EAP-TLS with the RADIUS server: the client must know the
		// server certificate's root.
		root, err := radiusServerRoot(in.RadiusServerAuthCertificate)
		if err != nil {
			return err
		}
		auth, radiusRoot = profile.AuthEAPTLSRadius, root
	case strings.EqualFold(in.AuthenticationMethod, "EAPMSCHAPv2") && (radius || len(c.VpnClientLocalUsers) > 0):
		// The RADIUS server, or the gateway's local users (vpngw), check
		// the password.
		auth = profile.AuthEAPMSCHAPv2
	default:
		return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "authenticationMethod",
			"authenticationMethod %q does not match the gateway's vpnAuthenticationTypes %v (EAPTLS needs Certificate or Radius, EAPMSCHAPv2 needs Radius or vpnClientLocalUsers).",
			in.AuthenticationMethod, c.VpnAuthenticationTypes)
	}
	srv, err := p.VpnServer(r.Context(), gw)
	if err != nil {
		return err
	}
	rootCN := ""
	if rc, err := x509.ParseCertificate(srv.RootCertificate); err == nil {
		rootCN = rc.Subject.CommonName
	}
	prof := profile.Profile{Name: gw.Name, FQDN: srv.FQDN, Addresses: srv.Addresses, RootCertificate: srv.RootCertificate,
		Routes: srv.Routes, DNS: srv.DNS, Auth: auth, RadiusServerRoot: radiusRoot}
	if len(c.VpnClientIpsecPolicies) > 0 {
		// The gateway accepts only this suite: the client offers it alone.
		ikeP, espP, err := transform.FromAzurePolicy(c.VpnClientIpsecPolicies[0])
		if err != nil {
			return internalf("the point-to-site policy of %s: %v", gw.ID, err)
		}
		prof.IKEProposals, prof.ESPProposals = transform.FormatProposals([]transform.Proposal{ikeP}), transform.FormatProposals([]transform.Proposal{espP})
	}
	zip, err := profile.Build(prof, rootCN)
	if err != nil {
		return internalf("building the client package of %s: %v", gw.ID, err)
	}
	var idb [16]byte
	if _, err := io.ReadFull(s.rand, idb[:]); err != nil {
		return internalf("randomness: %v", err)
	}
	id := hex.EncodeToString(idb[:])
	gk := strings.ToLower(gw.ID)
	if err := s.putPackage(r.Context(), id, clientPackage{Zip: zip, Name: gw.Name, Gateway: gk, Expires: s.now().Add(packageTTL)}); err != nil {
		return internalf("storing the client package of %s: %v", gw.ID, err)
	}
	return s.answerAction(w, r, gw, s.endpointFor(r.Request)+"/vpnclientpackages/"+id)
}

// getVpnProfilePackageURL serves POST getvpnprofilepackageurl: the URL of
// the gateway's latest client package that has not expired (the one the
// last generatevpnprofile built), as a JSON string (a long-running
// operation: answerAction). Without one it fails with 404
// VpnClientPackageNotFound.
func (s *Server) getVpnProfilePackageURL(w http.ResponseWriter, r *request) error {
	gw, _, err := s.p2sGateway(r)
	if err != nil {
		return err
	}
	kvs, _, err := s.st.List(r.Context(), packageKeyPrefix)
	if err != nil {
		return internalf("listing client packages: %v", err)
	}
	gk := strings.ToLower(gw.ID)
	var latest string
	var expires time.Time
	for _, kv := range kvs {
		var p clientPackage
		if json.Unmarshal(kv.Value, &p) != nil || p.Gateway != gk || s.now().After(p.Expires) || !p.Expires.After(expires) {
			continue
		}
		latest, expires = strings.TrimPrefix(kv.Key, packageKeyPrefix), p.Expires
	}
	if latest == "" {
		return errorf(http.StatusNotFound, armerr.CodeVpnClientPackageNotFound, "",
			"Gateway %s has no client package: none was generated in the last %v. Generate one first (generatevpnprofile; vpngw network vnet-gateway vpn-client generate).", gw.Name, packageTTL)
	}
	return s.answerAction(w, r, gw, s.endpointFor(r.Request)+"/vpnclientpackages/"+latest)
}

// getVpnClientPackage serves the zip at the URL generatevpnprofile gave.
func (s *Server) getVpnClientPackage(w http.ResponseWriter, r *request) error {
	c, ok, err := s.getPackage(r.Context(), r.param(paramPackage))
	if err != nil {
		return internalf("reading a client package: %v", err)
	}
	if !ok {
		return errorf(http.StatusNotFound, armerr.CodeResourceNotFound, "",
			"The client package was not found: links last %v; generate the profile again.", packageTTL)
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+c.Name+`-vpnclientpackage.zip"`)
	w.WriteHeader(http.StatusOK)
	w.Write(c.Zip)
	return nil
}

// getVpnClientConnectionHealth serves POST getvpnclientconnectionhealth:
// the connected clients, from the instances' latest reports (a
// long-running operation: answerAction).
func (s *Server) getVpnClientConnectionHealth(w http.ResponseWriter, r *request) error {
	gw, p, err := s.p2sGateway(r)
	if err != nil {
		return err
	}
	ds, err := p.VpnClientHealth(r.Context(), gw)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []resource.VpnClientConnectionHealthDetail{}
	}
	return s.answerAction(w, r, gw, resource.VpnClientConnectionHealthDetailListResult{Value: ds})
}

// disconnectVpnConnections serves POST
// disconnectvirtualnetworkgatewayvpnconnections: the named sessions end
// (their IKE SAs deleted, the clients told); a long-running operation
// (answerAction) that is accepted once the gateway applied it, with no
// result body. IDs of sessions already gone are ignored.
func (s *Server) disconnectVpnConnections(w http.ResponseWriter, r *request) error {
	var in resource.P2SVpnConnectionRequest
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if len(in.VpnConnectionIDs) == 0 || len(in.VpnConnectionIDs) > maxDisconnectIDs {
		return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "vpnConnectionIds",
			"vpnConnectionIds must list 1 to %d session IDs (vpnConnectionId of getvpnclientconnectionhealth); got %d.", maxDisconnectIDs, len(in.VpnConnectionIDs))
	}
	for i, id := range in.VpnConnectionIDs {
		if id == "" || len(id) > 128 || strings.ContainsAny(id, " \t\n") {
			return errorf(http.StatusBadRequest, armerr.CodeInvalidParameter, "vpnConnectionIds["+strconv.Itoa(i)+"]",
				"%q is not a vpnConnectionId.", id)
		}
	}
	gw, p, err := s.p2sGateway(r)
	if err != nil {
		return err
	}
	if err := p.DisconnectVpnClients(r.Context(), gw, in.VpnConnectionIDs); err != nil {
		return err
	}
	return s.answerAction(w, r, gw, nil)
}

// VpnClientIPsecDefaults is getvpnclientipsecparameters' answer for a
// gateway without a custom point-to-site policy (a vpngw shape: Azure's
// answer is then empty): Azure's default point-to-site IKEv2 offer
// (reference §3.4), one entry per IKE/IPsec suite pair at its strongest
// DH group. vpngw accepts these and more (docs/p2s.md).
type VpnClientIPsecDefaults struct {
	// Default is true: no custom policy is set.
	Default bool `json:"default"`
	// Value are the default suites.
	Value []resource.IpsecPolicy `json:"value"`
}

// p2sDefaultSuites are Azure's default point-to-site suites (reference
// §3.4) in VpnClientIPsecParameters form; each IKE suite is also offered
// with DHGroup14, ECP384 and ECP256 (AES256/SHA256 with DHGroup2 too) and
// each IPsec suite with PFS24, PFS2048, ECP384 and ECP256.
func p2sDefaultSuites() []resource.IpsecPolicy {
	const life, size = 27000, 102400000
	mk := func(ikeEnc, ikeInt, espEnc, espInt string) resource.IpsecPolicy {
		return resource.IpsecPolicy{SaLifeTimeSeconds: life, SaDataSizeKilobytes: size, IkeEncryption: ikeEnc, IkeIntegrity: ikeInt,
			DhGroup: "DHGroup24", IpsecEncryption: espEnc, IpsecIntegrity: espInt, PfsGroup: "None"}
	}
	return []resource.IpsecPolicy{
		mk("GCMAES256", "SHA384", "GCMAES256", "GCMAES256"),
		mk("GCMAES256", "SHA256", "GCMAES256", "GCMAES256"),
		mk("AES256", "SHA384", "AES256", "SHA256"),
		mk("AES256", "SHA256", "AES256", "SHA256"),
		mk("AES256", "SHA256", "AES256", "SHA1"),
	}
}

// getVpnClientIPsecParameters serves POST getvpnclientipsecparameters:
// the gateway's custom point-to-site policy (VpnClientIPsecParameters),
// or, without one, Azure's defaults (VpnClientIPsecDefaults). Answered
// at once (200): Azure's spec marks it long-running but gives it only a
// 200 response, and its SDK refuses a 202.
func (s *Server) getVpnClientIPsecParameters(w http.ResponseWriter, r *request) error {
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return err
	}
	gw, err := s.loadGateway(r.Context(), id)
	if err != nil {
		return err
	}
	vc := gw.Properties.VpnClientConfiguration
	if vc == nil {
		return errNoVpnClientConfiguration()
	}
	if len(vc.VpnClientIpsecPolicies) > 0 {
		writeJSON(w, http.StatusOK, vc.VpnClientIpsecPolicies[0])
		return nil
	}
	writeJSON(w, http.StatusOK, VpnClientIPsecDefaults{Default: true, Value: p2sDefaultSuites()})
	return nil
}

// errNoVpnClientConfiguration is the error of a point-to-site action on a
// gateway without point-to-site.
func errNoVpnClientConfiguration() error {
	return errorf(http.StatusBadRequest, armerr.CodeVpnClientConfiguration, "properties.vpnClientConfiguration",
		"The gateway has no point-to-site configuration (vpnClientConfiguration).")
}

// setVpnClientIPsecParameters serves POST setvpnclientipsecparameters: the
// body (VpnClientIPsecParameters, all eight fields) becomes the gateway's
// one vpnClientIpsecPolicies entry, replacing the default offer; the
// gateway is updated as by a PUT (the same rules: not on Basic), a
// long-running operation (202) whose result, once the gateway is
// realized, is the policy as stored (Operation.Result). Setting the
// policy the gateway already has is an action answered at once the same
// way (answerAction).
func (s *Server) setVpnClientIPsecParameters(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	var in resource.IpsecPolicy
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := resource.ValidateVpnClientIPsecParameters(&in); err != nil {
		return err
	}
	id, err := resourceID(r, gatewayKind)
	if err != nil {
		return err
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.checkGroupWritable(ctx, id); err != nil {
		return err
	}
	st, gw, err := s.loadGatewayForWrite(ctx, id)
	if err != nil {
		return err
	}
	if gw.Properties.VpnClientConfiguration == nil {
		return errNoVpnClientConfiguration()
	}
	if pols := gw.Properties.VpnClientConfiguration.VpnClientIpsecPolicies; len(pols) == 1 && pols[0] == in && st.Idle() {
		return s.answerActionLocked(w, r, gw, in)
	}
	ng := resource.Clone(gw).(*resource.VirtualNetworkGateway)
	ng.Properties.VpnClientConfiguration.VpnClientIpsecPolicies = []resource.IpsecPolicy{in}
	if err := s.prepare(ctx, st.ID, ng, st); err != nil {
		return err
	}
	op := s.newOperation(registry.OpPut, st.ID, ng.Location, r.apiVersion)
	if op.Result, err = json.Marshal(in); err != nil {
		return internalf("encoding the policy: %v", err)
	}
	if err := s.accept(ctx, w, r, op, st.ID, st, ng, resource.ProvisioningUpdating, nil, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
