package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/armjson"
)

// VNetResolver finds a stored virtual network for the HTTP handler; the
// server implements it over its store.
type VNetResolver interface {
	// ResolveVNet returns the spec of the virtual network name in resource
	// group resourceGroup of subscription (empty: the default one), for
	// example from the stored virtual network. A VNet that does not exist
	// is an error wrapping ErrNotFound, or an *armerr.Error with status 404.
	ResolveVNet(ctx context.Context, subscription, resourceGroup, name string) (VNetSpec, error)
}

// DownGuard is implemented by a VNetResolver whose server realizes stored
// resources in the lab: Down would be undone by its next reconcile pass, so
// POST /lab/v1/down is refused while InUse names resource groups.
type DownGuard interface {
	// InUse returns the IDs of the resource groups
	// (/subscriptions/S/resourceGroups/G) holding resources the lab
	// realizes (virtual networks, gateways, public IPs), sorted.
	InUse(ctx context.Context) ([]string, error)
}

// VMRequest is the body of PUT /lab/v1/vms/{resourceGroup}/{name}.
type VMRequest struct {
	// Subscription holds the VNet; empty means the server's default.
	Subscription string `json:"subscription,omitempty"`
	// VNet is the virtual network's name (in the VM's resource group).
	VNet string `json:"vnet"`
	// Subnet is the subnet's name.
	Subnet string `json:"subnet"`
}

// SiteRequest is the body of PUT /lab/v1/sites/{name}.
type SiteRequest struct {
	// PublicIP is the device's public address (TEST-NET).
	PublicIP netip.Addr `json:"publicIp"`
	// AddressPrefixes are the site's prefixes; the first is the LAN.
	AddressPrefixes []netip.Prefix `json:"addressPrefixes"`
}

// ClientRequest is the body of PUT /lab/v1/clients/{name}.
type ClientRequest struct {
	// PublicIP is the client's public address (TEST-NET).
	PublicIP netip.Addr `json:"publicIp"`
}

// List is the body of a list response, ARM style.
type List[T any] struct {
	Value []T `json:"value"`
}

// maxRequest bounds request bodies.
const maxRequest = 1 << 20

// requestTimeout bounds one request's work; the work is not canceled when
// the client goes away, so that a half-built VM is never left behind.
const requestTimeout = 2 * time.Minute

// Handler serves the lab's HTTP API, which `vpngw serve --provider lab`
// mounts and `vpngw lab` calls:
//
//	GET    /lab/v1/status                     Status
//	POST   /lab/v1/down                       Down; answers the empty Status (409 while a DownGuard says in use)
//	GET    /lab/v1/vms[?resourceGroup=RG]     List[VM]
//	PUT    /lab/v1/vms/{resourceGroup}/{name} VMRequest → VM (create or repair)
//	GET    /lab/v1/vms/{resourceGroup}/{name} VM
//	DELETE /lab/v1/vms/{resourceGroup}/{name} 200, or 204 if there was none
//	GET    /lab/v1/sites                      List[Site]
//	PUT    /lab/v1/sites/{name}               SiteRequest → Site
//	GET    /lab/v1/sites/{name}               Site
//	DELETE /lab/v1/sites/{name}               200, or 204 if there was none
//	GET    /lab/v1/clients                    List[Client]
//	PUT    /lab/v1/clients/{name}             ClientRequest → Client
//	GET    /lab/v1/clients/{name}             Client
//	DELETE /lab/v1/clients/{name}             200, or 204 if there was none
//
// Errors have the API's shape, {"error":{"code","message","target"}}:
// ErrInvalid is 400 InvalidParameter, ErrNotFound 404 ResourceNotFound,
// ErrConflict and ErrAddressInUse 409 Conflict, ErrExhausted 409
// LimitExceeded, an *armerr.Error itself; anything else is 500
// InternalServerError, logged with its details to the lab's logger and
// answered without them.
func Handler(l *Lab, resolver VNetResolver) http.Handler {
	h := &handler{l: l, resolver: resolver}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lab/v1/status", h.status)
	mux.HandleFunc("POST /lab/v1/down", h.down)
	mux.HandleFunc("GET /lab/v1/vms", h.listVMs)
	mux.HandleFunc("PUT /lab/v1/vms/{group}/{name}", h.putVM)
	mux.HandleFunc("GET /lab/v1/vms/{group}/{name}", h.getVM)
	mux.HandleFunc("DELETE /lab/v1/vms/{group}/{name}", h.deleteVM)
	mux.HandleFunc("GET /lab/v1/sites", h.listSites)
	mux.HandleFunc("PUT /lab/v1/sites/{name}", h.putSite)
	mux.HandleFunc("GET /lab/v1/sites/{name}", h.getSite)
	mux.HandleFunc("DELETE /lab/v1/sites/{name}", h.deleteSite)
	mux.HandleFunc("GET /lab/v1/clients", h.listClients)
	mux.HandleFunc("PUT /lab/v1/clients/{name}", h.putClient)
	mux.HandleFunc("GET /lab/v1/clients/{name}", h.getClient)
	mux.HandleFunc("DELETE /lab/v1/clients/{name}", h.deleteClient)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, armerr.Errorf(armerr.CodePathNotFound, "",
			"No lab API serves %s %s.", r.Method, r.URL.Path).WithStatus(http.StatusNotFound))
	})
	return mux
}

type handler struct {
	l        *Lab
	resolver VNetResolver
}

func workContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), requestTimeout)
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, http.StatusOK, h.l.Status())
}

func (h *handler) down(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := workContext(r)
	defer cancel()
	if g, ok := h.resolver.(DownGuard); ok {
		groups, err := g.InUse(ctx)
		if err != nil {
			h.writeError(w, err)
			return
		}
		if len(groups) > 0 {
			e := armerr.Errorf(armerr.CodeConflict, "",
				"The lab realizes the resources of %d resource group(s), which the server would build again; delete them first, or use 'vpngw lab down --force', which deletes these resource groups through the API.", len(groups)).WithStatus(http.StatusConflict)
			for _, g := range groups {
				e.Details = append(e.Details, armerr.Error{Code: armerr.CodeConflict, Target: g, Message: "Resource group " + g + " holds resources the lab realizes."})
			}
			h.writeError(w, e)
			return
		}
	}
	if err := h.l.Down(ctx); err != nil {
		h.writeError(w, err)
		return
	}
	h.writeJSON(w, http.StatusOK, h.l.Status())
}

func (h *handler) listVMs(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, http.StatusOK, List[VM]{Value: h.l.VMs(r.URL.Query().Get("resourceGroup"))})
}

func (h *handler) putVM(w http.ResponseWriter, r *http.Request) {
	var req VMRequest
	if !h.readJSON(w, r, &req) {
		return
	}
	group, name := r.PathValue("group"), r.PathValue("name")
	if req.VNet == "" || req.Subnet == "" {
		h.writeError(w, armerr.Errorf(armerr.CodeMissingParameter, "vnet", "A VM needs a vnet and a subnet."))
		return
	}
	ctx, cancel := workContext(r)
	defer cancel()
	if h.resolver == nil {
		h.writeError(w, fmt.Errorf("lab: no VNet resolver configured"))
		return
	}
	spec, err := h.resolver.ResolveVNet(ctx, req.Subscription, group, req.VNet)
	if err != nil {
		h.writeError(w, err)
		return
	}
	// Realize the VNet as stored (idempotent; the reconciler does the same)
	// so that a VM can be added before the VNet's reconcile has run.
	if err := h.l.EnsureVNet(ctx, spec); err != nil {
		h.writeError(w, err)
		return
	}
	vm, err := h.l.CreateVM(ctx, VMSpec{ResourceGroup: group, Name: name, VNet: spec.ID, Subnet: req.Subnet})
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.writeJSON(w, http.StatusOK, vm)
}

func (h *handler) getVM(w http.ResponseWriter, r *http.Request) {
	vm, err := h.l.GetVM(r.PathValue("group"), r.PathValue("name"))
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.writeJSON(w, http.StatusOK, vm)
}

func (h *handler) deleteVM(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := workContext(r)
	defer cancel()
	h.deleted(w, h.l.DeleteVM(ctx, r.PathValue("group"), r.PathValue("name")))
}

func (h *handler) listSites(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, http.StatusOK, List[Site]{Value: h.l.Sites()})
}

func (h *handler) putSite(w http.ResponseWriter, r *http.Request) {
	var req SiteRequest
	if !h.readJSON(w, r, &req) {
		return
	}
	ctx, cancel := workContext(r)
	defer cancel()
	s, err := h.l.CreateSite(ctx, SiteSpec{Name: r.PathValue("name"), PublicIP: req.PublicIP, AddressPrefixes: req.AddressPrefixes})
	h.answer(w, s, err)
}

func (h *handler) getSite(w http.ResponseWriter, r *http.Request) {
	s, err := h.l.GetSite(r.PathValue("name"))
	h.answer(w, s, err)
}

func (h *handler) deleteSite(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := workContext(r)
	defer cancel()
	h.deleted(w, h.l.DeleteSite(ctx, r.PathValue("name")))
}

func (h *handler) listClients(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, http.StatusOK, List[Client]{Value: h.l.Clients()})
}

func (h *handler) putClient(w http.ResponseWriter, r *http.Request) {
	var req ClientRequest
	if !h.readJSON(w, r, &req) {
		return
	}
	ctx, cancel := workContext(r)
	defer cancel()
	c, err := h.l.CreateClient(ctx, ClientSpec{Name: r.PathValue("name"), PublicIP: req.PublicIP})
	h.answer(w, c, err)
}

func (h *handler) getClient(w http.ResponseWriter, r *http.Request) {
	c, err := h.l.GetClient(r.PathValue("name"))
	h.answer(w, c, err)
}

func (h *handler) deleteClient(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := workContext(r)
	defer cancel()
	h.deleted(w, h.l.DeleteClient(ctx, r.PathValue("name")))
}

// answer writes v, or err when it is set.
func (h *handler) answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		h.writeError(w, err)
		return
	}
	h.writeJSON(w, http.StatusOK, v)
}

// deleted answers a DELETE: 200, or 204 if there was nothing to delete, as
// in ARM.
func (h *handler) deleted(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		w.WriteHeader(http.StatusNoContent)
	case err != nil:
		h.writeError(w, err)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// readJSON decodes the request body strictly (armjson: unknown,
// duplicate and case-variant properties, invalid UTF-8 and NUL characters
// are refused, naming the field), answering 400 on failure. An empty body
// leaves v as it is: every lab request body is optional.
func (h *handler) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		h.writeError(w, armerr.Errorf(armerr.CodeInvalidRequestContent, "", "The request body could not be read: %v.", err))
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if err := armjson.Decode(body, v); err != nil {
		h.writeError(w, err)
		return false
	}
	return true
}

func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		h.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError answers err in the API's error shape (armerr). An error the
// lab does not classify is internal: logged, and answered without its text.
func (h *handler) writeError(w http.ResponseWriter, err error) {
	e, ok := armerr.AsError(err)
	if !ok {
		e = armerr.Errorf("", "", "%s", err.Error())
		for _, s := range []error{ErrInvalid, ErrNotFound, ErrConflict, ErrAddressInUse, ErrExhausted, ErrLocked} {
			e.Message = strings.TrimPrefix(e.Message, s.Error()+": ")
		}
		switch {
		case errors.Is(err, ErrInvalid):
			e.Code, e.Status = armerr.CodeInvalidParameter, http.StatusBadRequest
		case errors.Is(err, ErrNotFound):
			e.Code, e.Status = armerr.CodeResourceNotFound, http.StatusNotFound
		case errors.Is(err, ErrConflict), errors.Is(err, ErrAddressInUse), errors.Is(err, ErrLocked):
			e.Code, e.Status = armerr.CodeConflict, http.StatusConflict
		case errors.Is(err, ErrExhausted):
			e.Code, e.Status = armerr.CodeLimitExceeded, http.StatusConflict
		default:
			h.l.log.Error("lab API: internal error", "err", err)
			e = armerr.Internal()
		}
	}
	armerr.Write(w, e)
}
