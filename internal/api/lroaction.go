package api

// POST actions as long-running operations.
//
// Azure runs getBgpPeerStatus, getLearnedRoutes, getAdvertisedRoutes and
// the point-to-site actions (generatevpnprofile, generatevpnclientpackage,
// getvpnclientconnectionhealth, setvpnclientipsecparameters,
// disconnectvirtualnetworkgatewayvpnconnections) as long-running operations: 202 with Location and Azure-AsyncOperation,
// and the result comes from the Location URL. vpngw does their work when
// the request arrives (it answers from the instances' reports, or hands
// the work to the agents synchronously), so answerAction stores the
// operation already finished, with its result, and answers 202 with the
// operation's URLs: the status URL says Succeeded, the Location URL
// answers 200 with the result. Validation errors are still answered at
// once (4xx), as Azure does. setvpnclientipsecparameters is an update of
// the gateway (an OpPut that realizes it) whose result is the policy
// (Operation.Result). getvpnclientipsecparameters is not among them:
// Azure's spec gives it only a 200 response, and its SDK refuses a 202.

import (
	"encoding/json"
	"net/http"

	"github.com/vpngw/vpngw/internal/registry"
	"github.com/vpngw/vpngw/internal/resource"
	"github.com/vpngw/vpngw/internal/store"
)

// answerAction answers an action on obj whose work is done: a finished
// operation holding result (nil: no body) is stored and the client gets
// 202 with its Location and Azure-AsyncOperation URLs.
func (s *Server) answerAction(w http.ResponseWriter, r *request, obj resource.Object, result any) error {
	unlock, err := s.lockWrites(r.Context())
	if err != nil {
		return err
	}
	defer unlock()
	return s.answerActionLocked(w, r, obj, result)
}

// answerActionLocked is answerAction for a caller that holds the writer
// lock.
func (s *Server) answerActionLocked(w http.ResponseWriter, r *request, obj resource.Object, result any) error {
	target, err := resource.ParseID(obj.Meta().ID, "id")
	if err != nil {
		return internalf("the ID of the action's resource: %v", err)
	}
	op := s.newOperation(registry.OpAction, target, obj.Meta().Location, r.apiVersion)
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return internalf("encoding the result of %s: %v", r.URL.Path, err)
		}
		op.Result = b
	}
	op.Status, op.EndTime = StatusSucceeded, op.StartTime
	if _, err := s.st.Txn(r.Context(), nil, []store.Op{op.Put()}); err != nil {
		return err
	}
	s.setLROHeaders(w, r, op)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// writeOpResult writes the stored result of a succeeded operation that
// has one (Operation.Result) or is an OpAction; it reports whether it did.
func writeOpResult(w http.ResponseWriter, op *registry.Operation) bool {
	switch {
	case len(op.Result) > 0:
		writeJSON(w, http.StatusOK, op.Result)
	case op.Kind == registry.OpAction:
		w.WriteHeader(http.StatusOK)
	default:
		return false
	}
	return true
}
