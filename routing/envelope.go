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

// rawEvent is one event's JSON text as split from a request body, not yet checked:
// validity is checked per event, in parallel with the rest of its validation, so one
// broken event in an array is rejected alone. Line is its NDJSON line number (0 when
// the body was one object or an array).
type rawEvent struct {
	Text []byte
	Line int
}

// splitEvents splits a JSON intake body into raw events: one object, an array of
// objects, or NDJSON (one object per line). A body that is none of these — an array
// whose brackets, strings or commas do not line up — is an error for the whole
// request: nothing in it is accepted. Each event's own validity is not checked here.
func splitEvents(body []byte) ([]rawEvent, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("body is empty: send one event, an array of events, or NDJSON")
	}
	if trimmed[0] == '[' {
		events, err := splitArray(trimmed)
		if err != nil {
			return nil, fmt.Errorf("body is not a valid JSON array of events: %w", err)
		}
		return events, nil
	}
	// One (possibly pretty-printed) object, else NDJSON.
	if json.Valid(trimmed) {
		return []rawEvent{{Text: trimmed}}, nil
	}
	var events []rawEvent
	for i, line := range bytes.Split(trimmed, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			events = append(events, rawEvent{Text: line, Line: i + 1})
		}
	}
	return events, nil
}

// splitArray returns the elements of a JSON array as sub-slices of it. It checks the
// array's structure (brackets matched, strings closed, elements separated by commas,
// nothing after the closing bracket) but not the elements' contents.
func splitArray(arr []byte) ([]rawEvent, error) {
	var out []rawEvent
	i := skipSpace(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		i++
	} else {
		for {
			end, err := scanValue(arr, i)
			if err != nil {
				return nil, err
			}
			out = append(out, rawEvent{Text: arr[i:end]})
			i = skipSpace(arr, end)
			if i >= len(arr) {
				return nil, errors.New("the array is not closed")
			}
			if arr[i] == ']' {
				i++
				break
			}
			if arr[i] != ',' {
				return nil, fmt.Errorf("unexpected %q after element %d (offset %d): want ',' or ']'", arr[i], len(out)-1, i)
			}
			i = skipSpace(arr, i+1)
		}
	}
	if i = skipSpace(arr, i); i != len(arr) {
		return nil, fmt.Errorf("unexpected %q after the array (offset %d)", arr[i], i)
	}
	return out, nil
}

// scanValue returns the end of the JSON value starting at b[i], matching brackets and
// skipping strings; a scalar runs to the next delimiter. Contents are not validated.
func scanValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("an element is missing")
	}
	switch b[i] {
	case '"':
		end := skipString(b, i)
		if end > len(b) || end < i+2 || b[end-1] != '"' {
			return 0, fmt.Errorf("the string at offset %d is not closed", i)
		}
		return end, nil
	case '{', '[':
		var closers []byte
		for j := i; j < len(b); j++ {
			switch c := b[j]; c {
			case '"':
				end, err := scanValue(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{':
				closers = append(closers, '}')
			case '[':
				closers = append(closers, ']')
			case '}', ']':
				if c != closers[len(closers)-1] {
					return 0, fmt.Errorf("%q at offset %d does not match its opening bracket", c, j)
				}
				closers = closers[:len(closers)-1]
				if len(closers) == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("the element at offset %d is not closed", i)
	case ',', ']', '}', ':':
		return 0, fmt.Errorf("an element is missing at offset %d", i)
	default:
		end := i
		for end < len(b) && !isDelimiter(b[end]) {
			end++
		}
		return end, nil
	}
}

// arrayElements returns the elements of a valid JSON array, as sub-slices of it.
func arrayElements(arr []byte) []json.RawMessage {
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

// parseEnvelope decodes one event envelope from valid JSON text (prepareJSON checked
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
		for _, el := range arrayElements(value) {
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
