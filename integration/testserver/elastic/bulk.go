package elastic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// bulkAction is the metadata line of one bulk action.
type bulkAction struct {
	Index        string       `json:"_index"`
	ID           string       `json:"_id"`
	Version      *json.Number `json:"version"`
	VersionType  string       `json:"version_type"`
	Routing      string       `json:"routing"`
	Pipeline     string       `json:"pipeline"`
	RequireAlias bool         `json:"require_alias"`
	IfSeqNo      *int64       `json:"if_seq_no"`
	IfPrimary    *int64       `json:"if_primary_term"`
}

// bulk runs an NDJSON bulk request. Items run in order; each gets its own status.
func (s *Server) bulk(defaultIndex string, q url.Values, body []byte) (int, any) {
	start := time.Now()
	refresh, e := refreshParam(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		return errResp(e)
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return errResp(badRequest("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
	}
	type op struct {
		kind   string
		meta   bulkAction
		source []byte
		line   int
	}
	var ops []op
	lines := bytes.Split(body, []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		var action map[string]json.RawMessage
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return errResp(badRequest("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", i+1)))
		}
		var o op
		o.line = i + 1
		for k, v := range action {
			o.kind = k
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			dec.DisallowUnknownFields()
			if err := dec.Decode(&o.meta); err != nil {
				return errResp(badRequest("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d]: %v", i+1, err)))
			}
		}
		switch o.kind {
		case "index", "create", "update":
			i++
			if i >= len(lines) || len(bytes.TrimSpace(lines[i])) == 0 {
				return errResp(badRequest("action_request_validation_exception", "Validation Failed: 1: source is missing;"))
			}
			o.source = lines[i]
		case "delete":
		default:
			return errResp(badRequest("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", i+1, o.kind)))
		}
		if o.meta.Index == "" {
			o.meta.Index = defaultIndex
		}
		if o.meta.Index == "" {
			return errResp(badRequest("action_request_validation_exception", "Validation Failed: 1: index is missing;"))
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return errResp(badRequest("action_request_validation_exception", "Validation Failed: 1: no requests added;"))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]any, len(ops))
	anyErr := false
	touched := map[string]bool{}
	for i, o := range ops {
		var res writeResult
		version := ""
		if o.meta.Version != nil {
			version = o.meta.Version.String()
		}
		wo, e := parseVersionParams(version, o.meta.VersionType)
		switch {
		case e != nil:
			res = writeResult{Index: o.meta.Index, ID: o.meta.ID, Status: e.Status, Err: e}
		case o.kind == "delete":
			res = s.remove(o.meta.Index, o.meta.ID, wo)
		case o.kind == "update":
			res = s.bulkUpdate(o.meta.Index, o.meta.ID, o.source)
		default:
			id := o.meta.ID
			if id == "" {
				id = newID()
			}
			wo.create = o.kind == "create"
			res = s.write(o.meta.Index, id, o.source, wo)
		}
		if res.Err != nil {
			anyErr = true
		} else {
			touched[o.meta.Index] = true
		}
		items[i] = map[string]any{o.kind: res.body(refresh && q.Get("refresh") != "wait_for")}
	}
	if refresh {
		for name := range touched {
			if idx := s.indices[name]; idx != nil {
				idx.refresh()
			}
		}
	}
	return http.StatusOK, map[string]any{"errors": anyErr, "took": time.Since(start).Milliseconds(), "items": items}
}

// bulkUpdate runs an update action: {"doc": {...}, "doc_as_upsert": bool}.
func (s *Server) bulkUpdate(name, id string, source []byte) writeResult {
	if st := s.takeItemFault(id); st != 0 {
		e := itemFaultError(st, name, id)
		return writeResult{Index: name, ID: id, Status: e.Status, Err: e}
	}
	obj, err := decodeObject(source)
	if err != nil {
		e := parseFailed(err)
		return writeResult{Index: name, ID: id, Status: e.Status, Err: e}
	}
	partial, ok := obj["doc"].(map[string]any)
	if !ok {
		e := badRequest("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
		return writeResult{Index: name, ID: id, Status: e.Status, Err: e}
	}
	upsert, _ := obj["doc_as_upsert"].(bool)
	return s.update(name, id, partial, upsert)
}

// mget is the multi-get API: {"docs": [{"_index", "_id"}]} or, with an index in the
// path, {"ids": [...]}.
func (s *Server) mget(defaultIndex string, body []byte) (int, any) {
	var req struct {
		Docs []struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		} `json:"docs"`
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errResp(parseFailed(err))
	}
	for _, id := range req.IDs {
		req.Docs = append(req.Docs, struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}{defaultIndex, id})
	}
	if len(req.Docs) == 0 {
		return errResp(badRequest("action_request_validation_exception", "Validation Failed: 1: no documents to get;"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs := make([]any, len(req.Docs))
	for i, d := range req.Docs {
		name := d.Index
		if name == "" {
			name = defaultIndex
		}
		idx := s.indices[name]
		switch {
		case name == "":
			return errResp(badRequest("action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: index is missing for doc %d;", i)))
		case idx == nil:
			docs[i] = map[string]any{"_index": name, "_id": d.ID, "error": indexNotFound(name).object()}
		case idx.docs[d.ID] == nil:
			docs[i] = map[string]any{"_index": name, "_id": d.ID, "found": false}
		default:
			docs[i] = getBody(name, idx.docs[d.ID])
		}
	}
	return http.StatusOK, map[string]any{"docs": docs}
}
