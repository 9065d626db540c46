package avrojson

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/hamba/avro/v2"
)

func fuzzSchema(f *testing.F) avro.Schema {
	return parseSchema(f, orderSchema)
}

// FuzzValidate feeds arbitrary bytes to Validate against orderSchema (nested records,
// arrays, maps, unions, enum, fixed, logical types). Validate must never panic (an
// out-of-bounds read would), and whatever it accepts hamba/avro must decode, and no
// proper prefix of it may pass (Avro encodings are prefix-free).
func FuzzValidate(f *testing.F) {
	schema := fuzzSchema(f)
	r := rand.New(rand.NewPCG(5, 6))
	docs := []string{orderJSON}
	for range 8 {
		docs = append(docs, randomOrder(r))
	}
	for _, doc := range docs {
		data, err := EncodeJSON(nil, schema, []byte(doc))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(append(bytes.Clone(data), 0))
		var v any
		if err := avro.Unmarshal(schema, data, &v); err != nil {
			f.Fatal(err)
		}
		if hb, err := avro.Marshal(schema, v); err == nil {
			f.Add(hb) // blocks with byte sizes
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Validate(schema, data)
		if err != nil {
			var fe *FieldError
			if !asFieldErrorOK(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		var v any
		if err := avro.Unmarshal(schema, data, &v); err != nil {
			t.Fatalf("Validate accepted %x but hamba fails: %v", data, err)
		}
		if len(data) > 0 && Validate(schema, data[:len(data)-1]) == nil {
			t.Fatalf("Validate accepted %x and its prefix", data)
		}
	})
}

// FuzzEncodeJSON feeds arbitrary text to EncodeJSON against orderSchema. It must never
// panic; whatever it accepts must be valid JSON, pass Validate, decode with hamba, and
// encode the same through Encode on the encoding/json (UseNumber) decoding of the text.
func FuzzEncodeJSON(f *testing.F) {
	schema := fuzzSchema(f)
	r := rand.New(rand.NewPCG(7, 8))
	f.Add([]byte(orderJSON))
	for range 8 {
		f.Add([]byte(randomOrder(r)))
	}
	f.Add([]byte(`{"id":"x"}`))
	f.Add([]byte(`{"id":"\ud83d\ude00","note":{"com.acme.Status":"NEW"},"amount":-0.5e1}`))
	f.Add([]byte(`[1, 2.5e-3, true, null, "s\u0000"]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := EncodeJSON(nil, schema, raw)
		if err != nil {
			var fe *FieldError
			if !asFieldErrorOK(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("EncodeJSON accepted invalid JSON %q", raw)
		}
		if err := Validate(schema, out); err != nil {
			t.Fatalf("EncodeJSON(%q) = %x, which Validate rejects: %v", raw, out, err)
		}
		var got any
		if err := avro.Unmarshal(schema, out, &got); err != nil {
			t.Fatalf("EncodeJSON(%q) = %x, which hamba cannot decode: %v", raw, out, err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", raw, err)
		}
		out2, err := Encode(nil, schema, v)
		if err != nil {
			t.Fatalf("EncodeJSON accepted %q but Encode rejects its decoding: %v", raw, err)
		}
		var got2 any
		if err := avro.Unmarshal(schema, out2, &got2); err != nil {
			t.Fatal(err)
		}
		if !sameValue(got, got2) {
			t.Fatalf("EncodeJSON and Encode differ for %q:\n%#v\n%#v", raw, got, got2)
		}
	})
}

func asFieldErrorOK(err error, fe **FieldError) bool {
	e, ok := err.(*FieldError)
	*fe = e
	return ok
}
