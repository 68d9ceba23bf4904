package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/renameio/v2"

	"github.com/vpngw/vpngw/internal/armerr"
	"github.com/vpngw/vpngw/internal/store"
)

// Role-based access control, in Azure's shapes: the built-in role
// definitions, role assignments at a scope (/, a subscription, a resource
// group or a resource) that apply to everything below it, and the check of
// every request's action at its scope (Authorize).

// RoleAssignmentsFile holds the role assignments, in Config.Dir.
const RoleAssignmentsFile = "roleassignments.json"

// RoleDefinition is a built-in role.
type RoleDefinition struct {
	// ID is the role's GUID (Azure's, so scripts that name roles by ID
	// carry over).
	ID   string
	Name string
	// Description is Azure's.
	Description string
	// Actions and NotActions are Azure's action patterns ('*' matches any
	// run of characters, case-insensitively).
	Actions, NotActions []string
}

// The built-in roles vpngw knows, with Azure's IDs and (for the
// Microsoft.Network, Microsoft.Resources and Microsoft.Authorization
// actions vpngw serves) Azure's permissions.
var (
	RoleOwner = RoleDefinition{ID: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", Name: "Owner",
		Description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
		Actions:     []string{"*"}}
	RoleContributor = RoleDefinition{ID: "b24988ac-6180-42a0-ab88-20f7382dd24c", Name: "Contributor",
		Description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
		Actions:     []string{"*"},
		NotActions:  []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action", "vpngw.Lab/*"}}
	RoleReader = RoleDefinition{ID: "acdd72a7-3385-48ef-bd42-f606fba81ae7", Name: "Reader",
		Description: "View all resources, but does not allow you to make any changes.",
		Actions:     []string{"*/read"}}
	RoleNetworkContributor = RoleDefinition{ID: "4d97b98b-1d4f-4787-a291-c67834d212e7", Name: "Network Contributor",
		Description: "Lets you manage networks, but not access to them.",
		Actions: []string{"Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
			"Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
			"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"}}
	builtinRoles = []RoleDefinition{RoleOwner, RoleContributor, RoleReader, RoleNetworkContributor}
)

// allows reports whether the role grants action.
func (d *RoleDefinition) allows(action string) bool {
	match := func(pats []string) bool {
		return slices.ContainsFunc(pats, func(p string) bool { return globMatch(p, action) })
	}
	return match(d.Actions) && !match(d.NotActions)
}

// globMatch matches an action pattern, '*' being any run, case-insensitively.
func globMatch(pattern, s string) bool {
	p, s := strings.ToLower(pattern), strings.ToLower(s)
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, part)
		}
		j := strings.Index(s, part)
		if j < 0 {
			return false
		}
		s = s[j+len(part):]
	}
	return s == ""
}

// RoleAssignment grants a principal a role at a scope.
type RoleAssignment struct {
	// Name is the assignment's GUID.
	Name string `json:"name"`
	// Scope is "/", /subscriptions/S, .../resourceGroups/RG or a resource
	// ID, as given.
	Scope string `json:"scope"`
	// RoleID is the role definition's GUID.
	RoleID string `json:"roleId"`
	// PrincipalID is the principal's object ID.
	PrincipalID string `json:"principalId"`
}

// appliesTo reports whether an assignment at scope covers path: the same
// scope or one below it.
func appliesTo(scope, path string) bool {
	s, p := strings.ToLower(strings.TrimRight(scope, "/")), strings.ToLower(strings.TrimRight(path, "/"))
	return s == "" || p == s || strings.HasPrefix(p, s+"/")
}

func readAssignments(dir string) ([]RoleAssignment, error) {
	b, err := os.ReadFile(filepath.Join(dir, RoleAssignmentsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	var doc struct {
		Assignments []RoleAssignment `json:"roleAssignments"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("identity: %s: %w", RoleAssignmentsFile, err)
	}
	return doc.Assignments, nil
}

func writeAssignments(dir string, as []RoleAssignment) error {
	b, err := json.MarshalIndent(struct {
		Assignments []RoleAssignment `json:"roleAssignments"`
	}{as}, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(filepath.Join(dir, RoleAssignmentsFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// Assign adds a role assignment to the file in dir (for `vpngw serve
// role assign`, the bootstrap and tests); the API's PUT does the same.
func Assign(dir string, a RoleAssignment) error {
	as, err := readAssignments(dir)
	if err != nil {
		return err
	}
	as = slices.DeleteFunc(as, func(x RoleAssignment) bool { return strings.EqualFold(x.Name, a.Name) })
	return writeAssignments(dir, append(as, a))
}

// errAssignmentExists: another replica created an assignment of that
// name first.
var errAssignmentExists = errors.New("identity: the role assignment exists")

// listAssignments returns the role assignments, from the store (cached)
// or the file. Called with i.amu held.
func (i *Issuer) listAssignments() ([]storedAssignment, error) {
	if i.cfg.Store != nil {
		ctx, cancel := storeCtx()
		defer cancel()
		s, err := i.loadStore(ctx)
		return s.assignments, err
	}
	as, err := readAssignments(i.cfg.Dir)
	out := make([]storedAssignment, len(as))
	for k, a := range as {
		out[k] = storedAssignment{RoleAssignment: a}
	}
	return out, err
}

// addAssignment adds a, which listAssignments did not return; with a
// store, errAssignmentExists when another replica created it meanwhile.
// Called with i.amu held.
func (i *Issuer) addAssignment(a RoleAssignment) error {
	if i.cfg.Store == nil {
		return Assign(i.cfg.Dir, a)
	}
	defer i.invalidate()
	ctx, cancel := storeCtx()
	defer cancel()
	b, _ := json.Marshal(a)
	if _, err := i.cfg.Store.CompareAndSwap(ctx, assignmentKey(a.Name), b, 0); errors.Is(err, store.ErrConflict) {
		return errAssignmentExists
	} else if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// removeAssignment deletes a as listAssignments returned it. Called with
// i.amu held.
func (i *Issuer) removeAssignment(a storedAssignment) error {
	if i.cfg.Store == nil {
		as, err := readAssignments(i.cfg.Dir)
		if err != nil {
			return err
		}
		return writeAssignments(i.cfg.Dir, slices.DeleteFunc(as, func(x RoleAssignment) bool { return x == a.RoleAssignment }))
	}
	defer i.invalidate()
	ctx, cancel := storeCtx()
	defer cancel()
	if _, err := i.cfg.Store.Delete(ctx, assignmentKey(a.Name), a.modRevision); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// permitted reports whether principal p may perform action at scope.
func (i *Issuer) permitted(p Principal, action, scope string) (bool, error) {
	i.amu.Lock()
	defer i.amu.Unlock()
	as, err := i.listAssignments()
	if err != nil {
		return false, err
	}
	for _, a := range as {
		if a.PrincipalID != p.ObjectID || !appliesTo(a.Scope, scope) {
			continue
		}
		for _, d := range builtinRoles {
			if d.ID == a.RoleID && d.allows(action) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Request is what a request asks to do: one or more actions (all needed)
// at a scope. Open requests need no role.
type Request struct {
	Actions []string
	Scope   string
	Open    bool
}

// ClassifyFunc tells Authorize what a request asks to do.
type ClassifyFunc func(r *http.Request) Request

// Authorize returns next behind the role check: the authenticated
// principal (Authenticate runs first) must hold, at the request's scope or
// above, a role that allows each of its actions; otherwise 403
// AuthorizationFailed with Azure's message.
func (i *Issuer) Authorize(next http.Handler, classify ClassifyFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := classify(r)
		if req.Open {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			armerr.Write(w, &armerr.Error{Code: armerr.CodeAuthenticationFailed, Message: "Authentication failed.", Status: http.StatusUnauthorized})
			return
		}
		for _, action := range req.Actions {
			ok, err := i.permitted(p, action, req.Scope)
			if err != nil {
				i.log.Error("reading role assignments", "err", err)
				armerr.Write(w, &armerr.Error{Code: armerr.CodeInternal, Message: "The role assignments could not be read.", Status: http.StatusInternalServerError})
				return
			}
			if !ok {
				i.log.Info("request refused: no role allows it", "principal", p.DisplayName, "action", action, "scope", req.Scope)
				armerr.Write(w, &armerr.Error{Code: armerr.CodeAuthorizationFailed, Status: http.StatusForbidden, Message: fmt.Sprintf(
					"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
					p.name(), p.ObjectID, action, req.Scope)})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// name is how Azure's messages name the client: its app ID or user name.
func (p *Principal) name() string {
	if p.AppID != "" {
		return p.AppID
	}
	return p.UserName
}

// ClassifyARM is the action and scope of an ARM request, as Azure names
// them: the scope is the path; the action is the resource provider and the
// path's resource types, then read (GET, HEAD), write (PUT, PATCH),
// delete, or for a POST its last segment and action. Reading a
// connection's shared key also needs Microsoft.Network/connections/write,
// as Azure's Reader role cannot read secrets.
func ClassifyARM(r *http.Request) Request {
	path := strings.TrimRight(r.URL.Path, "/")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	verb := map[string]string{http.MethodGet: "read", http.MethodHead: "read", http.MethodPut: "write",
		http.MethodPatch: "write", http.MethodDelete: "delete", http.MethodPost: "action"}[r.Method]
	if verb == "" {
		verb = "action"
	}
	req := Request{Scope: path}
	lower := strings.ToLower(path)
	switch {
	case len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions"):
		return Request{Actions: []string{"vpngw.Lab/" + verb}, Scope: "/"}
	case len(segs) == 2:
		return Request{Actions: []string{"Microsoft.Resources/subscriptions/" + verb}, Scope: path}
	}
	rest := segs[2:]
	var ns string
	var types []string
	switch {
	case strings.EqualFold(rest[0], "resourceGroups") && (len(rest) <= 2):
		ns, types = "Microsoft.Resources", []string{"subscriptions", "resourceGroups"}
	case strings.EqualFold(rest[0], "resourceGroups") && len(rest) >= 5 && strings.EqualFold(rest[2], "providers"):
		ns, rest = rest[3], rest[4:]
	case strings.EqualFold(rest[0], "providers") && len(rest) >= 3:
		ns, rest = rest[1], rest[2:]
	default:
		return Request{Actions: []string{"Microsoft.Resources/subscriptions/" + verb}, Scope: path}
	}
	if types == nil {
		if verb == "action" && len(rest) > 1 {
			last := rest[len(rest)-1]
			for k := 0; k < len(rest)-1; k += 2 {
				types = append(types, rest[k])
			}
			types = append(types, last)
		} else {
			for k := 0; k < len(rest); k += 2 {
				types = append(types, rest[k])
			}
		}
	}
	req.Actions = []string{ns + "/" + strings.Join(types, "/") + "/" + verb}
	if r.Method == http.MethodGet && strings.HasSuffix(lower, "/sharedkey") && strings.Contains(lower, "/microsoft.network/connections/") {
		req.Actions = append(req.Actions, "Microsoft.Network/connections/write")
	}
	return req
}

// authorizationPath matches SCOPE/providers/Microsoft.Authorization/TYPE[/NAME].
// It and guidRE are compiled on first use, not at every start of the binary.
var authorizationPath = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^(.*?)/providers/Microsoft\.Authorization/(roleAssignments|roleDefinitions)(?:/([^/]+))?$`)
})

// IsAuthorizationPath reports whether r is for the role API
// (SCOPE/providers/Microsoft.Authorization/...), which Roles serves.
func IsAuthorizationPath(r *http.Request) bool {
	return authorizationPath().MatchString(strings.TrimRight(r.URL.Path, "/"))
}

var guidRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// roleAssignmentJSON is a role assignment in ARM's shape.
type roleAssignmentJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		RoleDefinitionID string `json:"roleDefinitionId"`
		PrincipalID      string `json:"principalId"`
		PrincipalType    string `json:"principalType,omitempty"`
		Scope            string `json:"scope"`
	} `json:"properties"`
}

func assignmentJSON(a RoleAssignment, kind string) roleAssignmentJSON {
	var j roleAssignmentJSON
	scope := strings.TrimRight(a.Scope, "/")
	j.ID, j.Name, j.Type = scope+"/providers/Microsoft.Authorization/roleAssignments/"+a.Name, a.Name, "Microsoft.Authorization/roleAssignments"
	j.Properties.RoleDefinitionID = roleDefinitionID(scope, a.RoleID)
	j.Properties.PrincipalID, j.Properties.PrincipalType, j.Properties.Scope = a.PrincipalID, kind, a.Scope
	return j
}

func roleDefinitionID(scope, id string) string {
	return strings.TrimRight(scope, "/") + "/providers/Microsoft.Authorization/roleDefinitions/" + id
}

func roleDefinitionJSON(scope string, d RoleDefinition) map[string]any {
	return map[string]any{"id": roleDefinitionID(scope, d.ID), "name": d.ID, "type": "Microsoft.Authorization/roleDefinitions",
		"properties": map[string]any{"roleName": d.Name, "type": "BuiltInRole", "description": d.Description,
			"assignableScopes": []string{"/"}, "permissions": []map[string]any{{"actions": d.Actions, "notActions": d.NotActions}}}}
}

// ClassifyAuthorization is the action of a role API request.
func ClassifyAuthorization(r *http.Request) Request {
	m := authorizationPath().FindStringSubmatch(strings.TrimRight(r.URL.Path, "/"))
	if m == nil {
		return Request{Actions: []string{"Microsoft.Authorization/unknown/read"}, Scope: "/"}
	}
	verb := map[string]string{http.MethodGet: "read", http.MethodHead: "read", http.MethodPut: "write", http.MethodDelete: "delete"}[r.Method]
	if verb == "" {
		verb = "action"
	}
	scope := m[1]
	if scope == "" {
		scope = "/"
	}
	return Request{Actions: []string{"Microsoft.Authorization/" + m[2] + "/" + verb}, Scope: scope}
}

// Roles serves the role API: GET SCOPE/providers/Microsoft.Authorization/
// roleDefinitions[/ID] (the built-in roles), and roleAssignments: GET (the
// assignments at, above and below SCOPE), GET/PUT/DELETE .../NAME. Put it
// behind Authenticate and Authorize(ClassifyAuthorization).
func (i *Issuer) Roles(w http.ResponseWriter, r *http.Request) {
	m := authorizationPath().FindStringSubmatch(strings.TrimRight(r.URL.Path, "/"))
	if m == nil {
		armerr.Write(w, &armerr.Error{Code: armerr.CodePathNotFound, Message: "No such path.", Status: http.StatusNotFound})
		return
	}
	scope, typ, name := m[1], strings.ToLower(m[2]), m[3]
	if scope == "" {
		scope = "/"
	}
	notFound := func(what string) {
		armerr.Write(w, &armerr.Error{Code: what + "NotFound", Message: fmt.Sprintf("The %s '%s' does not exist.", what, name), Status: http.StatusNotFound})
	}
	if typ == "roledefinitions" {
		if r.Method != http.MethodGet {
			armerr.Write(w, &armerr.Error{Code: armerr.CodeMethodNotAllowed, Message: "Built-in role definitions are read-only.", Status: http.StatusMethodNotAllowed})
			return
		}
		var out []map[string]any
		for _, d := range builtinRoles {
			if name == "" {
				out = append(out, roleDefinitionJSON(scope, d))
			} else if strings.EqualFold(d.ID, name) {
				armerr.WriteJSON(w, http.StatusOK, roleDefinitionJSON(scope, d))
				return
			}
		}
		if name != "" {
			notFound("RoleDefinition")
			return
		}
		armerr.WriteJSON(w, http.StatusOK, map[string]any{"value": out})
		return
	}
	i.amu.Lock()
	defer i.amu.Unlock()
	as, err := i.listAssignments()
	if err != nil {
		armerr.Write(w, &armerr.Error{Code: armerr.CodeInternal, Message: "The role assignments could not be read.", Status: http.StatusInternalServerError})
		return
	}
	kindOf := func(id string) string {
		p, ok := i.find(func(q *Principal) bool { return q.ObjectID == id })
		if !ok {
			return ""
		}
		if p.Kind == KindUser {
			return "User"
		}
		return "ServicePrincipal"
	}
	idx := slices.IndexFunc(as, func(a storedAssignment) bool {
		return strings.EqualFold(a.Name, name) && strings.EqualFold(strings.TrimRight(a.Scope, "/"), strings.TrimRight(scope, "/"))
	})
	switch {
	case name == "" && r.Method == http.MethodGet:
		out := []roleAssignmentJSON{}
		for _, a := range as {
			if appliesTo(a.Scope, scope) || appliesTo(scope, a.Scope) {
				out = append(out, assignmentJSON(a.RoleAssignment, kindOf(a.PrincipalID)))
			}
		}
		armerr.WriteJSON(w, http.StatusOK, map[string]any{"value": out})
	case name == "":
		armerr.Write(w, &armerr.Error{Code: armerr.CodeMethodNotAllowed, Message: "Only GET lists role assignments.", Status: http.StatusMethodNotAllowed})
	case r.Method == http.MethodGet:
		if idx < 0 {
			notFound("RoleAssignment")
			return
		}
		armerr.WriteJSON(w, http.StatusOK, assignmentJSON(as[idx].RoleAssignment, kindOf(as[idx].PrincipalID)))
	case r.Method == http.MethodDelete:
		if idx < 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		gone := as[idx]
		if err := i.removeAssignment(gone); err != nil {
			armerr.Write(w, &armerr.Error{Code: armerr.CodeInternal, Message: "The role assignments could not be written.", Status: http.StatusInternalServerError})
			return
		}
		armerr.WriteJSON(w, http.StatusOK, assignmentJSON(gone.RoleAssignment, kindOf(gone.PrincipalID)))
	case r.Method == http.MethodPut:
		a, e := i.parseAssignment(r, scope, name)
		if e != nil {
			armerr.Write(w, e)
			return
		}
		if idx >= 0 {
			if as[idx].RoleID == a.RoleID && as[idx].PrincipalID == a.PrincipalID {
				armerr.WriteJSON(w, http.StatusOK, assignmentJSON(a, kindOf(a.PrincipalID)))
				return
			}
			armerr.Write(w, &armerr.Error{Code: "RoleAssignmentUpdateNotPermitted", Message: "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.", Status: http.StatusConflict})
			return
		}
		if err := i.addAssignment(a); errors.Is(err, errAssignmentExists) {
			armerr.Write(w, &armerr.Error{Code: "RoleAssignmentExists", Message: "The role assignment already exists.", Status: http.StatusConflict})
			return
		} else if err != nil {
			armerr.Write(w, &armerr.Error{Code: armerr.CodeInternal, Message: "The role assignments could not be written.", Status: http.StatusInternalServerError})
			return
		}
		armerr.WriteJSON(w, http.StatusCreated, assignmentJSON(a, kindOf(a.PrincipalID)))
	default:
		armerr.Write(w, &armerr.Error{Code: armerr.CodeMethodNotAllowed, Message: "The method is not allowed on role assignments.", Status: http.StatusMethodNotAllowed})
	}
}

// parseAssignment reads and checks a role assignment PUT.
func (i *Issuer) parseAssignment(r *http.Request, scope, name string) (RoleAssignment, *armerr.Error) {
	bad := func(code, target, format string, args ...any) (RoleAssignment, *armerr.Error) {
		return RoleAssignment{}, armerr.Errorf(code, target, format, args...)
	}
	if !guidRE().MatchString(name) {
		return bad("InvalidRoleAssignmentId", "name", "The role assignment ID '%s' is not valid: it must be a GUID.", name)
	}
	if scope != "/" && !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") {
		return bad("InvalidScope", "scope", "The scope '%s' is not valid: use /, /subscriptions/{id}, a resource group or a resource.", scope)
	}
	var body struct {
		Properties *struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
		} `json:"properties"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	if err := dec.Decode(&body); err != nil || body.Properties == nil {
		return bad(armerr.CodeInvalidRequestContent, "properties", "The request body must be {\"properties\":{\"roleDefinitionId\":...,\"principalId\":...}}.")
	}
	p := body.Properties
	roleID := p.RoleDefinitionID[strings.LastIndex(p.RoleDefinitionID, "/")+1:]
	if !strings.Contains(strings.ToLower(p.RoleDefinitionID), "/providers/microsoft.authorization/roledefinitions/") ||
		!slices.ContainsFunc(builtinRoles, func(d RoleDefinition) bool { return strings.EqualFold(d.ID, roleID) }) {
		return bad("RoleDefinitionDoesNotExist", "properties.roleDefinitionId", "The specified role definition with ID '%s' does not exist.", roleID)
	}
	if _, ok := i.find(func(q *Principal) bool { return q.ObjectID == p.PrincipalID }); !ok {
		return bad("PrincipalNotFound", "properties.principalId", "Principal %s does not exist in the directory adfs.", p.PrincipalID)
	}
	return RoleAssignment{Name: strings.ToLower(name), Scope: scope, RoleID: strings.ToLower(roleID), PrincipalID: p.PrincipalID}, nil
}
