package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/vpngw/vpngw/internal/identity"
	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
)

// DefaultTenant is the tenant ID vpngw reports (it has no directory; the
// ID is a placeholder in Azure's GUID form).
const DefaultTenant = "00000000-0000-0000-0000-000000000000"

// displayName is how the subscriptions and the tenant are named.
const displayName = "vpngw"

// CloudMetadata is the body of GET /metadata/endpoints, in Azure Stack's
// shape: what `az cloud register --endpoint-resource-manager URL` reads
// to fill in the cloud's other endpoints.
type CloudMetadata struct {
	// GalleryEndpoint, GraphEndpoint and PortalEndpoint are URLs of this
	// server (vpngw has no gallery and no Graph; its portal is /portal/).
	GalleryEndpoint string `json:"galleryEndpoint"`
	GraphEndpoint   string `json:"graphEndpoint"`
	PortalEndpoint  string `json:"portalEndpoint"`
	// Authentication names where tokens come from and their audience.
	Authentication CloudAuthentication `json:"authentication"`
}

// CloudAuthentication is CloudMetadata's authentication block.
type CloudAuthentication struct {
	// LoginEndpoint is the token issuer, this server's /adfs (package
	// identity): an AD FS authority, as on Azure Stack Hub.
	LoginEndpoint string `json:"loginEndpoint"`
	// Audiences are the token audiences: this server's URL, with a slash.
	Audiences []string `json:"audiences"`
}

// Subscription is an entry of GET /subscriptions.
type Subscription struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscriptionId"`
	DisplayName    string `json:"displayName"`
	// State is always Enabled.
	State    string `json:"state"`
	TenantID string `json:"tenantId"`
}

// Tenant is an entry of GET /tenants.
type Tenant struct {
	ID             string `json:"id"`
	TenantID       string `json:"tenantId"`
	TenantCategory string `json:"tenantCategory"`
	DisplayName    string `json:"displayName"`
}

// getCloudMetadata serves GET /metadata/endpoints (any api-version; az
// asks for 2015-01-01). Every URL is built from the configured endpoint
// (or, with a trusted proxy, the forwarded one), never from Host.
func (s *Server) getCloudMetadata(w http.ResponseWriter, r *request) error {
	base := s.endpointFor(r.Request) + "/"
	writeJSON(w, http.StatusOK, CloudMetadata{
		GalleryEndpoint: base,
		GraphEndpoint:   base,
		PortalEndpoint:  base + "portal/",
		Authentication:  CloudAuthentication{LoginEndpoint: identity.Authority(s.endpointFor(r.Request)), Audiences: []string{base}},
	})
	return nil
}

func subscriptionOf(id string) Subscription {
	return Subscription{ID: "/subscriptions/" + id, SubscriptionID: id, DisplayName: displayName, State: "Enabled", TenantID: DefaultTenant}
}

// listSubscriptions serves GET /subscriptions: the default subscription
// (the CLI's) and every other subscription that holds a resource group.
// vpngw has no subscription registry: any subscription ID is served.
func (s *Server) listSubscriptions(w http.ResponseWriter, r *request) error {
	gs, err := registry.List(r.Context(), s.st, registry.GroupKeyPrefix, resource.TypeResourceGroups)
	if err != nil {
		return err
	}
	ids := []string{resource.DefaultSubscription}
	for _, g := range gs {
		if !slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, g.ID.Subscription) }) {
			ids = append(ids, g.ID.Subscription)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	out := struct {
		Value []Subscription `json:"value"`
	}{Value: []Subscription{}}
	for _, id := range ids {
		out.Value = append(out.Value, subscriptionOf(id))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getSubscription serves GET /subscriptions/{id}: every well-formed
// subscription ID exists.
func (s *Server) getSubscription(w http.ResponseWriter, r *request) error {
	sub := r.param(paramSub)
	if err := checkSubscription(sub); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, subscriptionOf(sub))
	return nil
}

// listTenants serves GET /tenants: the one tenant.
func (s *Server) listTenants(w http.ResponseWriter, r *request) error {
	writeJSON(w, http.StatusOK, struct {
		Value []Tenant `json:"value"`
	}{Value: []Tenant{{ID: "/tenants/" + DefaultTenant, TenantID: DefaultTenant, TenantCategory: "Home", DisplayName: displayName}}})
	return nil
}
