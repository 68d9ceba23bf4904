// Package armjson decodes JSON request bodies strictly, the way an ARM
// API must: it refuses what encoding/json would silently accept or alter
// (invalid UTF-8, NUL characters, a property given twice or in two case
// spellings, unknown properties, values of the wrong type, trailing data)
// and reports each refusal as an *armerr.Error naming the JSON path.
//
// It has no vpngw dependency but armerr, so both the resource API
// (internal/api via resource) and the lab's own API (internal/lab) decode
// with the same rules.
package armjson
