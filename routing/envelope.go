package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// envelope is the JSON form of an event with its routing directions.
type envelope struct {
	Contract string
	SchemaID *int
	ID       string
	Key      *string
	Time     string
	Routes   []string
	Data     json.RawMessage
}

// invalidLineMarker stands in for an NDJSON line that is not valid JSON, so that the
// line is rejected alone, with its number, while the other lines go on.
const invalidLineMarker = `{"__invalid_line":`

// splitEvents splits a JSON intake body into raw events: one object, an array of
// objects, or NDJSON (one object per line). A body that is none of these is an error
// for the whole request: nothing in it is accepted. Every event returned is valid JSON.
func splitEvents(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("body is empty: send one event, an array of events, or NDJSON")
	}
	if trimmed[0] == '[' {
		if !json.Valid(trimmed) {
			var probe []json.RawMessage
			err := json.Unmarshal(trimmed, &probe) // only for its precise message
			return nil, fmt.Errorf("body is not a valid JSON array of events: %v", err)
		}
		return splitArray(trimmed), nil
	}
	// One (possibly pretty-printed) object, else NDJSON.
	if json.Valid(trimmed) {
		return []json.RawMessage{json.RawMessage(trimmed)}, nil
	}
	var events []json.RawMessage
	for i, line := range bytes.Split(trimmed, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			events = append(events, json.RawMessage(fmt.Sprintf("%s%d}", invalidLineMarker, i+1)))
			continue
		}
		events = append(events, json.RawMessage(line))
	}
	return events, nil
}

// splitArray returns the elements of a valid JSON array, as sub-slices of it.
func splitArray(arr []byte) []json.RawMessage {
	var out []json.RawMessage
	i := skipSpace(arr, 1)
	if arr[i] == ']' {
		return out
	}
	for {
		end := skipValue(arr, i)
		out = append(out, json.RawMessage(arr[i:end]))
		i = skipSpace(arr, end)
		if arr[i] == ']' {
			return out
		}
		i = skipSpace(arr, i+1) // the comma
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) && !isDelimiter(b[i]) {
			i++
		}
		return i
	}
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

// skipString returns the end of the valid JSON string starting at b[i] (its quote).
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// parseEnvelope decodes one event envelope from valid JSON text (splitEvents checked
// it). It is strict: keys are matched exactly, an unknown key or a value of the wrong
// type rejects the event and names the key. It exists because intake runs it for every
// event: it decodes only the directions and leaves data as raw text for the Avro
// encoder, scanning each byte once.
func parseEnvelope(raw []byte) (envelope, *rejection) {
	var env envelope
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return env, reject(ReasonMalformed, "", "an event must be a JSON object, got %.40s", raw[i:])
	}
	i = skipSpace(raw, i+1)
	if raw[i] == '}' {
		return env, nil
	}
	for {
		end := skipString(raw, i)
		key, err := jsonString(raw[i:end])
		if err != nil {
			return env, reject(ReasonMalformed, "", "malformed event envelope: %v", err)
		}
		i = skipSpace(raw, skipSpace(raw, end)+1) // past the colon
		end = skipValue(raw, i)
		value := raw[i:end]
		if rej := env.set(key, value); rej != nil {
			return env, rej
		}
		i = skipSpace(raw, end)
		if raw[i] == '}' {
			return env, nil
		}
		i = skipSpace(raw, i+1) // the comma
	}
}

// set stores one envelope member. null leaves a member unset, as if absent.
func (env *envelope) set(key string, value []byte) *rejection {
	null := string(value) == "null"
	wrongType := func(want string) *rejection {
		return reject(ReasonMalformed, key, "malformed event envelope: %s must be %s, got %.40s", key, want, value)
	}
	str := func(dst *string) *rejection {
		if null {
			return nil
		}
		s, err := jsonString(value)
		if err != nil {
			return wrongType("a string")
		}
		*dst = s
		return nil
	}
	switch key {
	case "contract":
		return str(&env.Contract)
	case "id":
		return str(&env.ID)
	case "time":
		return str(&env.Time)
	case "key":
		if null {
			return nil
		}
		var k string
		if rej := str(&k); rej != nil {
			return rej
		}
		env.Key = &k
	case "schema_id":
		if null {
			return nil
		}
		n, err := strconv.Atoi(string(value))
		if err != nil {
			return wrongType("an integer")
		}
		env.SchemaID = &n
	case "routes":
		if null {
			return nil
		}
		if value[0] != '[' {
			return wrongType("an array of route names")
		}
		env.Routes = []string{}
		for _, el := range splitArray(value) {
			r, err := jsonString(el)
			if err != nil {
				return wrongType("an array of route names")
			}
			env.Routes = append(env.Routes, r)
		}
	case "data":
		if !null {
			env.Data = json.RawMessage(value)
		}
	default:
		return reject(ReasonMalformed, key, "malformed event envelope: unknown field %q (known: contract, schema_id, id, key, time, routes, data)", key)
	}
	return nil
}

// jsonString decodes a valid JSON string token. Plain ASCII without escapes (nearly
// every name and id) is copied directly; anything else goes through encoding/json.
func jsonString(tok []byte) (string, error) {
	if len(tok) < 2 || tok[0] != '"' {
		return "", errors.New("not a string")
	}
	inner := tok[1 : len(tok)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(tok, &s)
	return s, err
}
